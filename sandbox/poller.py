"""An event source mapping, as Lambda runs one for an SQS queue: poll, batch, invoke, delete what succeeded.

It long-polls the queue, gathers up to the batch size within the batching window, and invokes the
handler in this process with Lambda's event and context, at most the mapping's maximum concurrency at
once. With ReportBatchItemFailures it deletes the records the response does not name; an exception, a
timeout, or a malformed response fails the whole batch, and nothing is deleted: the messages come back
after their visibility timeout, and SQS's own redrive moves them to the DLQ after maxReceiveCount.
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from sandbox.deploy import FunctionSpec, MappingSpec
from sandbox.emulator import Endpoint
from sandbox.lambda_runtime import Handler, LambdaContext, sqs_event

# Powertools' Metrics is one per process: invocations run side by side here (one per container on
# Lambda), so one may flush another's metrics and leave it an empty set to warn about.
warnings.filterwarnings("ignore", message="No application metrics to publish")

SQS_RECEIVE_LIMIT = 10
_POLL_SECONDS = 1  # long-poll wait: short enough to stop promptly
Middleware = Callable[[Handler], Handler]


class InvocationTimeout(Exception):  # noqa: N818 (what Lambda reports: "Task timed out")
    pass


@dataclass
class PollerStats:
    receives: int = 0
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    record_failures: int = 0
    batch_failures: int = 0  # exceptions, timeouts, malformed responses
    last_error: str = ""
    in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


def failed_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """The ids a partial batch response names, or None when Lambda would fail the whole batch."""
    if response is None:
        return set()  # None is a success with nothing to report
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return None
    ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return None  # an empty or unknown id fails the whole batch, as on AWS
        ids.add(identifier)
    return ids


class EventSourcePoller:
    def __init__(
        self,
        mapping: MappingSpec,
        function: FunctionSpec,
        handler: Handler,
        endpoint: Endpoint,
        middleware: Middleware | None = None,
        *,
        session: boto3.Session | None = None,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.handler = middleware(handler) if middleware else handler
        self.endpoint = endpoint
        self.stats = PollerStats()
        self._sqs = endpoint.client("sqs")
        self._queue_url = self._url_of(mapping.queue_arn)  # Lambda knows the URL: no GetQueueUrl with the role
        # Polls with the execution role's credentials when given them, so the emulator judges every call.
        self._sqs = endpoint.client("sqs", session)
        # Lambda defaults to 1000 concurrent executions when the mapping sets no maximum.
        self._slots = threading.BoundedSemaphore(mapping.maximum_concurrency or 1000)
        self._stopping = threading.Event()
        self._invocations: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._poll, name=f"poller-{function.name}", daemon=True)

    def _url_of(self, queue_arn: str) -> str:
        *_, account, name = queue_arn.split(":")
        return str(self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])

    def start(self) -> EventSourcePoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops polling and waits for invocations under way (each is bounded by the function's timeout)."""
        self._stopping.set()
        self._thread.join()
        for invocation in list(self._invocations):
            invocation.join(timeout=self.function.timeout_seconds + 1)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=_POLL_SECONDS):
                continue
            try:
                batch = self._gather()
            except Exception as error:  # noqa: BLE001 (the emulator going away at shutdown, say)
                self.stats.last_error = f"receive failed: {error}"
                batch = []
            if not batch:
                self._slots.release()
                continue
            invocation = threading.Thread(target=self._invoke, args=(batch,), daemon=True)
            self._invocations = [t for t in self._invocations if t.is_alive()]
            self._invocations.append(invocation)
            invocation.start()

    def _gather(self) -> list[dict[str, Any]]:
        """Up to the batch size: at once when the window is 0, else until the window closes or the batch fills."""
        batch: list[dict[str, Any]] = []
        window_closes: float | None = None
        while len(batch) < self.mapping.batch_size and not self._stopping.is_set():
            remaining = None if window_closes is None else window_closes - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wait = _POLL_SECONDS if remaining is None else max(0, min(_POLL_SECONDS, int(remaining)))
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, self.mapping.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            self.stats.add(receives=1)
            batch.extend(messages)
            if batch and window_closes is None:
                if self.mapping.batching_window_seconds == 0:
                    break
                window_closes = time.monotonic() + self.mapping.batching_window_seconds
        return batch

    def _invoke(self, batch: list[dict[str, Any]]) -> None:
        self.stats.add(invocations=1, records=len(batch), in_flight=1)
        try:
            event = sqs_event(batch, self.mapping.queue_arn, self.endpoint.region)
            try:
                response = self._call(event)
            except Exception as error:  # noqa: BLE001 (a function error fails the whole batch)
                self.stats.add(batch_failures=1)
                self.stats.last_error = f"{type(error).__name__}: {error}"
                return
            done = self._succeeded(batch, response)
            if done:
                self._delete(done)
        finally:
            self.stats.add(in_flight=-1)
            self._slots.release()

    def _call(self, event: dict[str, Any]) -> Any:
        """Runs the handler with Lambda's deadline; on a timeout the batch fails and the handler is abandoned."""
        context = LambdaContext(
            function_name=self.function.name,
            memory_limit_in_mb=self.function.memory_mb,
            invoked_function_arn=self.function.arn,
            timeout_seconds=self.function.timeout_seconds,
            log_group_name=self.function.log_group,
        )
        outcome: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                outcome.put((True, self.handler(event, context)))
            except BaseException as error:  # noqa: BLE001 (reported to the poller, as Lambda reports it)
                outcome.put((False, error))

        threading.Thread(target=run, name=f"{self.function.name}-{context.aws_request_id[:8]}", daemon=True).start()
        try:
            ok, value = outcome.get(timeout=self.function.timeout_seconds)
        except queue.Empty:
            raise InvocationTimeout(f"Task timed out after {self.function.timeout_seconds} seconds") from None
        if not ok:
            raise value
        return value

    def _succeeded(self, batch: list[dict[str, Any]], response: Any) -> list[dict[str, Any]]:
        if not self.mapping.report_batch_item_failures:
            return batch  # without the setting, a returned list is ignored: the whole batch counts as done
        ids = {message["MessageId"] for message in batch}
        failed = failed_ids(response, ids)
        if failed is None:
            self.stats.add(batch_failures=1)
            self.stats.last_error = f"malformed partial batch response: {str(response)[:200]}"
            return []
        self.stats.add(record_failures=len(failed))
        return [message for message in batch if message["MessageId"] not in failed]

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_RECEIVE_LIMIT):
            chunk = messages[start : start + SQS_RECEIVE_LIMIT]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        self.stats.add(deleted=len(messages))
