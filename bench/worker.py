"""The child side of the handler benchmarks: one function, alone in a fresh interpreter, as in a Lambda environment.

`python -m bench.worker '<job JSON>'`. The parent starts it with the function's environment (table,
endpoint, log level), and the worker imports what it runs, at the machine's full CPU (the parent's
time is what it saves; Lambda's init phase is not what these figures compare). It then says `ready`
on its protocol stream and waits for `go` on stdin: meanwhile the parent places it in the cgroup with
the CPU share under test. Then it runs the job and writes one JSON line of results.

Jobs:
- `batches`: `side` is `ours` (handler.app), `seeds` (bench.seed_baseline) or `bare` (one plain
  boto3 PutItem per order, the floor); each batch is 10 new orders, enveloped by SNS as delivered.
  Reports each batch's wall time and the process's CPU time over the measured batches.
- `import`: imports boto3 and Powertools' Logger and Metrics first, then times importing Powertools'
  batch utility: the cold-start cost the handler avoids.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

import boto3
from aws_lambda_powertools import Logger, Metrics
from boto3.dynamodb.types import TypeSerializer

REGION = "us-east-1"
BATCH = 10
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:orders-bench-queue"
BATCH_UTILITY = "aws_lambda_powertools.utilities.batch"
Handler = Callable[[dict[str, Any], Any], Any]
# Loaded in every worker before its job: the batch utility's import cost is measured on top of these,
# which the handler imports anyway (and the Lambda runtime provides boto3).
PRELOADED = (boto3, Logger, Metrics)


@dataclass(frozen=True)
class Context:
    """The fields of Lambda's context object that the handlers read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def sample_order(order_id: str) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "userId": "u-42",
        "itemName": "Keyboard",
        "quantity": 2,
        "status": "NEW",
        "timestamp": "2026-11-22T10:00:00Z",
        "items": [{"sku": "KB-1", "quantity": 2, "unitPrice": 49.99}],
        "totalAmount": 99.98,
        "currency": "EUR",
    }


def sns_envelope(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": f"arn:aws:sns:{REGION}:123456789012:orders-bench-topic",
            "Message": message,
            "Timestamp": "2026-11-22T10:00:01.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
    )


def sqs_batch_event() -> dict[str, Any]:
    """Ten new orders, as Lambda's SQS event source delivers them."""
    records = []
    for _ in range(BATCH):
        body = sns_envelope(json.dumps(sample_order(f"ord-{uuid.uuid4().hex}")))
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"bench-{uuid.uuid4().hex}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795341600000"},
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def _context() -> Context:
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "orders-bench")
    return Context(
        function_name=name,
        memory_limit_in_mb=int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")),
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        aws_request_id=str(uuid.uuid4()),
    )


def _bare_put_handler() -> Handler:
    """The floor: per order, one PutItem of its attributes with a default client, nothing else."""
    client = boto3.client("dynamodb")
    table = os.environ["TABLE_NAME"]
    serialize = TypeSerializer().serialize
    order = json.loads(json.dumps(sample_order("x")), parse_float=Decimal)  # DynamoDB numbers are Decimals
    template = {name: serialize(value) for name, value in order.items()}

    def put_each(event: dict[str, Any], _: Any) -> None:
        for _record in event["Records"]:
            client.put_item(TableName=table, Item={**template, "orderId": {"S": f"ord-{uuid.uuid4().hex}"}})

    return put_each


def load(side: str) -> Handler:
    if side == "ours":
        handler: Handler = importlib.import_module("handler.app").lambda_handler
        return handler
    if side == "seeds":
        baseline: Handler = importlib.import_module("bench.seed_baseline").lambda_handler
        return baseline
    if side == "bare":
        return _bare_put_handler()
    raise ValueError(f"unknown side {side!r}: ours, seeds or bare")


def run_batches(handler: Handler, runs: int, warmup: int) -> dict[str, Any]:
    events = [sqs_batch_event() for _ in range(warmup + runs)]  # built before the clock starts
    for event in events[:warmup]:
        handler(event, _context())
    wall_ms: list[float] = []
    cpu_started = time.process_time()
    for event in events[warmup:]:
        started = time.perf_counter()
        handler(event, _context())
        wall_ms.append((time.perf_counter() - started) * 1000)
    cpu_seconds = time.process_time() - cpu_started  # every thread of this process
    return {"wall_ms": wall_ms, "cpu_seconds": cpu_seconds, "orders": runs * BATCH}


def time_batch_import() -> dict[str, Any]:
    cpu_started, started = time.process_time(), time.perf_counter()
    importlib.import_module(BATCH_UTILITY)
    return {"wall_ms": (time.perf_counter() - started) * 1000, "cpu_ms": (time.process_time() - cpu_started) * 1000}


def _protocol_stream() -> TextIO:
    """The results go on a copy of stdout; stdout itself goes nowhere, as the functions' logs and
    metrics would only measure a terminal. Done before any import, since loggers keep their stream."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, sys.stdout.fileno())
    os.close(sink)
    return protocol


def main() -> None:
    job = json.loads(sys.argv[1])
    protocol = _protocol_stream()
    handler = load(job["side"]) if job["kind"] == "batches" else None
    protocol.write("ready\n")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the benchmark went away before saying go")
    result = time_batch_import() if handler is None else run_batches(handler, runs=job["runs"], warmup=job["warmup"])
    protocol.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
