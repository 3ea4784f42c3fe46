"""`python -m bench.service_times [--out capacity/service_times.json] [--quick]`: measures what the capacity model
(capacity/model.py) reads of our function, and writes it.

- Batch duration per memory size and records per batch (1 and 10): our handler (`handler.app`, as deployed) in a
  fresh interpreter (bench/worker.py) under a cgroup CPU quota of memory / 1,769 of one CPU, as Lambda gives that
  memory, writing to moto's DynamoDB served from this process; each DynamoDB response leaves no earlier than 10 ms
  after its request arrived: AWS documents single-digit millisecond latency for on-demand tables ("DynamoDB
  on-demand capacity mode"), and 10 ms is the top of that range plus the in-Region network, as in
  bench/handler_bench.py. Mean (what Lambda bills) and p99 of each cell.
- Log bytes per order: everything the handler writes to stdout (Powertools' JSON lines, EMF metrics) over
  batches of 10 at the stack's log level, per order; plus per invocation the `platform.start` and
  `platform.report` records Lambda adds in the JSON log format, as sandbox/logs.py writes them.
- Item bytes: one stored order (with its `_pipeline` metadata) as DynamoDB counts item size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from bench.handler_bench import (
    REGION,
    ROUND_TRIP_SECONDS,
    TABLE,
    Worker,
    dynamodb_table,
    function_environment,
)
from bench.worker import BATCH
from capacity.model import SERVICE_TIMES_FILE, dynamodb_item_bytes
from sandbox.cgroups import cgroups_unavailable, lambda_cpu_share
from sandbox.logs import LogConfig, Report, end_records, start_record

MEMORY_SIZES_MB = (128, 256, 512, 1024, 1536, 1769)
RECORDS = (1, BATCH)
COMMAND = "python -m bench.service_times"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure_batches(endpoint: str, memory_mb: int, records: int, runs: int, warmup: int) -> list[float]:
    share = None if cgroups_unavailable() else min(1.0, lambda_cpu_share(memory_mb))
    job = {"kind": "batches", "warmup": warmup, "side": "ours", "records": records}
    with Worker(job, function_environment(endpoint, memory_mb, "INFO"), share) as worker:
        worker.warm()
        return [worker.batch()["wall_ms"] for _ in range(runs)]


def log_bytes_per_order(endpoint: str, runs: int) -> float:
    """What the handler writes to stdout per order, over `runs` batches of 10 after the first (the init's lines)."""
    with tempfile.TemporaryDirectory() as folder:
        log_file = Path(folder) / "stdout.log"
        job = {"kind": "batches", "warmup": 1, "side": "ours", "log_file": str(log_file)}
        with Worker(job, function_environment(endpoint, 1024, "INFO"), None) as worker:
            worker.warm()
            before = log_file.stat().st_size
            for _ in range(runs):
                worker.batch()
            after = log_file.stat().st_size
    return (after - before) / (runs * BATCH)


def platform_bytes_per_invocation() -> float:
    """Lambda's own records per invocation in the JSON log format (platform.start, platform.report), with a line
    break each."""
    config = LogConfig("/aws/lambda/orders", log_format="JSON")
    request_id = str(uuid.uuid4())
    now = time.time()
    start = start_record(config, request_id, now) or ""
    report = end_records(config, Report(request_id, 33.21, 1024, 112, None), now)
    return float(sum(len(line.encode()) + 1 for line in [start, *report]))


def stored_item_bytes(endpoint: str) -> float:
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="b"
    )
    items = client.scan(TableName=TABLE, Limit=20)["Items"]
    return statistics.median(dynamodb_item_bytes(item) for item in items)


def measure(quick: bool) -> dict[str, Any]:
    runs, warmup = (5, 1) if quick else (30, 3)
    means: dict[str, dict[str, float]] = {}
    p99s: dict[str, dict[str, float]] = {}
    medians: dict[str, dict[str, float]] = {}
    with dynamodb_table() as (endpoint, delay):
        delay.seconds = ROUND_TRIP_SECONDS
        for memory in MEMORY_SIZES_MB:
            for records in RECORDS:
                durations = measure_batches(endpoint, memory, records, runs, warmup)
                means.setdefault(str(memory), {})[str(records)] = round(statistics.fmean(durations), 2)
                medians.setdefault(str(memory), {})[str(records)] = round(statistics.median(durations), 2)
                p99s.setdefault(str(memory), {})[str(records)] = round(_percentile(durations, 0.99), 2)
                print(f"{memory} MB, {records} records: mean {means[str(memory)][str(records)]} ms", flush=True)
        logs = log_bytes_per_order(endpoint, 5 if quick else 20)
        item = stored_item_bytes(endpoint)
    return {
        "generated": datetime.now(tz=UTC).date().isoformat(),
        "command": COMMAND,
        "conditions": {
            "cpu_share": "memory / 1769 of one CPU (cgroup v1 quota over a 20 ms period)"
            + (" -- NOT ENFORCED: cgroups unavailable" if cgroups_unavailable() else ""),
            "dynamodb_round_trip_ms": ROUND_TRIP_SECONDS * 1000,
            "dynamodb_round_trip_source": "AWS: on-demand tables deliver single-digit millisecond latency "
            "(DynamoDB developer guide, DynamoDB on-demand capacity mode, read 2026-12-03); 10 ms = the top of "
            "that range plus the in-Region network",
            "batches_per_cell": runs,
            "host": "the 2-core development VM; Lambda's cores are faster, so these durations are upper bounds",
            "log_level": "INFO",
        },
        "batch_mean_ms": means,
        "batch_median_ms": medians,
        "batch_p99_ms": p99s,
        "log_bytes_per_order": round(logs, 1),
        "log_bytes_per_invocation": platform_bytes_per_invocation(),
        "item_bytes": item,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__)
    parser.add_argument("--out", type=Path, default=SERVICE_TIMES_FILE)
    parser.add_argument("--quick", action="store_true", help="fewer batches: a smoke test, not figures to keep")
    arguments = parser.parse_args()
    found = measure(arguments.quick)
    arguments.out.write_text(json.dumps(found, indent=2) + "\n")
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
