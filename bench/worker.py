"""The child side of the handler benchmarks: one function, alone in a fresh interpreter, as in a Lambda environment.

`python -m bench.worker '<job JSON>'`. The parent starts it with the function's environment (table,
endpoint, log level), and the worker imports what it runs, at the machine's full CPU (the parent's
time is what it saves; Lambda's init phase is not what these figures compare). It then says `ready`
on its protocol stream and waits for `go` on stdin: meanwhile the parent places it in the cgroup with
the CPU share under test. Then it runs the job.

Jobs:
- `batches`: `side` is `ours` (handler.app), `seeds` (bench.seed_baseline) or `bare` (one plain
  boto3 PutItem per order, the floor); each batch is 10 new orders, enveloped by SNS as delivered.
  The worker runs `warmup` batches and says `warm`; then, for each `next` line on stdin, runs one
  batch and writes its wall time and the process's CPU time (every thread) as a JSON line, until
  stdin closes. The parent steps several workers in turn, so each side's batches meet the same
  machine (a shared VM's speed drifts within seconds).
- `import`: after `go` (so in the cgroup, at the share), times the function's init (importing
  handler.app: boto3, Powertools' Logger and Metrics, the DynamoDB client), then importing Powertools'
  batch utility on top: the cold-start cost the handler avoids, as a fraction of the init it would join.
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

REGION = "us-east-1"
BATCH = 10
QUEUE_ARN = f"arn:aws:sqs:{REGION}:123456789012:orders-bench-queue"
BATCH_UTILITY = "aws_lambda_powertools.utilities.batch"
HANDLER_MODULE = "handler.app"
Handler = Callable[[dict[str, Any], Any], Any]


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


def sqs_batch_event(size: int = BATCH) -> dict[str, Any]:
    """`size` (ten unless asked) new orders, as Lambda's SQS event source delivers them."""
    records = []
    for _ in range(size):
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
    import boto3  # noqa: PLC0415 (imported by the job that needs it: the import job times a fresh init)
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

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
        handler: Handler = importlib.import_module(HANDLER_MODULE).lambda_handler
        return handler
    if side == "seeds":
        baseline: Handler = importlib.import_module("bench.seed_baseline").lambda_handler
        return baseline
    if side == "bare":
        return _bare_put_handler()
    raise ValueError(f"unknown side {side!r}: ours, seeds or bare")


def serve_batches(handler: Handler, warmup: int, protocol: TextIO, size: int = BATCH) -> None:
    for _ in range(warmup):
        handler(sqs_batch_event(size), _context())
    protocol.write("warm\n")
    for _ in sys.stdin:
        event, context = sqs_batch_event(size), _context()  # built before the clock starts
        cpu_started, started = time.process_time(), time.perf_counter()
        handler(event, context)
        wall_ms = (time.perf_counter() - started) * 1000
        protocol.write(json.dumps({"wall_ms": wall_ms, "cpu_ms": (time.process_time() - cpu_started) * 1000}) + "\n")


def time_batch_import() -> dict[str, Any]:
    """The function's init, then the batch utility's import on top of it: wall and CPU ms of each."""
    cpu_started, started = time.process_time(), time.perf_counter()
    importlib.import_module(HANDLER_MODULE)
    init_cpu, imported = time.process_time(), time.perf_counter()
    importlib.import_module(BATCH_UTILITY)
    return {
        "init_ms": (imported - started) * 1000,
        "init_cpu_ms": (init_cpu - cpu_started) * 1000,
        "wall_ms": (time.perf_counter() - imported) * 1000,
        "cpu_ms": (time.process_time() - init_cpu) * 1000,
    }


def _protocol_stream(log_file: str | None = None) -> TextIO:
    """The results go on a copy of stdout; stdout itself goes nowhere, as the functions' logs and
    metrics would only measure a terminal (or to `log_file`, to count what the function logs). Done before
    any import, since loggers keep their stream."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sink = os.open(log_file or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(sink, sys.stdout.fileno())
    os.close(sink)
    return protocol


def main() -> None:
    job = json.loads(sys.argv[1])
    protocol = _protocol_stream(job.get("log_file"))
    handler = load(job["side"]) if job["kind"] == "batches" else None
    protocol.write("ready\n")
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("the benchmark went away before saying go")
    if handler is None:
        protocol.write(json.dumps(time_batch_import()) + "\n")
    else:
        serve_batches(handler, job["warmup"], protocol, job.get("records", BATCH))


if __name__ == "__main__":
    main()
