"""What SNS cannot deliver lands in the subscription's DLQ, with the reason SNS logs, and nothing is dropped
silently; with the event source mapping disabled, the backlog alarm fires while the DLQ alarms stay OK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from contract.resource_types import TOPIC
from orderctl.cli import cli
from orderctl.pipeline import NO_DELIVERY_REASON, SUBSCRIPTION_DLQ
from sandbox.alarms import TIME_SCALE_VARIABLE
from sandbox.iam import fetch_ledger, report, role_policies
from sandbox.runner import Sandbox
from sandbox.sns_delivery import FAILED_METRIC, FAILED_TO_REDRIVE_METRIC, REDRIVEN_METRIC
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, Running, eventually

# The seeds' order (REFERENCE.md), as their users publish it.
SEEDS_ORDER = {
    "orderId": "1001",
    "userId": "u-42",
    "itemName": "Keyboard",
    "quantity": 2,
    "status": "NEW",
    "timestamp": "2026-11-22T10:00:00Z",
}
BACKLOG_SECONDS = 5


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_VARIABLE, "0.05")  # 60 s periods last 3 s
        overrides = {**E2E_OVERRIDES, "backlogAgeAlarmSeconds": str(BACKLOG_SECONDS)}
        with Sandbox(PROJECT_DIR, "dev", overrides) as sandbox:
            yield Running(sandbox)


def _sns_count(running: Running, metric: str) -> int:
    topic = running.outputs["topicArn"].rsplit(":", 1)[-1]
    points = running.sandbox.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SNS",
        MetricName=metric,
        Dimensions=[{"Name": "TopicName", "Value": topic}],
        StartTime=time.time() - 3600,
        EndTime=time.time() + 60,
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return int(sum(p["Sum"] for p in points))


def _delivery_status_role(running: Running) -> tuple[str, str]:
    """(ARN, name) of the role the shipped program names as the order topic's SQSFailureFeedbackRoleArn."""
    deployment = running.sandbox.deployment
    assert deployment is not None
    [topic] = [r for r in deployment.resources if r.type == TOPIC and r.state["arn"] == running.outputs["topicArn"]]
    role_arn = str(topic.inputs["sqsFailureFeedbackRoleArn"])
    return role_arn, role_arn.rsplit("/", 1)[-1]


