"""An event source mapping, as Lambda runs one for an SQS queue: poll, batch, invoke, delete what succeeded.

It long-polls the queue, gathers up to the batch size within the batching window, and invokes the
function in one of its execution environments (sandbox/environment.py), at most the mapping's maximum
concurrency at once. With ReportBatchItemFailures it deletes the records the response does not name;
an error (an exception, a timeout, an environment that died, a response that cannot be serialised) or
a malformed response fails the whole batch, and nothing is deleted: the messages come back after their
visibility timeout, and SQS's own redrive moves them to the DLQ after maxReceiveCount.

On function errors Lambda's SQS poller backs off (AWS: "Lambda scales down ... when your function
returns errors"); here each failed batch in a row doubles a pause before the next receive, from 1 s up
to 8 s, and a success resets it. Receive errors and deletes that fail are counted, never swallowed, and
published as CloudWatch metrics in the `OrderPipeline/Sandbox` namespace so `orderctl status` reads them
through the emulator as an operator would read any metric.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from sandbox.deploy import FunctionSpec, MappingSpec
from sandbox.environment import INIT_LIMIT_SECONDS, EnvironmentPool, ExecutionEnvironment, Outcome
from sandbox.lambda_runtime import sqs_event
from sandbox.telemetry import DELETE_FAILURES_METRIC, METRICS_NAMESPACE, RECEIVE_ERRORS_METRIC

SQS_RECEIVE_LIMIT = 10
_POLL_SECONDS = 1  # long-poll wait: short enough to stop promptly
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 8.0
_DELETE_ATTEMPTS = 3
# Called before each invocation with its number (from 1) and the environment that will run it: a fault hook.
BeforeInvoke = Callable[[int, ExecutionEnvironment], None]


@dataclass
class PollerStats:
    receives: int = 0
    receive_errors: int = 0
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    delete_failures: int = 0
    record_failures: int = 0
    batch_failures: int = 0  # errors, timeouts, malformed responses
    consecutive_failures: int = 0
    last_error: str = ""
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


def backoff_seconds(consecutive_failures: int) -> float:
    """The pause before the next receive after this many failed batches in a row."""
    if consecutive_failures <= 0:
        return 0.0
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (consecutive_failures - 1)))


def failed_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """The ids a partial batch response names, or None when Lambda would fail the whole batch."""
    if response is None:
        return set()  # None is a success with nothing to report
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None:  # absent or null: complete success ("Handling errors for an SQS event source")
        return set()
    if not isinstance(failures, list):
        return None
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return None  # an empty or unknown id fails the whole batch, as on AWS
        ids.add(identifier)
    return ids


class Slots:
    """The mapping's maximum concurrency: at most `limit` invocations at once. The limit may change while
    invocations run (UpdateEventSourceMapping's ScalingConfig): those under way finish, and no new one
    starts until fewer than the new limit run."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def resize(self, limit: int) -> None:
        with self._changed:
            self._limit = limit
            self._changed.notify_all()

    def acquire(self, timeout: float) -> bool:
        with self._changed:
            if not self._changed.wait_for(lambda: self._used < self._limit, timeout):
                return False
            self._used += 1
            return True

    def release(self) -> None:
        with self._changed:
            if self._used <= 0:
                raise ValueError("released more slots than were acquired")
            self._used -= 1
            self._changed.notify()


def _url_of(queue_arn: str, endpoint_url: str) -> str:
    """The queue's URL as the emulator forms it: Lambda knows the queue, so it never calls GetQueueUrl, and
    the execution role need not be allowed to."""
    *_, account, name = queue_arn.split(":")
    return f"{endpoint_url}/{account}/{name}"


class EventSourcePoller:
    def __init__(
        self,
        mapping: MappingSpec,
        function: FunctionSpec,
        pool: EnvironmentPool,
        session: boto3.Session,
        endpoint_url: str,
        *,
        before_invoke: BeforeInvoke | None = None,
        enabled: threading.Event | None = None,
    ) -> None:
        self.mapping = mapping
        # Set while the mapping is enabled (UpdateEventSourceMapping, sandbox/event_sources.py): cleared, the
        # poller receives nothing and what it has in flight finishes, as Lambda's does.
        self.enabled = enabled if enabled is not None else threading.Event()
        if enabled is None and mapping.enabled:
            self.enabled.set()
        self.function = function
        self.pool = pool
        self.region = str(session.region_name)
        self.before_invoke = before_invoke
        self.stats = PollerStats()
        self._sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
        self._cloudwatch = session.client("cloudwatch", endpoint_url=endpoint_url)
        self._endpoint_url = endpoint_url
        self._queue_url = _url_of(mapping.queue_arn, endpoint_url)
        # Lambda defaults to 1000 concurrent executions when the mapping sets no maximum.
        self._slots = Slots(pool.limit)
        self._stopping = threading.Event()
        self._invocations: list[threading.Thread] = []
        self._numbers = iter(range(1, 2**62))
        self._thread = threading.Thread(target=self._poll, name=f"poller-{function.name}", daemon=True)

    def start(self) -> EventSourcePoller:
        self._thread.start()
        return self

    def retarget(self, mapping: MappingSpec, function: FunctionSpec, pool: EnvironmentPool) -> None:
        """The mapping or its function was updated (`orderctl sandbox update`, UpdateEventSourceMapping): the
        next batch is gathered and invoked with these; batches under way finish as they started."""
        self.mapping, self.function, self.pool = mapping, function, pool
        self._queue_url = _url_of(mapping.queue_arn, self._endpoint_url)
        self._slots.resize(pool.limit)

    def stop(self) -> None:
        """Stops polling and waits for invocations under way (each is bounded by its init and its timeout)."""
        self._stopping.set()
        self._thread.join()
        for invocation in list(self._invocations):
            invocation.join(timeout=self.function.timeout_seconds + INIT_LIMIT_SECONDS + 1)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            if not self.enabled.is_set():
                self._stopping.wait(_POLL_SECONDS / 4)
                continue
            pause = backoff_seconds(self.stats.consecutive_failures)
            if pause and self._stopping.wait(pause):
                break
            if not self._slots.acquire(timeout=_POLL_SECONDS):
                continue
            mapping, pool, queue_url = self.mapping, self.pool, self._queue_url  # what this batch runs with
            try:
                batch = self._gather(mapping, queue_url)
            except Exception as error:  # noqa: BLE001 (counted, published and shown by orderctl status)
                batch = []
                if not self._stopping.is_set():
                    self._receive_failed(error)
            if not batch:
                self._slots.release()
                continue
            invocation = threading.Thread(target=self._invoke, args=(batch, mapping, pool, queue_url), daemon=True)
            self._invocations = [t for t in self._invocations if t.is_alive()]
            self._invocations.append(invocation)
            invocation.start()

    def _receive_failed(self, error: Exception) -> None:
        self.stats.add(receive_errors=1)
        self.stats.last_error = f"receive failed: {error}"
        self._publish(RECEIVE_ERRORS_METRIC, 1)
        self._stopping.wait(_POLL_SECONDS)  # as Lambda retries a failing poll: not in a tight loop

    def _publish(self, metric: str, value: int) -> None:
        try:
            self._cloudwatch.put_metric_data(
                Namespace=METRICS_NAMESPACE,
                MetricData=[
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "FunctionName", "Value": self.function.name}],
                        "Value": value,
                        "Unit": "Count",
                    }
                ],
            )
        except Exception as error:  # noqa: BLE001 (the count stays in the stats; the failure is kept)
            self.stats.last_error = f"{self.stats.last_error}; could not publish {metric}: {error}"

    def _gather(self, mapping: MappingSpec, queue_url: str) -> list[dict[str, Any]]:
        """Up to the batch size: at once when the window is 0, else until the window closes or the batch fills."""
        batch: list[dict[str, Any]] = []
        window_closes: float | None = None
        while len(batch) < mapping.batch_size and not self._stopping.is_set() and self.enabled.is_set():
            remaining = None if window_closes is None else window_closes - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wait = _POLL_SECONDS if remaining is None else max(0, min(_POLL_SECONDS, int(remaining)))
            messages = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, mapping.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            self.stats.add(receives=1)
            batch.extend(messages)
            if batch and window_closes is None:
                if mapping.batching_window_seconds == 0:
                    break
                window_closes = time.monotonic() + mapping.batching_window_seconds
        return batch

    def _invoke(self, batch: list[dict[str, Any]], mapping: MappingSpec, pool: EnvironmentPool, queue_url: str) -> None:
        self.stats.add(invocations=1, records=len(batch), in_flight=1)
        try:
            event = sqs_event(batch, mapping.queue_arn, self.region)
            number = next(self._numbers)
            hook = self.before_invoke
            try:
                outcome = pool.invoke(event, (lambda env: hook(number, env)) if hook is not None else None)
            except Exception as error:  # noqa: BLE001 (no environment could start: the batch fails, as on Lambda)
                outcome = Outcome("", error={"errorType": "Sandbox.EnvironmentError", "errorMessage": str(error)})
            done = self._succeeded(batch, outcome, mapping)
            self.stats.add(consecutive_failures=1 if done is None else -self.stats.consecutive_failures)
            if done:
                self._delete(done, queue_url)
        finally:
            self.stats.add(in_flight=-1)
            self._slots.release()

    def _succeeded(
        self, batch: list[dict[str, Any]], outcome: Outcome, mapping: MappingSpec
    ) -> list[dict[str, Any]] | None:
        """The messages to delete, or None when the whole batch failed."""
        if outcome.error is not None:
            self.stats.add(batch_failures=1)
            self.stats.last_error = f"{outcome.error.get('errorType')}: {outcome.error.get('errorMessage')}"
            return None
        if not mapping.report_batch_item_failures:
            return batch  # without the setting, a returned list is ignored: the whole batch counts as done
        ids = {message["MessageId"] for message in batch}
        failed = failed_ids(outcome.response, ids)
        if failed is None:
            self.stats.add(batch_failures=1)
            self.stats.last_error = f"malformed partial batch response: {str(outcome.response)[:200]}"
            return None
        self.stats.add(record_failures=len(failed))
        return [message for message in batch if message["MessageId"] not in failed]

    def _delete(self, messages: list[dict[str, Any]], queue_url: str | None = None) -> None:
        """Deletes in batches of 10, retrying the entries that fail; what still fails is counted, not deleted."""
        queue_url = queue_url or self._queue_url
        for start in range(0, len(messages), SQS_RECEIVE_LIMIT):
            pending = {str(i): m["ReceiptHandle"] for i, m in enumerate(messages[start : start + SQS_RECEIVE_LIMIT])}
            for attempt in range(_DELETE_ATTEMPTS):
                try:
                    response = self._sqs.delete_message_batch(
                        QueueUrl=queue_url,
                        Entries=[{"Id": key, "ReceiptHandle": handle} for key, handle in pending.items()],
                    )
                except Exception as error:  # noqa: BLE001 (retried, then counted)
                    self.stats.last_error = f"delete failed: {error}"
                    failed = set(pending)
                else:
                    failed = {entry["Id"] for entry in response.get("Failed", [])}
                    for entry in response.get("Failed", []):
                        self.stats.last_error = f"delete failed: {entry.get('Code')}: {entry.get('Message', '')}"
                self.stats.add(deleted=len(pending) - len(failed))
                pending = {key: handle for key, handle in pending.items() if key in failed}
                if not pending or attempt == _DELETE_ATTEMPTS - 1:
                    break
                time.sleep(0.1 * 2**attempt)
            if pending:
                self.stats.add(delete_failures=len(pending))
                self._publish(DELETE_FAILURES_METRIC, len(pending))
