"""Handler benchmarks: batch latency and poison amplification against the seeds-style baseline, and cold start.

Run with `make bench` (or `python -m bench handler`). Both handlers run in this process on the same
events; DynamoDB is either a fixed 10 ms round trip (latency) or moto (amplification).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto import mock_aws

from sandbox.faults import DynamoFaults, default_session
from sandbox.lambda_runtime import Handler, LambdaContext, load_handler, sqs_event

PROJECT_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
TABLE = "orders-bench"
ENVIRONMENT = {
    "TABLE_NAME": TABLE,
    "MAX_RECEIVE_COUNT": "3",
    "POWERTOOLS_SERVICE_NAME": "orders-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineBench",
    "LOG_LEVEL": "WARN",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}
ROUND_TRIP_SECONDS = 0.010
BATCH = 10
MAX_RECEIVE_COUNT = 3


class RoundTrip:
    """While on, every DynamoDB call of this process answers success after a fixed delay, as a remote table would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.on = False

    def install(self, session: boto3.Session) -> None:
        # botocore's stubs type handlers as returning None; a before-call handler's answer short-circuits the call.
        session.events.register("before-call.dynamodb", self._answer)  # type: ignore[arg-type]

    def _answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self.on:
            return None
        time.sleep(self.seconds)
        return AWSResponse("", 200, HTTPHeaders(), None), {"ResponseMetadata": {"HTTPStatusCode": 200}}


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