def _refusing_sns(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """A queue policy as an operator might tighten it: SNS denied outright."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def test_a_queue_policy_refusing_sns_puts_the_seeds_order_in_the_subscription_dlq_with_snss_reason(
    running: Running, tmp_path: Path
) -> None:
    sqs = running.sandbox.client("sqs")
    queue_url, topic = running.outputs["queueUrl"], running.outputs["topicArn"]
    # The program as shipped: nothing here turns delivery status logging on; the deployed topic has it.
    role_arn, role_name = _delivery_status_role(running)
    granted = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    refusing = _refusing_sns(running.outputs["queueArn"], topic)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(refusing)})
    try:
        running.publish(SEEDS_ORDER)

        def seeds_order_dead_lettered() -> Any:
            letters = running.pipeline.dead_letters(SUBSCRIPTION_DLQ)
            return next((d for d in letters if '"orderId": "1001"' in d.order_text), None)

        letter = eventually(seeds_order_dead_lettered, timeout=20)
    finally:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": granted})

    assert letter.reason is not None
    assert "AccessDenied" in letter.reason
    assert f"{running.outputs['queueArn'].rsplit(':', 1)[-1]} is denied" in letter.reason
    assert (_sns_count(running, FAILED_METRIC), _sns_count(running, REDRIVEN_METRIC)) == (1, 1)
    assert _sns_count(running, FAILED_TO_REDRIVE_METRIC) == 0
    assert running.stored("1001") is None  # nothing reached the queue
    # SNS wrote the reason as the topic's delivery status role, judged like any other role: it used each of its
    # grants (the log group, its stream, the record) and was refused nothing.
    policies = list(role_policies(running.sandbox.client("iam"), role_name))
    found = report(role_arn, policies, fetch_ledger(running.sandbox.endpoint.url))
    assert found.least_privilege, found

    # The operator's view: `orderctl dlq list --source subscription` names the order and SNS's reason.
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({**running.outputs, "endpoint": running.sandbox.endpoint.url}))
    listed = CliRunner().invoke(
        cli, ["dlq", "list", "--source", "subscription", "--json", "--outputs", str(outputs)], catch_exceptions=False
    )
    assert listed.exit_code == 0, listed.output
    [shown] = [m for m in json.loads(listed.output) if '"orderId": "1001"' in m["order"]]
    assert shown["source"] == "subscription"
    assert "AccessDenied" in shown["reason"]

    # The body is what SNS would have delivered: redriven to the order queue, the processor stores it.
    redrive = CliRunner().invoke(
        cli, ["dlq", "redrive", "--source", "subscription", "--outputs", str(outputs)], catch_exceptions=False
    )
    assert redrive.exit_code == 0, redrive.output
    assert eventually(lambda: running.stored("1001"), timeout=20)["quantity"] == 2
    assert running.pipeline.depths().subscription_dlq == 0


def test_without_its_grant_the_delivery_status_role_logs_no_reason(running: Running) -> None:
    sqs, iam = running.sandbox.client("sqs"), running.sandbox.client("iam")
    queue_url, topic = running.outputs["queueUrl"], running.outputs["topicArn"]
    role_arn, role_name = _delivery_status_role(running)
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    granted = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    since = time.time()
    iam.delete_role_policy(RoleName=role_name, PolicyName=policy_name)
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(_refusing_sns(running.outputs["queueArn"], topic))}
    )
    try:
        running.publish({**SEEDS_ORDER, "orderId": "unlogged-1"})

        def dead_lettered() -> Any:
            letters = running.pipeline.dead_letters(SUBSCRIPTION_DLQ)
            return next((d for d in letters if "unlogged-1" in d.order_text), None)

        letter = eventually(dead_lettered, timeout=20)
    finally:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": granted})
        iam.put_role_policy(
            RoleName=role_name,
            PolicyName=policy_name,
            PolicyDocument=document if isinstance(document, str) else json.dumps(document),
        )
    assert (letter.attempts, letter.reason) == ([], NO_DELIVERY_REASON)  # kept, but SNS could not say why
    denied = [c for c in fetch_ledger(running.sandbox.endpoint.url) if c.role_arn == role_arn and c.at >= since]
    # its first call refused (CreateLogGroup, or CreateLogStream once an earlier failure made the group), no more
    [(action, allowed)] = [(c.action, c.allowed) for c in denied]
    assert action in ("logs:CreateLogGroup", "logs:CreateLogStream")
    assert not allowed
    running.sandbox.client("sqs").purge_queue(QueueUrl=running.outputs["subscriptionDeadLetterQueueUrl"])


def test_without_the_dlq_policy_an_undeliverable_order_is_counted_as_lost(running: Running) -> None:
    sqs = running.sandbox.client("sqs")
    queue_url, dlq_url = running.outputs["queueUrl"], running.outputs["subscriptionDeadLetterQueueUrl"]
    topic = running.outputs["topicArn"]
    queue_policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    dlq_policy = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    before = _sns_count(running, FAILED_TO_REDRIVE_METRIC)
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(_refusing_sns(running.outputs["queueArn"], topic))}
    )
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": ""})
    try:
        running.publish({**SEEDS_ORDER, "orderId": "lost-1"})
        eventually(lambda: _sns_count(running, FAILED_TO_REDRIVE_METRIC) == before + 1, timeout=10)
    finally:
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": queue_policy})
        sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": dlq_policy})
    assert not any("lost-1" in d.order_text for d in running.pipeline.dead_letters(SUBSCRIPTION_DLQ))


def _alarm_states(running: Running) -> dict[str, str]:
    found = running.sandbox.client("cloudwatch").describe_alarms()["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in found}


def _state_of(running: Running, suffix: str) -> str:
    [state] = [s for name, s in _alarm_states(running).items() if name.startswith(f"orders-{suffix}")]
    return state


def test_a_disabled_event_source_mapping_raises_the_backlog_alarm_and_not_the_dlq_alarms(running: Running) -> None:
    lambda_ = running.sandbox.client("lambda")
    [mapping] = lambda_.list_event_source_mappings(FunctionName=running.outputs["functionName"])["EventSourceMappings"]
    assert mapping["State"] == "Enabled"
    assert lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)["State"] == "Disabling"
    assert lambda_.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
    time.sleep(2)  # a long poll already under way (1 s) may still take what comes, as Lambda's may while Disabling
    try:
        running.publish(*({**SEEDS_ORDER, "orderId": f"backlog-{n}"} for n in range(3)))
        eventually(lambda: _state_of(running, "backlog-age") == "ALARM", timeout=40, interval=0.5)
        assert running.stored("backlog-0") is None  # nothing consumed while disabled
        assert _state_of(running, "dlq-depth") == "OK"
        assert _state_of(running, "subscription-dlq-depth") == "OK"
    finally:
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    eventually(lambda: all(running.stored(f"backlog-{n}") for n in range(3)), timeout=30)
    eventually(lambda: _state_of(running, "backlog-age") == "OK", timeout=30, interval=0.5)
