"""CloudWatch alarms evaluated in the sandbox, as CloudWatch evaluates them (moto stores alarms, never evaluates).

Every few seconds it publishes the metrics AWS would (AWS/SQS ApproximateNumberOfMessagesVisible and
ApproximateAgeOfOldestMessage per queue, AWS/Lambda Errors per function from the runtime's count of failed
invocations) into the emulator's CloudWatch, then judges each alarm over its own period, statistic,
threshold and evaluation periods, read back with GetMetricStatistics. A state change is set on the alarm
(SetAlarmState, so DescribeAlarms tells its state and since when) and published to its actions as
CloudWatch's alarm JSON message.

`SANDBOX_ALARM_TIME_SCALE` (default 1: real periods) shrinks every period for tests: 0.05 turns a
60 s period into 3 s.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.sqs_attributes import age_of_oldest_message

TIME_SCALE_VARIABLE = "SANDBOX_ALARM_TIME_SCALE"
INITIAL_REASON = "Unchecked: Initial alarm creation"  # what CloudWatch says of an alarm never evaluated

_BREACHES: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def time_scale() -> float:
    raw = os.environ.get(TIME_SCALE_VARIABLE, "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 0 < scale <= 1:
        raise ValueError(f"{TIME_SCALE_VARIABLE}={raw!r}: expected a number in (0, 1], 1 being real periods")
    return scale


def evaluate(alarm: Mapping[str, Any], datapoints: list[float | None]) -> str | None:
    """The state the last `EvaluationPeriods` datapoints (None where missing) put the alarm in, or None to keep it."""
    breaches = _BREACHES[alarm["ComparisonOperator"]]
    missing = alarm.get("TreatMissingData", "missing")
    judged: list[bool] = []
    for value in datapoints:
        if value is not None:
            judged.append(breaches(value, float(alarm["Threshold"])))
        elif missing in ("breaching", "notBreaching"):
            judged.append(missing == "breaching")
    if not judged:
        return None if missing == "ignore" else "INSUFFICIENT_DATA"
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    return "ALARM" if sum(judged) >= needed else "OK"


def alarm_message(alarm: Mapping[str, Any], *, old: str, new: str, reason: str, at: datetime, region: str) -> str:
    """The JSON CloudWatch publishes to an alarm's topic."""
    return json.dumps(
        {
            "AlarmName": alarm["AlarmName"],
            "AlarmDescription": alarm.get("AlarmDescription"),
            "AWSAccountId": alarm["AlarmArn"].split(":")[4],
            "NewStateValue": new,
            "NewStateReason": reason,
            "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
            "Region": region,
            "AlarmArn": alarm["AlarmArn"],
            "OldStateValue": old,
            "Trigger": {
                "MetricName": alarm["MetricName"],
                "Namespace": alarm["Namespace"],
                "StatisticType": "Statistic",
                "Statistic": str(alarm.get("Statistic", "")).upper(),
                "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
                "Period": alarm["Period"],
                "EvaluationPeriods": alarm["EvaluationPeriods"],
                "ComparisonOperator": alarm["ComparisonOperator"],
                "Threshold": alarm["Threshold"],
                "TreatMissingData": alarm.get("TreatMissingData", "missing"),
            },
        }
    )


class AlarmEvaluator:
    """A thread that publishes the emulated metrics and evaluates every alarm."""

    def __init__(
        self,
        client: Callable[[str], Any],
        region: str,
        queue_urls: Mapping[str, str],
        function_errors: Callable[[], Mapping[str, int]],
        scale: float | None = None,
    ) -> None:
        self._cloudwatch, self._sns, self._sqs = client("cloudwatch"), client("sns"), client("sqs")
        self._region = region
        self._queue_urls = dict(queue_urls)  # queue name -> URL
        self._function_errors = function_errors
        self._reported_errors: dict[str, int] = {}
        self.scale = time_scale() if scale is None else scale
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-evaluator", daemon=True)

    def start(self) -> AlarmEvaluator:
        for alarm in self._alarms():  # as on AWS, a new alarm has no state until first evaluated
            self._cloudwatch.set_alarm_state(
                AlarmName=alarm["AlarmName"], StateValue="INSUFFICIENT_DATA", StateReason=INITIAL_REASON
            )
        self._thread.start()
        return self

    def watch_queues(self, queue_urls: Mapping[str, str]) -> None:
        """The queues whose metrics it publishes, after an update created or deleted some (queue name -> URL)."""
        self._queue_urls = dict(queue_urls)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _alarms(self) -> list[dict[str, Any]]:
        return list(self._cloudwatch.describe_alarms()["MetricAlarms"])

    def _run(self) -> None:
        tick = max(0.5, 60 * self.scale / 4)  # CloudWatch samples SQS each minute; a few samples per period
        while not self._stop.wait(tick):
            try:
                self.publish_metrics()
                self.evaluate_all()
            except Exception:  # noqa: BLE001 (the emulator stopping under us; the next tick retries)
                continue

    def publish_metrics(self) -> None:
        for name, url in self._queue_urls.items():
            depth = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            self._put("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name,
                      float(depth["Attributes"]["ApproximateNumberOfMessages"]))  # fmt: skip
            account = url.rstrip("/").rsplit("/", 2)[-2]
            self._put("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", name,
                      age_of_oldest_message(account, self._region, name))  # fmt: skip
        for function, total in self._function_errors().items():
            new = total - self._reported_errors.get(function, 0)
            self._reported_errors[function] = total
            self._put("AWS/Lambda", "Errors", "FunctionName", function, float(new))

    def _put(self, namespace: str, metric: str, dimension: str, value_of: str, value: float) -> None:
        self._cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": metric, "Dimensions": [{"Name": dimension, "Value": value_of}], "Value": value}],
        )

    def evaluate_all(self) -> None:
        for alarm in self._alarms():
            self._evaluate(alarm)

    def _evaluate(self, alarm: dict[str, Any]) -> None:
        period = max(1, round(int(alarm["Period"]) * self.scale))
        periods = int(alarm["EvaluationPeriods"])
        now = datetime.now(UTC)
        statistic = alarm["Statistic"]
        points = self._cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=now - timedelta(seconds=period * periods),
            EndTime=now,
            Period=period,
            Statistics=[statistic],
        )["Datapoints"]
        values: list[float | None] = [float(p[statistic]) for p in sorted(points, key=lambda p: p["Timestamp"])]
        values = ([None] * (periods - len(values)) + values)[-periods:]
        new = evaluate(alarm, values)
        old = alarm["StateValue"]
        if new is None or new == old:
            return
        shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
        reason = (
            f"Threshold Crossed: {periods} datapoint(s) [{shown}] were evaluated against "
            f"{alarm['ComparisonOperator']} {alarm['Threshold']:g} ({alarm['Period']} s periods)"
        )
        self._cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=new, StateReason=reason)
        actions = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[new]
        for topic in alarm.get(actions, []):
            self._sns.publish(
                TopicArn=topic,
                Message=alarm_message(alarm, old=old, new=new, reason=reason, at=now, region=self._region),
            )
