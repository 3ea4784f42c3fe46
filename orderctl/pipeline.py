"""Operations on a running pipeline, through its stack outputs: publish, look up, inspect and redrive the DLQ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from contract import outputs
from handler.envelope import unwrap
from handler.order import InvalidOrder
from orderctl.target import Target
from sandbox.logs import FunctionFailure, function_failures, is_cold_start_report
from sandbox.telemetry import DELETE_FAILURES_METRIC, METRICS_NAMESPACE, RECEIVE_ERRORS_METRIC

_deserialize = TypeDeserializer().deserialize
SQS_BATCH = 10
SNS_BATCH = 10
Progress = Callable[[int], None]  # called with how many more are done


def item_to_order(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserialize(value) for name, value in item.items()}


def _moment(milliseconds: str | int | None) -> datetime | None:
    return datetime.fromtimestamp(int(milliseconds) / 1000, tz=UTC) if milliseconds else None


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime | None
    failure: str  # permanent or transient (the processor's), function (the invocation failed), delivery (SNS's)
    reason: str


FUNCTION_FAILURE = "function"
# Clocks: SQS's receive timestamps and CloudWatch Logs' event timestamps come from different hosts.
CLOCK_MARGIN_MS = 1_000
# The longest an invocation can end after its batch's first receive: a 5-minute batching window, a
# 10-second init, Lambda's 15-minute timeout.
LONGEST_INVOCATION_MS = (300 + 10 + 900) * 1_000


def _ms(at: datetime | None) -> int | None:
    return int(at.timestamp() * 1000) if at else None


def with_function_failures(
    logged: list[Attempt],
    first_receive_ms: int | None,
    receives: int,
    visibility_ms: int,
    failures: list[FunctionFailure],
) -> list[Attempt]:
    """The message's attempts: the processor's logged ones, and for each receive it logged nothing for, the
    invocation that failed as a whole (the function's import, a timeout, a crash), found by time.

    On AWS nothing records which invocation received a message: the event source mapping logs nothing,
    and a function that failed before or around the handler never logs the message id. What is known is
    when the message was first received (SQS's ApproximateFirstReceiveTimestamp) and that each receive
    comes after the last one's visibility timeout. So receive k's invocation is taken to be the first
    failed invocation in the function's log group that ended
      - at or after the first receive, and no later than the longest an invocation can take after it
        (for receive 1);
      - after the previous receive's attempt (no invocation is counted twice);
      - at or after first receive + (k - 1) x the queue's visibility timeout, while every earlier receive
        was a function-level failure too (nothing could have shortened the visibility);
      - before the processor's logged attempt of a later receive, if any.
    The margin for clocks is a second. Where several batches fail at once (a broken deploy fails every
    invocation), the invocation found may be another batch's, failing the same way."""
    by_number = {attempt.number: attempt for attempt in logged}
    found = list(logged)
    if first_receive_ms is None:
        return found
    chosen_ms: int | None = None
    all_function = True
    used: set[int] = set()
    for number in range(1, receives + 1):
        if number in by_number:
            chosen_ms = _ms(by_number[number].at) or chosen_ms
            all_function = False
            continue
        lower = first_receive_ms - CLOCK_MARGIN_MS
        if all_function:
            lower += (number - 1) * visibility_ms
        later = [at for a in logged if a.number > number and (at := _ms(a.at)) is not None]
        upper = min(later) if later else None
        if chosen_ms is None:
            ceiling = first_receive_ms + LONGEST_INVOCATION_MS + CLOCK_MARGIN_MS
            upper = ceiling if upper is None else min(upper, ceiling)
        match = next(
            (
                (index, failure)
                for index, failure in enumerate(failures)
                if index not in used
                and failure.at_ms >= lower
                and (chosen_ms is None or failure.at_ms > chosen_ms)
                and (upper is None or failure.at_ms <= upper)
            ),
            None,
        )
        if match is None:
            continue
        used.add(match[0])
        chosen_ms = match[1].at_ms
        found.append(Attempt(number, _moment(chosen_ms), FUNCTION_FAILURE, match[1].reason))
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda a: (a.number, a.at or earliest))


ORDER_DLQ = "order"
SUBSCRIPTION_DLQ = "subscription"
DLQ_SOURCES = (ORDER_DLQ, SUBSCRIPTION_DLQ)
# Where each DLQ is, in the stack outputs: the order queue's (SQS moves an order there after maxReceiveCount
# receives) and the SNS subscription's (SNS moves an order there that it could not deliver to the queue).
_DLQ_OUTPUTS = {
    ORDER_DLQ: (outputs.DEAD_LETTER_QUEUE_URL, outputs.DEAD_LETTER_QUEUE_ARN),
    SUBSCRIPTION_DLQ: (outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_URL, outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_ARN),
}
NO_FAILURE_LOGGED = (
    "no failure logged for its receives, by the processor or by Lambda: the processor logs its failures at WARN, "
    "which an application log level of ERROR drops, and a role that cannot write its logs loses them all"
)
NO_DELIVERY_REASON = (
    "SNS could not deliver it to the order queue; SNS puts no reason in the message: it logs one only if the "
    "topic has delivery status logging for SQS (SQSFailureFeedbackRoleArn), and none was found"
)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    order_text: str  # the order, out of its SNS envelope when it had one
    receive_count: int  # as SQS reports it, counting the receives that listed it here
    sent_at: datetime | None
    attempts: list[Attempt]  # the processor's failure lines (or SNS's failed delivery) for this message, oldest first
    source: str = ORDER_DLQ  # which DLQ holds it

    @property
    def reason(self) -> str:
        if self.attempts:
            return self.attempts[-1].reason
        return NO_DELIVERY_REASON if self.source == SUBSCRIPTION_DLQ else NO_FAILURE_LOGGED


@dataclass(frozen=True)
class Depths:
    queue_visible: int
    queue_in_flight: int
    dlq_visible: int
    dlq_in_flight: int
    subscription_dlq_visible: int  # what SNS could not deliver (0 for a stack without that DLQ)
    subscription_dlq_in_flight: int

    @property
    def queue(self) -> int:
        return self.queue_visible + self.queue_in_flight

    @property
    def dlq(self) -> int:
        return self.dlq_visible + self.dlq_in_flight

    @property
    def subscription_dlq(self) -> int:
        return self.subscription_dlq_visible + self.subscription_dlq_in_flight


@dataclass(frozen=True)
class Status(Depths):
    table_items: int
    alarms: list[tuple[str, str]]  # (name, state)


@dataclass(frozen=True)
class Redrive:
    method: str  # "StartMessageMoveTask" or "receive, send, delete"
    moved: int | None  # None: the service moves them in the background
    failed: int = 0


def sns_failure_log_group(topic_arn: str) -> str:
    """Where SNS logs a topic's failed deliveries when delivery status logging is on ("Amazon SNS message
    delivery status"): sns/<region>/<account>/<topic>/Failure."""
    _, _, _, region, account, topic = topic_arn.split(":")
    return f"sns/{region}/{account}/{topic}/Failure"


def _sns_keys(body: str) -> tuple[str, str]:
    """What ties a message in the subscription DLQ to SNS's delivery log record: the SNS MessageId of its
    envelope ("" with raw delivery), and the MD5 of the message SNS was given (the log's messageMD5Sum)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if (
        isinstance(envelope, dict)
        and envelope.get("Type") == "Notification"
        and isinstance(envelope.get("Message"), str)
    ):
        message = envelope["Message"]
        return str(envelope.get("MessageId", "")), hashlib.md5(message.encode()).hexdigest()
    return "", hashlib.md5(body.encode()).hexdigest()


def _order_text(body: str) -> str:
    """The order out of its SNS envelope, found as the processor finds it; the body itself otherwise."""
    try:
        return unwrap(body, "", {}).order_text
    except InvalidOrder:  # an envelope without a string Message: show what was dead-lettered
        return body


# What AWS (and the sandbox's emulator) answer for an operation the service does not offer.
UNSUPPORTED_CODES = frozenset({"UnsupportedOperation", "InvalidAction"})


def _unsupported(error: ClientError) -> bool:
    """The service lacks the action, as opposed to a refusal or a failure (a 5xx is retried by the SDK's
    standard retry mode, then reported: it may have started a task, so moving by hand could double it)."""
    return error.response.get("Error", {}).get("Code", "") in UNSUPPORTED_CODES


class Pipeline:
    def __init__(self, target: Target) -> None:
        self.target = target
        self._clients: dict[str, Any] = {}
        self._sqs = self._client("sqs")

    def _client(self, service: str) -> Any:
        """One client per service for the pipeline's life: status loops call it several times a second."""
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    # publishing

    def publish(self, bodies: Iterable[str], progress: Progress | None = None) -> list[str]:
        """Publishes each body to the order topic as is, ten per call; returns the SNS message ids."""
        sns = self._client("sns")
        topic = self.target.output(outputs.TOPIC_ARN)
        message_ids: list[str] = []
        chunk: list[str] = []
        for body in [*bodies, None]:
            if body is not None:
                chunk.append(body)
            if chunk and (body is None or len(chunk) == SNS_BATCH):
                entries = [{"Id": str(i), "Message": text} for i, text in enumerate(chunk)]
                answer = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
                if answer.get("Failed"):
                    failure = answer["Failed"][0]
                    raise ClientError(
                        {"Error": {"Code": failure["Code"], "Message": failure.get("Message", "")}}, "PublishBatch"
                    )
                message_ids.extend(
                    entry["MessageId"] for entry in sorted(answer["Successful"], key=lambda e: int(e["Id"]))
                )
                if progress:
                    progress(len(chunk))
                chunk = []
        return message_ids

    # the table

    def order(self, order_id: str) -> dict[str, Any] | None:
        item = (
            self._client("dynamodb")
            .get_item(
                TableName=self.target.output(outputs.TABLE_NAME), Key={"orderId": {"S": order_id}}, ConsistentRead=True
            )
            .get("Item")
        )
        return item_to_order(item) if item else None

    def orders(self, limit: int | None = None) -> list[dict[str, Any]]:
        dynamodb = self._client("dynamodb")
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.target.output(outputs.TABLE_NAME)}
        while limit is None or len(found) < limit:
            if limit is not None:
                request["Limit"] = limit - len(found)
            page = dynamodb.scan(**request)
            found.extend(item_to_order(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found

    def order_count(self) -> int:
        """How many orders the table holds, counted (DescribeTable's ItemCount lags by hours on AWS)."""
        dynamodb = self._client("dynamodb")
        request: dict[str, Any] = {"TableName": self.target.output(outputs.TABLE_NAME), "Select": "COUNT"}
        count = 0
        while True:
            page = dynamodb.scan(**request)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # the dead-letter queue

    def dlq_url(self, source: str = ORDER_DLQ) -> str:
        return self.target.output(_DLQ_OUTPUTS[source][0])

    def dead_letters(self, source: str = ORDER_DLQ) -> list[DeadLetter]:
        """Everything in the DLQ, each with the processor's logged attempts (the order DLQ) or SNS's failed
        delivery (the subscription DLQ, from the topic's delivery status log); the messages stay where they are."""
        url = self.dlq_url(source)
        seen: dict[str, dict[str, Any]] = {}
        while messages := self._sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=SQS_BATCH, VisibilityTimeout=30, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages"):
            seen.update({message["MessageId"]: message for message in messages})
        self._make_visible(url, list(seen.values()))
        sent = [int(m["Attributes"]["SentTimestamp"]) for m in seen.values() if "SentTimestamp" in m["Attributes"]]
        # A message fails only after it is sent; a minute's margin covers clocks that disagree.
        since = min(sent) - 60_000 if sent else None
        if source == SUBSCRIPTION_DLQ:
            attempts = self.delivery_failures({m["MessageId"]: m["Body"] for m in seen.values()}, since_ms=since)
        else:
            attempts = self.attempts(set(seen), since_ms=since)
            attempts = self._with_function_failures(attempts, list(seen.values()), since)
        return [
            DeadLetter(
                message_id=message["MessageId"],
                order_text=_order_text(message["Body"]),
                receive_count=int(message["Attributes"].get("ApproximateReceiveCount", 0)),
                sent_at=_moment(message["Attributes"].get("SentTimestamp")),
                attempts=attempts.get(message["MessageId"], []),
                source=source,
            )
            for message in seen.values()
        ]

    def delivery_failures(self, bodies: dict[str, str], since_ms: int | None = None) -> dict[str, list[Attempt]]:
        """SNS's failed delivery of each message in the subscription DLQ (by its SQS message id), from the
        topic's delivery status log: SQS's ErrorCode and ErrorMessage as SNS recorded them. SNS writes that
        log only if the topic has delivery status logging for SQS; without it, no message has a reason."""
        wanted = {key: message_id for message_id, body in bodies.items() for key in _sns_keys(body) if key}
        request: dict[str, Any] = {"logGroupName": sns_failure_log_group(self.target.output(outputs.TOPIC_ARN))}
        if since_ms is not None:
            request["startTime"] = since_ms
        found: dict[str, list[Attempt]] = {}
        logs = self._client("logs")
        while wanted:
            try:
                page = logs.filter_log_events(**request)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    break  # no delivery status log: SNS kept no reasons
                raise
            for event in page.get("events", []):
                try:
                    record = json.loads(event["message"])
                    notification, delivery = record["notification"], record["delivery"]
                    response = json.loads(delivery.get("providerResponse") or "{}")
                except (ValueError, KeyError, TypeError):
                    continue
                message_id = wanted.get(notification.get("messageId", "")) or wanted.get(
                    notification.get("messageMD5Sum", "")
                )
                if message_id is None:
                    continue
                reason = f"SNS delivery failed ({delivery.get('statusCode')}): {response.get('ErrorCode')}: " + str(
                    response.get("ErrorMessage")
                )
                found[message_id] = [Attempt(1, _moment(event["timestamp"]), "delivery", reason)]
            if "nextToken" not in page:
                break
            request["nextToken"] = page["nextToken"]
        return found

    def _with_function_failures(
        self, attempts: dict[str, list[Attempt]], messages: list[dict[str, Any]], since_ms: int | None
    ) -> dict[str, list[Attempt]]:
        """Each order DLQ message's attempts, with the function-level failures of the receives the processor
        logged nothing for (with_function_failures). The log group is read only if some receive lacks one."""
        receives, visibility_ms = self._redrive_settings()
        lacking = [m for m in messages if len(attempts.get(m["MessageId"], [])) < receives]
        if not lacking:
            return attempts
        failures = self.function_failures(since_ms)
        completed = dict(attempts)
        for message in lacking:
            first = message["Attributes"].get("ApproximateFirstReceiveTimestamp")
            completed[message["MessageId"]] = with_function_failures(
                attempts.get(message["MessageId"], []), int(first) if first else None, receives, visibility_ms, failures
            )
        return completed

    def _redrive_settings(self) -> tuple[int, int]:
        """The order queue's maxReceiveCount (receives before SQS dead-letters a message) and visibility
        timeout in milliseconds, as SQS reports them."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.target.output(outputs.QUEUE_URL), AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        )["Attributes"]
        policy = json.loads(attributes.get("RedrivePolicy") or "{}")
        return int(policy.get("maxReceiveCount", 1)), int(attributes.get("VisibilityTimeout", 30)) * 1000

    def function_failures(self, since_ms: int | None = None) -> list[FunctionFailure]:
        """The invocations that failed as a whole, from the function's log group as Lambda writes it
        (sandbox.logs.function_failures): whatever the function's application log level, since Lambda's
        records are system logs and the runtime's error record is at ERROR."""
        logs = self._client("logs")
        request: dict[str, Any] = {"logGroupName": self.target.output(outputs.LOG_GROUP_NAME)}
        if since_ms is not None:
            request["startTime"] = since_ms
        events: list[dict[str, Any]] = []
        while True:
            try:
                page = logs.filter_log_events(**request)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []
                raise
            events.extend(page.get("events", []))
            if not page.get("nextToken"):
                return function_failures(events)
            request["nextToken"] = page["nextToken"]

    def _make_visible(self, url: str, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_BATCH):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + SQS_BATCH])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)

    def attempts(self, message_ids: set[str], since_ms: int | None = None) -> dict[str, list[Attempt]]:
        """The processor's failure lines for these messages, oldest first: one scan of the log group's
        failure lines (from the oldest message's send time), not one per message."""
        logs = self._client("logs")
        found: dict[str, list[Attempt]] = {}
        request: dict[str, Any] = {
            "logGroupName": self.target.output(outputs.LOG_GROUP_NAME),
            "filterPattern": '"order failed"',
        }
        if since_ms is not None:
            request["startTime"] = since_ms
        while message_ids:
            page = logs.filter_log_events(**request)
            for event in page.get("events", []):
                try:
                    line = json.loads(event["message"])
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("message_id") in message_ids and "failure" in line:
                    attempt = Attempt(
                        int(line.get("attempt", 0)), _moment(event["timestamp"]), line["failure"], line["reason"]
                    )
                    found.setdefault(line["message_id"], []).append(attempt)
            if "nextToken" not in page:
                break
            request["nextToken"] = page["nextToken"]
        earliest = datetime.min.replace(tzinfo=UTC)
        return {key: sorted(value, key=lambda a: (a.number, a.at or earliest)) for key, value in found.items()}

    def redrive(self, limit: int | None = None, progress: Progress | None = None, source: str = ORDER_DLQ) -> Redrive:
        """Back to the order queue: StartMessageMoveTask where the service has it; otherwise receive, send to
        the queue, then delete, so a crash in between duplicates a message (which the processor absorbs)
        but never loses one.

        The subscription DLQ is always moved by hand: StartMessageMoveTask takes as its source only a queue
        that is the DLQ of other SQS queues (SQS API reference, StartMessageMoveTask), and SNS's subscription
        DLQ is no SQS queue's. What SNS left there is what it would have delivered (the envelope, or the raw
        message and its attributes), so the processor takes it from the order queue as any delivery."""
        if source == SUBSCRIPTION_DLQ:
            return self._move_one_by_one(limit, progress, self.dlq_url(source))
        if limit is None:
            try:
                self._sqs.start_message_move_task(
                    SourceArn=self.target.output(outputs.DEAD_LETTER_QUEUE_ARN),
                    DestinationArn=self.target.output(outputs.QUEUE_ARN),
                )
                return Redrive("StartMessageMoveTask", moved=None)
            except ClientError as error:
                if not _unsupported(error):
                    raise
        return self._move_one_by_one(limit, progress, self.dlq_url(source))

    def _move_one_by_one(self, limit: int | None, progress: Progress | None, dlq: str) -> Redrive:
        queue = self.target.output(outputs.QUEUE_URL)
        # What the DLQ holds now, and no more: a message that fails again comes back while the redrive runs,
        # and chasing it would cycle forever (StartMessageMoveTask, too, moves the count it started with).
        found, _ = self._depth(dlq)
        budget = found if limit is None else min(limit, found)
        moved = failed = 0
        while moved < budget:
            wanted = min(SQS_BATCH, budget - moved)
            messages = self._sqs.receive_message(
                QueueUrl=dlq, MaxNumberOfMessages=wanted, VisibilityTimeout=60, WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            ).get("Messages", [])  # fmt: skip
            if not messages:
                break
            entries = [{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)]
            for entry, message in zip(entries, messages, strict=True):
                if message.get("MessageAttributes"):
                    entry["MessageAttributes"] = message["MessageAttributes"]
            sent = self._sqs.send_message_batch(QueueUrl=queue, Entries=entries)
            delivered = {entry["Id"] for entry in sent.get("Successful", [])}
            done = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages)
                if str(i) in delivered
            ]
            if done:
                self._sqs.delete_message_batch(QueueUrl=dlq, Entries=done)
            moved += len(done)
            failed += len(messages) - len(done)
            if progress:
                progress(len(done))
            if len(done) < len(messages):
                break  # what failed to send stays in the DLQ; stop rather than spin on it
        return Redrive("receive, send, delete", moved=moved, failed=failed)

    def purge_dlq(self) -> int:
        depth = self.depths().dlq_visible
        self._sqs.purge_queue(QueueUrl=self.dlq_url(ORDER_DLQ))
        return depth

    # overview

    def _depth(self, url: str) -> tuple[int, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def depths(self) -> Depths:
        """The queues' depths only: cheap enough to poll. A stack deployed before the subscription DLQ
        existed has no such output: its depth is 0."""
        queue = self._depth(self.target.output(outputs.QUEUE_URL))
        dlq = self._depth(self.target.output(outputs.DEAD_LETTER_QUEUE_URL))
        has_subscription_dlq = bool(self.target.outputs.get(outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_URL))
        subscription = self._depth(self.dlq_url(SUBSCRIPTION_DLQ)) if has_subscription_dlq else (0, 0)
        return Depths(
            queue_visible=queue[0],
            queue_in_flight=queue[1],
            dlq_visible=dlq[0],
            dlq_in_flight=dlq[1],
            subscription_dlq_visible=subscription[0],
            subscription_dlq_in_flight=subscription[1],
        )

    def held(self, output: str) -> int:
        """What the table or queue a stack output names holds now: items, or messages (in flight included)."""
        if output == outputs.TABLE_NAME:
            return self.order_count()
        visible, in_flight = self._depth(self.target.output(output))
        return visible + in_flight

    def failed_deliveries(self, hours: int = 24) -> int:
        """SNS deliveries from the order topic that failed (a queue policy refusing them, say) in the last hours."""
        now = datetime.now(UTC)
        topic = self.target.output("topicArn").rsplit(":", 1)[-1]
        points = self._client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SNS",
            MetricName="NumberOfNotificationsFailed",
            Dimensions=[{"Name": "TopicName", "Value": topic}],
            StartTime=now - timedelta(hours=hours),
            EndTime=now,
            Period=hours * 3600,
            Statistics=["Sum"],
        )["Datapoints"]
        return int(sum(point["Sum"] for point in points))

    def status(self) -> Status:
        table = self._client("dynamodb").describe_table(TableName=self.target.output(outputs.TABLE_NAME))["Table"]
        alarms = self._client("cloudwatch").describe_alarms(ActionPrefix=self.target.output(outputs.ALARM_TOPIC_ARN))
        return Status(
            **vars(self.depths()),
            table_items=int(table.get("ItemCount", 0)),
            alarms=[(alarm["AlarmName"], alarm_state(alarm)) for alarm in alarms.get("MetricAlarms", [])],
        )

    def runtime_rows(self) -> list[tuple[str, str]]:
        """Cold starts, read as an operator reads them on AWS: the log group's REPORT records that carry an
        init duration; and the sandbox poller's receive and delete errors, from its CloudWatch metrics."""
        logs = self._client("logs")
        group = self.target.output(outputs.LOG_GROUP_NAME)
        cold_starts = 0
        for phrase in ("Init Duration", "initDurationMs"):  # the Text and the JSON log format
            request: dict[str, Any] = {"logGroupName": group, "filterPattern": f'"{phrase}"'}
            while True:
                page = logs.filter_log_events(**request)
                cold_starts += sum(1 for event in page.get("events", []) if is_cold_start_report(event["message"]))
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
        rows = [("cold starts (REPORT records with an init duration)", str(cold_starts))]
        if self.target.endpoint is not None:
            function = self.target.output(outputs.FUNCTION_NAME)
            for metric, label in (
                (RECEIVE_ERRORS_METRIC, "receive errors"),
                (DELETE_FAILURES_METRIC, "failed deletes"),
            ):
                rows.append((f"event source {label}", str(self._sandbox_metric_sum(metric, function))))
        return rows

    def _sandbox_metric_sum(self, metric: str, function: str) -> int:
        now = datetime.now(tz=UTC)
        datapoints = self._client("cloudwatch").get_metric_statistics(
            Namespace=METRICS_NAMESPACE,
            MetricName=metric,
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            StartTime=now - timedelta(days=1),
            EndTime=now + timedelta(minutes=1),
            Period=86400,
            Statistics=["Sum"],
        )["Datapoints"]
        return int(sum(point["Sum"] for point in datapoints))


def alarm_state(alarm: dict[str, Any]) -> str:
    """The state and since when; an alarm never evaluated says so (CloudWatch starts it INSUFFICIENT_DATA)."""
    if str(alarm.get("StateReason", "")).startswith("Unchecked"):
        return "not evaluated"
    since = alarm.get("StateUpdatedTimestamp")
    when = f" since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if isinstance(since, datetime) else ""
    return f"{alarm['StateValue']}{when}"
