"""The function runs with its execution role, judged by the emulator: least privilege proven by execution,
and the seeds' missing-permission story (each write denied, three receives, the DLQ) as AWS would play it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orderctl.cli import cli
from orderctl.demo import MALFORMED
from orderctl.samples import SEED_ORDER
from sandbox.iam import fetch_ledger, report, role_policies
from sandbox.runner import Sandbox
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, Running, eventually


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as sandbox:
        yield Running(sandbox)


def _role(running: Running) -> tuple[str, str]:
    deployment = running.sandbox.deployment
    assert deployment is not None
    [function] = deployment.functions.values()
    return function.role_arn, function.role_arn.rsplit("/", 1)[-1]


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
    role_arn, role_name = _role(running)
    policies = list(role_policies(running.sandbox.client("iam"), role_name))
    found = report(role_arn, policies, fetch_ledger(running.sandbox.endpoint.url))
    assert found.denied == []
    assert found.unused == []
    shown = _orderctl_iam_report(running, tmp_path)
    assert shown.exit_code == 0, shown.output
    assert "0 unused grant(s)" in shown.output
    assert "0 denied call(s)" in shown.output
    running.sandbox.client("sqs").purge_queue(QueueUrl=running.outputs["deadLetterQueueUrl"])


def test_without_put_item_each_receive_is_denied_and_the_order_is_dead_lettered(
    running: Running, tmp_path: Path
) -> None:
    role_arn, role_name = _role(running)
    iam = running.sandbox.client("iam")
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    granted = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    without = json.loads(json.dumps(granted))
    for statement in without["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:PutItem"]
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(without))
    try:
        order = {**SEED_ORDER, "orderId": "iam-denied"}
        running.publish(order)
        letter: Any = eventually(lambda: running.dead_letter("iam-denied"), timeout=40)
        assert letter.receive_count >= 3
        denials = [a for a in letter.attempts if "AccessDeniedException" in (a.reason or "")]
        assert len(denials) == 3, letter.attempts
        assert (
            f"User: arn:aws:sts::123456789012:assumed-role/{role_name}/sandbox-lambda is not authorized to perform: "
            f"dynamodb:PutItem on resource: {running.outputs['tableArn']}" in (letter.reason or "")
        )
        assert running.stored("iam-denied") is None
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(granted))
    denied = report(role_arn, [json.dumps(granted)], fetch_ledger(running.sandbox.endpoint.url)).denied
    assert [(c.action, c.resource) for c in denied] == [("dynamodb:PutItem", running.outputs["tableArn"])]
    shown = _orderctl_iam_report(running, tmp_path)
    assert shown.exit_code == 1
    assert "1 denied call(s)" in shown.output
    assert "dynamodb:PutItem" in shown.output


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
