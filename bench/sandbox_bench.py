"""Sandbox benchmark: orders per second end to end, publish -> stored latency, against the emulator's ceiling.

The ceiling is the emulator's raw publish rate: the same orders, published the same way (SNS
publish_batch) to a topic with one SQS subscriber that nothing consumes, in the same run. moto's SQS
operations scan the whole queue, so that rate falls as the queue deepens; the run also reports the
rate into a queue kept empty (fresh per 100 orders), an upper bound that no consumer in this one
process can reach, since every receive, write and delete shares the emulator's interpreter. Peak
memory is this process's, which hosts the emulator, the pollers and the handler.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from orderctl.pipeline import Pipeline
from orderctl.samples import sample_order, to_json
from orderctl.target import Target
from sandbox.runner import Sandbox

PROJECT_DIR = Path(__file__).resolve().parents[1]
SHALLOW = 100


def _subscribed_queue(sandbox: Sandbox, topic: str, name: str) -> tuple[str, str]:
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]


def raw_publish_rate(sandbox: Sandbox, bodies: list[str], fresh_queue_every: int | None) -> float:
    """Orders per second published to a topic whose one subscribed queue nobody consumes; with
    `fresh_queue_every`, the queue is replaced (untimed) so it never holds more than that many."""
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    topic = sns.create_topic(Name=f"bench-raw-{fresh_queue_every or 'all'}")["TopicArn"]
    raw = Pipeline(Target("raw publishing", {"topicArn": topic}, sandbox.endpoint.url))
    chunk = fresh_queue_every or len(bodies)
    publishing = 0.0
    for start in range(0, len(bodies), chunk):
        url, subscription = _subscribed_queue(sandbox, topic, f"bench-raw-{fresh_queue_every or 'all'}-{start}")
        began = time.perf_counter()
        raw.publish(bodies[start : start + chunk])
        publishing += time.perf_counter() - began
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=url)
    return len(bodies) / publishing


def _latencies_ms(orders: list[dict[str, Any]]) -> list[float]:
    return sorted(
        (
            datetime.fromisoformat(o["_pipeline"]["storedAt"]) - datetime.fromisoformat(o["_pipeline"]["receivedAt"])
        ).total_seconds()
        * 1000
        for o in orders
    )


def run(progress: Callable[[str], None], quick: bool = False) -> dict[str, Any]:
    count = 200 if quick else 1000
    rng = random.Random(11)
    bodies = [to_json(sample_order(rng, number)) for number in range(1, count + 1)]
    progress("starting the sandbox (dev stack, its own config)")
    with Sandbox(PROJECT_DIR, "dev") as sandbox:
        progress(f"ceiling: publishing {count} orders to a subscribed queue nobody consumes")
        ceiling = raw_publish_rate(sandbox, bodies, fresh_queue_every=None)
        progress(f"upper bound: publishing {count} orders to a queue kept under {SHALLOW} deep")
        shallow = raw_publish_rate(sandbox, bodies, fresh_queue_every=SHALLOW)
        pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
        dynamodb, table = sandbox.client("dynamodb"), sandbox.outputs["tableName"]

        def processed() -> int:
            # The pollers' own count of deleted (succeeded) messages: free to read, unlike scanning the table.
            return sum(poller.stats.deleted for poller in sandbox.pollers)

        progress(f"end to end: publishing {count} orders and waiting until all are stored")
        began = time.perf_counter()
        pipeline.publish(bodies)
        published = time.perf_counter() - began
        while (done := processed()) < count:
            if time.perf_counter() - began > 600:
                raise RuntimeError(f"only {done} of {count} orders processed after 10 minutes")
            time.sleep(0.02)
        elapsed = time.perf_counter() - began
        stored = int(dynamodb.scan(TableName=table, Select="COUNT")["Count"])
        if stored != count:
            raise RuntimeError(f"{count} orders processed but {stored} in the table")
        latencies = _latencies_ms(pipeline.orders())
        pollers = [vars(poller.stats) | {"_lock": None} for poller in sandbox.pollers]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "orders": count,
        "ceiling_per_second": ceiling,
        "shallow_queue_per_second": shallow,
        "publish_seconds": published,
        "end_to_end_seconds": elapsed,
        "orders_per_second": count / elapsed,
        "latency_ms": {
            "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        },
        "peak_memory_mb": peak_mb,
        "invocations": sum(p["invocations"] for p in pollers),
        "batch_failures": sum(p["batch_failures"] for p in pollers),
        "config": json.dumps({k: v for k, v in sandbox.config.items() if k.startswith("order-pipeline:")}),
    }


def report(results: dict[str, Any]) -> str:
    share = results["orders_per_second"] / results["ceiling_per_second"]
    return "\n".join(
        [
            "| measure | value |",
            "|---|---|",
            f"| emulator ceiling: SNS publish_batch -> subscribed queue, nothing consuming | "
            f"{results['ceiling_per_second']:.0f} orders/s |",
            f"| (upper bound: the same into a queue kept under {SHALLOW} deep) | "
            f"{results['shallow_queue_per_second']:.0f} orders/s |",
            f"| end to end: {results['orders']} orders published -> all stored | "
            f"{results['orders_per_second']:.0f} orders/s ({results['end_to_end_seconds']:.1f} s) |",
            f"| end to end / ceiling | {share:.0%} (target: at least 80%) |",
            f"| end to end / upper bound | {results['orders_per_second'] / results['shallow_queue_per_second']:.0%} |",
            f"| publish -> stored latency | p50 {results['latency_ms']['p50']:.0f} ms, "
            f"p99 {results['latency_ms']['p99']:.0f} ms |",
            f"| invocations (batches) | {results['invocations']}, whole-batch failures {results['batch_failures']} |",
            f"| peak memory of the sandbox process | {results['peak_memory_mb']:.0f} MB (target: under 400 MB) |",
        ]
    )
