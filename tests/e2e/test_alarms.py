"""Alarms evaluated in the sandbox from emulated metrics, with the program's own periods (scaled down here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from orderctl.demo import MALFORMED
from orderctl.pipeline import alarm_state
from sandbox.alarms import TIME_SCALE_VARIABLE
from sandbox.environment import ExecutionEnvironment
from sandbox.runner import Sandbox
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, Running, eventually

CRASH = "alarm-crash"


def _crash(_number: int, environment: ExecutionEnvironment) -> None:
    """A fault: every invocation's environment dies 50 ms in, so each fails whole (Runtime.ExitError), as
    a crashed Lambda environment fails its batch and counts in the function's Errors."""
    threading.Timer(0.05, environment.kill).start()


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_VARIABLE, "0.05")  # 60 s periods last 3 s
        with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES, before_invoke=_crash) as sandbox:
            yield Running(sandbox)


def _alarms(running: Running) -> dict[str, dict[str, Any]]:
    """The order DLQ's depth alarm and the function's errors alarm, by metric (the subscription DLQ's depth
    alarm shares the metric, and the backlog alarm watches the queue: both are tested elsewhere)."""
    found = running.sandbox.client("cloudwatch").describe_alarms()["MetricAlarms"]
    dlq = running.outputs["deadLetterQueueUrl"].rsplit("/", 1)[-1]
    return {
        a["MetricName"]: a
        for a in found
        if a["MetricName"] == "Errors"
        or (a["MetricName"] == "ApproximateNumberOfMessagesVisible" and a["Dimensions"][0]["Value"] == dlq)
    }


def test_a_dead_letter_and_failed_invocations_raise_both_alarms_and_publish_each_change(running: Running) -> None:
    sqs, sns = running.sandbox.client("sqs"), running.sandbox.client("sns")
    topic = running.outputs["alarmTopicArn"]
    inbox = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    allow = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": inbox_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ]
    }
    sqs.set_queue_attributes(QueueUrl=inbox, Attributes={"Policy": json.dumps(allow)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    assert {alarm_state(a) for a in _alarms(running).values()} <= {"not evaluated", "OK"}

    running.publish(MALFORMED, {"orderId": CRASH})  # each invocation crashes: Errors, then both dead-lettered
    # Errors goes back to OK once both messages are dead-lettered (no more invocations): each alarm must be
    # seen in ALARM, not both at once.
    in_alarm: dict[str, dict[str, Any]] = {}

    def each_seen_in_alarm() -> bool:
        in_alarm.update({name: a for name, a in _alarms(running).items() if a["StateValue"] == "ALARM"})
        return len(in_alarm) == 2

    eventually(each_seen_in_alarm, timeout=60, interval=0.5)
    alarms = in_alarm
    assert alarm_state(alarms["Errors"]).startswith("ALARM since ")

    def notices() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    seen: list[dict[str, Any]] = []

    def both_alarm_notices() -> bool:
        seen.extend(notices())
        return len([n for n in seen if n["NewStateValue"] == "ALARM"]) >= 2

    eventually(both_alarm_notices)
    names = {n["AlarmName"] for n in seen if n["NewStateValue"] == "ALARM"}
    assert names == {a["AlarmName"] for a in alarms.values()}
    assert all(n["Trigger"]["Period"] == 60 and n["Trigger"]["EvaluationPeriods"] == 1 for n in seen)

    eventually(lambda: running.dead_letter(CRASH), timeout=30)
    sqs.purge_queue(QueueUrl=running.outputs["deadLetterQueueUrl"])
    eventually(lambda: _alarms(running)["ApproximateNumberOfMessagesVisible"]["StateValue"] == "OK", timeout=30)
