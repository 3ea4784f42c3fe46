"""Lambda entry point: stores each order of an SQS batch, concurrently, and reports only the records that failed.

Powertools gives the structured logs and the EMF metrics. The batch itself is a bounded thread pool and
the partial-batch response: Powertools' batch utility would add about a tenth to every cold start's init CPU
for that (`make bench`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, TypedDict

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from handler.envelope import unwrap
from handler.failures import Kind, Redelivery, classify, expedite
from handler.order import parse_order
from handler.store import OrderStore, Saved

PARALLEL_WRITES = 16  # bounds the threads and connections a batch uses at once


class SqsRecord(TypedDict):
    """The fields of a Lambda SQS event record that the handler reads."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    eventSourceARN: str


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: the function's environment must provide it (see infra/processor.py)")
    return value


MAX_RECEIVE_COUNT = int(os.environ.get("MAX_RECEIVE_COUNT", "3"))

# Lambda's log-level filter (JSON format) keeps a line at WARN or ERROR only if its `level` is one of
# Lambda's names (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) and its `timestamp` is RFC 3339; anything else
# counts as INFO and is dropped. Python says WARNING and CRITICAL, Powertools' default timestamp is not
# RFC 3339: both are changed here, in the function's own process.
logging.addLevelName(logging.WARNING, "WARN")
logging.addLevelName(logging.CRITICAL, "FATAL")

# Created once per container; clients are thread-safe, so the writer threads share them.
logger = Logger(use_rfc3339=True)
metrics = Metrics()
# DynamoDB validates every request itself; the SDK's client-side pass costs a quarter of a record's CPU.
_aws_config = Config(max_pool_connections=PARALLEL_WRITES, retries={"mode": "standard"}, parameter_validation=False)
_store = OrderStore(boto3.client("dynamodb", config=_aws_config), _required_env("TABLE_NAME"))
_writers = ThreadPoolExecutor(max_workers=PARALLEL_WRITES, thread_name_prefix="order-writer")


@cache
def _sqs() -> Any:
    """Only permanent failures need SQS, so the client is made on first use, not in every cold start."""
    return boto3.client("sqs", config=_aws_config)


_METRICS = {
    Saved.STORED: "OrdersStored",
    Saved.DUPLICATE: "DuplicatesAbsorbed",
    Kind.PERMANENT: "OrdersRejected",
    Kind.TRANSIENT: "OrdersFailed",
}


@dataclass
class BatchTally:
    """What happened to one batch's records; written by the writer threads."""

    outcomes: Counter[str] = field(default_factory=Counter)
    redeliver_now: list[Redelivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str, redelivery: Redelivery | None = None) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            if redelivery is not None:
                self.redeliver_now.append(redelivery)


def process_record(record: SqsRecord, tally: BatchTally) -> bool:
    """One record: unwrap, validate, store. Never raises: a failure stays with its record, logged and counted."""
    attributes = record.get("attributes") or {}
    attempt = int(attributes.get("ApproximateReceiveCount") or 1)
    keys: dict[str, Any] = {"message_id": record["messageId"], "order_id": None, "attempt": attempt}
    try:
        delivery = unwrap(record["body"], record["messageId"], attributes)
        order = parse_order(delivery.order_text)
        keys["order_id"] = order.order_id
        saved = _store.save(order, delivery)
    except Exception as error:  # noqa: BLE001 (any failure of one record must stay with that record)
        failure = classify(error)
        keys["order_id"] = keys["order_id"] or getattr(error, "order_id", None)
        last = attempt >= MAX_RECEIVE_COUNT
        fate = "going to the DLQ" if last else f"will be redelivered, {MAX_RECEIVE_COUNT - attempt} attempt(s) left"
        # The attempt that sends the order to the DLQ is an ERROR, so its reason survives every log level
        # (`orderctl dlq list` reads it); a retry to come is a WARN.
        log = logger.error if last else logger.warning
        log(
            f"order failed ({failure.kind}) on attempt {attempt} of {MAX_RECEIVE_COUNT}, {fate}: {failure.reason}",
            extra={**keys, "failure": failure.kind.value, "reason": failure.reason, "to_dlq": last},
        )
        redelivery = Redelivery(record["eventSourceARN"], record["receiptHandle"])
        tally.count(failure.kind, redelivery if failure.kind is Kind.PERMANENT else None)
        return False
    logger.info("order stored" if saved is Saved.STORED else "duplicate delivery absorbed", extra=keys)
    tally.count(saved)
    return True


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    records: list[SqsRecord] = event.get("Records", [])
    tally = BatchTally()
    succeeded = list(_writers.map(partial(process_record, tally=tally), records))
    for outcome, name in _METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=tally.outcomes[outcome])
    # Permanent failures cannot succeed on a retry: let them use up their receives now, not after timeouts.
    if tally.redeliver_now:
        for error in expedite(_sqs(), tally.redeliver_now):
            logger.warning(f"could not expedite a permanently failed message; it reaches the DLQ later: {error}")
    # Every record is answered: an empty list means all stored; raising would retry the good ones too.
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record, ok in zip(records, succeeded, strict=True) if not ok
        ]
    }