def sample_order(order_id: str) -> str:
    return json.dumps(
        {
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
    )


def _context() -> LambdaContext:
    return LambdaContext("orders-bench-processor", 256, f"arn:aws:lambda:{REGION}:123456789012:function:f", 30)


# Open for the whole run: the handler's logger keeps the stream it was loaded with.
_SINK = open(os.devnull, "w")  # noqa: SIM115


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Handler logs and metrics go nowhere: the benchmark measures work, not a terminal."""
    with contextlib.redirect_stdout(_SINK):
        yield


def _load_handlers() -> tuple[Handler, Handler]:
    os.environ.update(ENVIRONMENT)
    with _quiet():
        handler = load_handler("handler.app.lambda_handler", PROJECT_DIR, ENVIRONMENT)
        baseline: Handler = importlib.import_module("bench.seed_baseline").lambda_handler
    return handler, baseline


def _latency_event() -> dict[str, Any]:
    messages: list[Mapping[str, Any]] = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"bench-{n}",
            "Body": sns_envelope(sample_order(f"lat-{n}")),
            "MD5OfBody": "0" * 32,
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795341600000"},
        }
        for n in range(BATCH)
    ]
    return sqs_event(messages, f"arn:aws:sqs:{REGION}:123456789012:orders-bench-queue", REGION)


def batch_latency(handler: Handler, runs: int = 40, warmup: int = 5) -> list[float]:
    event = _latency_event()
    samples = []
    with _quiet():
        for _ in range(warmup):
            handler(event, _context())
        for _ in range(runs):
            start = time.perf_counter()
            handler(event, _context())
            samples.append(time.perf_counter() - start)
    return samples


_IMPORT_TIMER = "import time; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"


def import_seconds(module: str) -> float:
    """In a fresh interpreter, as a cold Lambda container is; bytecode caches allowed (see cold_start)."""
    environment = {
        key: value for key, value in {**os.environ, **ENVIRONMENT}.items() if key != "PYTHONDONTWRITEBYTECODE"
    }
    finished = subprocess.run(
        [sys.executable, "-c", _IMPORT_TIMER.format(module=module)],
        env=environment,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(finished.stdout)


def cold_start(runs: int) -> tuple[list[float], list[float]]:
    """Interleaved, so both sides see the same machine load. Two warm-up imports first write the bytecode
    caches, so compiling from source (which depends on how packages were installed) is not measured."""
    for _ in range(2):
        import_seconds("handler.app")
    pairs = [(import_seconds("boto3"), import_seconds("handler.app")) for _ in range(runs)]
    return [boto3_alone for boto3_alone, _ in pairs], [handler for _, handler in pairs]


def poison_amplification(handler: Handler, writes: DynamoFaults, batches: int, seed: int = 7) -> dict[str, int]:
    """Batches of 10 with one malformed order each, consumed the way the event source mapping does."""
    rng = random.Random(seed)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="orders-bench-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Visibility 0: a failed message is back at once, as if its timeout had passed.
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        queue_url = sqs.create_queue(
            QueueName="orders-bench-queue", Attributes={"VisibilityTimeout": "0", "RedrivePolicy": redrive}
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        writes.clear()
        good = 0
        for batch in range(batches):
            poison_at = rng.randrange(BATCH)
            for position in range(BATCH):
                order_id = f"b{batch}-o{position}"
                body = (
                    '{"orderId": "' + order_id + '", "quantity": ' if position == poison_at else sample_order(order_id)
                )
                good += position != poison_at
                sqs.send_message(QueueUrl=queue_url, MessageBody=sns_envelope(body))
            _drain(sqs, queue_url, queue_arn, handler)
        dead = _receive_all(sqs, dlq_url)
        return {
            "good orders published": good,
            "DynamoDB writes": writes.puts,
            "good orders stored": int(dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"]),
            "messages dead-lettered": len(dead),
            "good orders dead-lettered": sum(_is_an_order(message["Body"]) for message in dead),
        }


def _drain(sqs: Any, queue_url: str, queue_arn: str, handler: Handler) -> None:
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH, AttributeNames=["All"]).get(
        "Messages"
    ):
        event = sqs_event(messages, queue_arn, REGION)
        try:
            with _quiet():
                response = handler(event, _context())
        except Exception:  # noqa: BLE001 (the event source mapping retries the whole batch)
            continue
        failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _is_an_order(envelope: str) -> bool:
    try:
        json.loads(json.loads(envelope)["Message"])
    except ValueError:
        return False
    return True


def _receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages"
    ):
        found.update({message["MessageId"]: message for message in messages})
    return list(found.values())


def run(progress: Callable[[str], None], quick: bool = False) -> dict[str, Any]:
    session = default_session()
    round_trip = RoundTrip(ROUND_TRIP_SECONDS)
    round_trip.install(session)
    writes = DynamoFaults().install(session)  # no rules: only counts the writes
    handler, baseline = _load_handlers()

    progress(f"batch latency: {BATCH} records, DynamoDB round trip {ROUND_TRIP_SECONDS * 1000:.0f} ms")
    round_trip.on = True
    latency = {
        name: batch_latency(fn, runs=10 if quick else 40) for name, fn in (("handler", handler), ("baseline", baseline))
    }
    round_trip.on = False

    progress("cold start: import in fresh interpreters")
    boto3_alone, handler_import = cold_start(runs=3 if quick else 21)

    batches = 5 if quick else 20
    progress(
        f"poison amplification: {batches} batches of {BATCH}, 1 malformed each, maxReceiveCount {MAX_RECEIVE_COUNT}"
    )
    amplification = {
        "handler": poison_amplification(handler, writes, batches),
        "baseline": poison_amplification(baseline, writes, batches),
    }
    return {
        "round_trip_ms": ROUND_TRIP_SECONDS * 1000,
        "latency_ms": {
            name: {
                "median": statistics.median(samples) * 1000,
                "p90": statistics.quantiles(samples, n=10)[-1] * 1000,
            }
            for name, samples in latency.items()
        },
        "cold_start_ms": {
            "boto3 alone (median)": statistics.median(boto3_alone) * 1000,
            "handler.app (median)": statistics.median(handler_import) * 1000,
            "handler.app minus boto3": (statistics.median(handler_import) - statistics.median(boto3_alone)) * 1000,
        },
        "amplification": amplification,
    }


def report(results: dict[str, Any]) -> str:
    latency, cold, amp = results["latency_ms"], results["cold_start_ms"], results["amplification"]
    handler, baseline = latency["handler"], latency["baseline"]
    rows = [
        "| measure | seeds-style baseline | this handler | baseline / handler |",
        "|---|---|---|---|",
        f"| batch of {BATCH}, {results['round_trip_ms']:.0f} ms DynamoDB round trip: median | "
        f"{baseline['median']:.1f} ms | {handler['median']:.1f} ms | {baseline['median'] / handler['median']:.1f}x |",
        f"| same, p90 | {baseline['p90']:.1f} ms | {handler['p90']:.1f} ms | {baseline['p90'] / handler['p90']:.1f}x |",
    ]
    for measure in amp["handler"]:
        left, right = amp["baseline"][measure], amp["handler"][measure]
        ratio = f"{left / right:.2f}x" if right else "—"
        rows.append(f"| poison: {measure} | {left} | {right} | {ratio} |")
    within = handler["median"] / results["round_trip_ms"]
    cold_start = cold["handler.app minus boto3"]
    return "\n".join(
        [
            *rows,
            "",
            f"Handler batch latency is {within:.2f}x one round trip (target: within 2x); "
            f"{baseline['median'] / handler['median']:.1f}x faster than the baseline (target: at least 5x).",
            f"Cold start: import of handler.app {cold['handler.app (median)']:.0f} ms, boto3 alone "
            f"{cold['boto3 alone (median)']:.0f} ms: {cold_start:.0f} ms for the handler (target: at most 150 ms).",
        ]
    )
