"""The function runs with its execution role, judged by the emulator: least privilege proven by execution,
and the seeds' missing-permission story (each write denied, three receives, the DLQ) as AWS would play it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from contract.permissions import LOG_ACTIONS, QUEUE_ACTIONS, TABLE_ACTIONS
from orderctl.cli import cli
from orderctl.demo import MALFORMED
from orderctl.samples import SEED_ORDER
from sandbox.deploy import SQS_POLL_ACTIONS
from sandbox.iam import fetch_ledger, report, role_policies
from sandbox.runner import Sandbox
from tests.e2e.conftest import (
    E2E_OVERRIDES,
    PROJECT_DIR,
    Running,
    denied_calls,
    eventually,
    expected_denial,
    role_of,
    without_grant,
)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as sandbox:
        yield Running(sandbox)


def _orderctl_iam_report(running: Running, tmp_path: Path) -> Any:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**running.outputs, "endpoint": running.sandbox.endpoint.url}))
    return CliRunner().invoke(cli, ["iam", "report", "--outputs", str(outputs)], terminal_width=200)


def test_the_role_grants_exactly_what_the_demo_workload_uses(running: Running, tmp_path: Path) -> None:
    conflicting = {**SEED_ORDER, "orderId": "iam-conflict"}
    running.publish(SEED_ORDER, conflicting)
    eventually(lambda: running.stored("1001") and running.stored("iam-conflict"))
    # a duplicate (GetItem to compare), a conflict (ChangeMessageVisibility to dead-letter it now), a malformed order
    running.publish(SEED_ORDER, {**conflicting, "quantity": 9}, MALFORMED)
    eventually(lambda: running.pipeline.depths().dlq >= 2 and running.sandbox.in_flight() == 0, timeout=40)
    running.sandbox.flush_logs()
    role_arn, role_name = role_of(running)
    policies = list(role_policies(running.sandbox.client("iam"), role_name))
    found = report(role_arn, policies, fetch_ledger(running.sandbox.endpoint.url))
    assert found.denied == []
    assert found.unused == []
    shown = _orderctl_iam_report(running, tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "0 unused grant(s)" in shown.output
    assert "0 denied call(s)" in shown.output
    running.sandbox.client("sqs").purge_queue(QueueUrl=running.outputs["deadLetterQueueUrl"])


# How AWS fails a program whose role lacks one granted action; each way has its test below or, for the mapping,
# in test_deploy_guards.py. A new grant without a line here fails the first test.
DEAD_LETTERED, MAPPING_REFUSED, DLQ_LATER, LINES_LOST = "dead-lettered", "mapping refused", "DLQ later", "lines lost"
HOW_AWS_FAILS = {
    "dynamodb:PutItem": DEAD_LETTERED,  # every write denied
    "dynamodb:GetItem": DEAD_LETTERED,  # a duplicate cannot be told from a conflict
    "sqs:ReceiveMessage": MAPPING_REFUSED,
    "sqs:DeleteMessage": MAPPING_REFUSED,
    "sqs:GetQueueAttributes": MAPPING_REFUSED,
    "sqs:ChangeMessageVisibility": DLQ_LATER,  # a rejected order waits out each visibility timeout
    "logs:CreateLogStream": LINES_LOST,  # the function works; Lambda cannot write its logs
    "logs:PutLogEvents": LINES_LOST,
}


def test_every_granted_action_has_a_variant_that_fails_without_it() -> None:
    assert set(HOW_AWS_FAILS) == {*TABLE_ACTIONS, *QUEUE_ACTIONS, *LOG_ACTIONS}
    refused = {action for action, how in HOW_AWS_FAILS.items() if how == MAPPING_REFUSED}
    assert refused == {f"sqs:{name}" for name in SQS_POLL_ACTIONS}


def test_without_put_item_each_receive_is_denied_and_the_order_is_dead_lettered(
    running: Running, tmp_path: Path
) -> None:
    _, role_name = role_of(running)
    since = time.time()
    with without_grant(running, "dynamodb:PutItem"):
        order = {**SEED_ORDER, "orderId": "iam-denied"}
        running.publish(order)
        letter: Any = eventually(lambda: running.dead_letter("iam-denied"), timeout=40)
        assert letter.receive_count >= 3
        denials = [a for a in letter.attempts if "AccessDeniedException" in (a.reason or "")]
        assert len(denials) == 3, letter.attempts
        assert expected_denial(role_name, "dynamodb:PutItem", running.outputs["tableArn"]) in (letter.reason or "")
        assert running.stored("iam-denied") is None
    assert denied_calls(running, since) == [("dynamodb:PutItem", running.outputs["tableArn"])]
    shown = _orderctl_iam_report(running, tmp_path)
    assert shown.exit_code == 1
    assert "1 denied call(s)" in shown.output
    assert "dynamodb:PutItem" in shown.output


def test_without_get_item_a_duplicate_cannot_be_compared_and_is_dead_lettered(running: Running) -> None:
    _, role_name = role_of(running)
    order = {**SEED_ORDER, "orderId": "iam-no-get-item"}
    running.publish(order)
    eventually(lambda: running.stored("iam-no-get-item"))
    since = time.time()
    with without_grant(running, "dynamodb:GetItem"):
        running.publish(order)  # the same order again: its write is refused, and only GetItem can tell why
        letter: Any = eventually(lambda: running.dead_letter("iam-no-get-item"), timeout=40)
        denials = [a for a in letter.attempts if "AccessDeniedException" in (a.reason or "")]
        assert len(denials) == 3, letter.attempts
        assert expected_denial(role_name, "dynamodb:GetItem", running.outputs["tableArn"]) in (letter.reason or "")
    assert denied_calls(running, since) == [("dynamodb:GetItem", running.outputs["tableArn"])]


def test_without_change_message_visibility_a_rejected_order_waits_out_its_timeouts(running: Running) -> None:
    _, role_name = role_of(running)
    since = time.time()
    with without_grant(running, "sqs:ChangeMessageVisibility"):
        running.publish({**SEED_ORDER, "orderId": "iam-no-visibility", "quantity": "two"})
        letter: Any = eventually(lambda: running.dead_letter("iam-no-visibility"), timeout=40)
        # Still dead-lettered, as on AWS, but only after each receive's visibility timeout ran out.
        assert letter.receive_count >= 3
        assert "invalid order" in (letter.reason or "")
        warnings = [
            line["message"] for line in running.log_lines(level="WARN") if "could not expedite" in line["message"]
        ]
        queue_denial = expected_denial(role_name, "sqs:changemessagevisibility", running.outputs["queueArn"])
        assert warnings
        assert all(queue_denial in warning for warning in warnings), warnings
    assert set(denied_calls(running, since)) == {("sqs:ChangeMessageVisibility", running.outputs["queueArn"])}


def test_a_queue_policy_naming_another_topic_gets_no_deliveries_and_status_shows_the_failure(
    running: Running, tmp_path: Path
) -> None:
    sqs, queue_url = running.sandbox.client("sqs"), running.outputs["queueUrl"]
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    other_topic = running.outputs["topicArn"] + "-other"
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": policy.replace(running.outputs["topicArn"], other_topic)}
    )
    try:
        failed_before = running.pipeline.failed_deliveries()
        running.publish({**SEED_ORDER, "orderId": "iam-undelivered"})
        eventually(lambda: running.pipeline.failed_deliveries() == failed_before + 1)
        assert running.pipeline.depths().queue == 0
        assert running.stored("iam-undelivered") is None
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({**running.outputs, "endpoint": running.sandbox.endpoint.url}))
        shown = CliRunner().invoke(cli, ["status", "--outputs", str(outputs)], terminal_width=200)
        assert re.search(rf"SNS deliveries failed, 24 h\s+│ {failed_before + 1} ", shown.output), shown.output
    finally:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": policy})
    running.publish({**SEED_ORDER, "orderId": "iam-delivered"})
    eventually(lambda: running.stored("iam-delivered"))
