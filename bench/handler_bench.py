"""Handler benchmarks, at Lambda's CPU share: ours against the seeds' style, a power-tuning table, CPU per
order against a bare PutItem, and the cold-start cost of Powertools' batch utility.

Each function runs alone in a fresh interpreter (bench/worker.py) placed in a cgroup whose CPU quota is
Lambda's share for the memory size under test: memory / 1,769 of one CPU. DynamoDB is moto's, served
from this process (outside the cgroup, so its CPU is not the function's) with HTTP keep-alive, as
DynamoDB's endpoint keeps connections; for the latency figures each DynamoDB response leaves no
earlier than 10 ms after its request arrived: the round trip to a table in the same region.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from rich.progress import Progress
from werkzeug.serving import make_server

from bench.checks import Check, at_least, at_most
from bench.pricing import MEMORY_SIZES_MB, PRICE_PER_GB_SECOND, PRICING_PAGE, PowerSetting, recommend
from bench.worker import BATCH, BATCH_UTILITY
from sandbox.cgroups import Cgroup, cgroups_unavailable, lambda_cpu_share
from sandbox.http_keep_alive import KeepAliveRequestHandler
from sandbox.program import Project, stack_config

SUITE = "handler"
PROJECT_DIR = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
TABLE = "orders-bench"
ROUND_TRIP_SECONDS = 0.010
MEMORY_KEY = "order-pipeline:functionMemoryMb"
CLAIMED_BATCH_IMPORT_MS = 45.0  # README and handler/app.py: "~45 ms added to every cold start"
CLAIM_TOLERANCE = 0.2  # "~": within 20%
LATENCY_RATIO_TARGET = 3.0  # ours at most a third of the seeds' style
CPU_RATIO_TARGET = 1.2  # ours at most 1.2x the bare PutItem floor
SIDES = ("ours", "seeds")


class RoundTripDelay:
    """WSGI middleware: a DynamoDB response leaves no earlier than `seconds` after its request arrived."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        arrived = time.perf_counter()
        response = self.app(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            remaining = self.seconds - (time.perf_counter() - arrived)
            if remaining > 0:
                time.sleep(remaining)
        return response


@contextmanager
def dynamodb_table() -> Iterator[tuple[str, RoundTripDelay]]:
    """moto on a free loopback port with one orders table; yields the endpoint and the delay to set."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # no line per request
    delay = RoundTripDelay(DomainDispatcherApplication(create_backend_app), 0.0)
    server = make_server("127.0.0.1", 0, delay, threaded=True, request_handler=KeepAliveRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="bench-dynamodb", daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    try:
        boto3.client(
            "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="b"
        ).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield endpoint, delay
    finally:
        server.shutdown()
        thread.join()


def function_environment(endpoint: str, memory_mb: int, log_level: str) -> dict[str, str]:
    """What Lambda gives the function (as the stack configures it), pointed at the benchmark's table."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    return {
        **inherited,
        "PYTHONPATH": str(PROJECT_DIR),
        "TABLE_NAME": TABLE,
        "MAX_RECEIVE_COUNT": "3",
        "LOG_LEVEL": log_level,
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_SERVICE_NAME": "orders-bench",
        "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineBench",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": "orders-bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
    }


def run_worker(job: dict[str, Any], environment: dict[str, str], cpu_share: float | None) -> dict[str, Any]:
    """Starts bench.worker, lets it import at full CPU, places it in a cgroup with cpu_share (None: no
    quota), lets it run the job, and returns its results."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", json.dumps(job)],
        env=environment,
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    group = None
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"bench.worker failed to start for {job}")
        if cpu_share is not None:
            group = Cgroup.create(f"bench-{uuid.uuid4().hex[:8]}", cpu_share=cpu_share, memory_mb=None)
            group.add(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        line = child.stdout.readline()
        if child.wait(timeout=600) != 0 or not line:
            raise RuntimeError(f"bench.worker exited {child.returncode} for {job}")
        result: dict[str, Any] = json.loads(line)
        return result
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if group is not None:
            group.remove()


def configured_memory() -> dict[str, int]:
    """Each stack's functionMemoryMb, as the Pulumi CLI would hand it to the program."""
    project = Project.load(PROJECT_DIR)
    return {stack: int(stack_config(project, stack)[MEMORY_KEY]) for stack in project.stacks()}


def run(progress: Progress, quick: bool = False) -> dict[str, Any]:
    unavailable = cgroups_unavailable()
    stacks = configured_memory()
    log_level = stack_config(Project.load(PROJECT_DIR), "dev").get("order-pipeline:logLevel", "INFO")
    sizes = sorted({*MEMORY_SIZES_MB, *stacks.values()})
    runs, warmup, cpu_rounds, import_rounds = (6, 2, 1, 3) if quick else (20, 3, 3, 15)

    def share(memory_mb: int) -> float | None:
        return None if unavailable else min(1.0, lambda_cpu_share(memory_mb))

    steps = len(sizes) * len(SIDES) + cpu_rounds * 3 + import_rounds * 2
    task = progress.add_task("handler benchmarks", total=steps)
    latency: dict[int, dict[str, list[float]]] = {}
    cpu: dict[str, list[float]] = {"bare": [], "ours": [], "seeds": []}
    with dynamodb_table() as (endpoint, delay):
        delay.seconds = ROUND_TRIP_SECONDS
        for memory_mb in sizes:
            environment = function_environment(endpoint, memory_mb, log_level)
            latency[memory_mb] = {}
            for side in SIDES:
                progress.update(task, description=f"batch latency: {side}, {memory_mb} MB")
                job = {"kind": "batches", "side": side, "runs": runs, "warmup": warmup}
                latency[memory_mb][side] = run_worker(job, environment, share(memory_mb))["wall_ms"]
                progress.advance(task)
        delay.seconds = 0.0  # CPU per order: no network wait to blur it
        floor_memory = stacks.get("dev", 256)
        environment = function_environment(endpoint, floor_memory, log_level)
        for _ in range(cpu_rounds):
            for side, samples in cpu.items():  # interleaved, so each side sees the same machine load
                progress.update(task, description=f"CPU per order: {side}, {floor_memory} MB")
                job = {"kind": "batches", "side": side, "runs": runs * 2, "warmup": warmup}
                result = run_worker(job, environment, share(floor_memory))
                samples.append(result["cpu_seconds"] * 1000 / result["orders"])
                progress.advance(task)
    imports = batch_import_cost(import_rounds, share(floor_memory), progress, task)
    return {
        "cgroups_unavailable": unavailable,
        "configured_memory_mb": stacks,
        "log_level": log_level,
        "round_trip_ms": ROUND_TRIP_SECONDS * 1000,
        "runs": runs,
        "latency_ms": {str(m): {side: statistics.median(s) for side, s in by.items()} for m, by in latency.items()},
        "latency_mean_ms": {str(m): {side: statistics.fmean(s) for side, s in by.items()} for m, by in latency.items()},
        "latency_p90_ms": {
            str(m): {side: statistics.quantiles(s, n=10)[-1] for side, s in by.items()} for m, by in latency.items()
        },
        "cpu_memory_mb": floor_memory,
        "cpu_ms_per_order": {side: statistics.median(samples) for side, samples in cpu.items()},
        "batch_import_ms": imports,
    }


def batch_import_cost(rounds: int, cpu_share: float | None, progress: Progress, task: Any) -> dict[str, float]:
    """Importing Powertools' batch utility in a fresh interpreter where boto3, Logger and Metrics are
    loaded: at full CPU and at the share, interleaved round by round; medians."""
    environment = function_environment("http://127.0.0.1:9", 256, "INFO")
    run_worker({"kind": "import"}, environment, None)  # writes the bytecode caches: compiling is not measured
    full: list[dict[str, float]] = []
    shared: list[dict[str, float]] = []
    for _ in range(rounds):
        progress.update(task, description=f"cold start: import {BATCH_UTILITY}")
        full.append(run_worker({"kind": "import"}, environment, None))
        progress.advance(task)
        shared.append(run_worker({"kind": "import"}, environment, cpu_share))
        progress.advance(task)
    return {
        "full_cpu_wall": statistics.median(r["wall_ms"] for r in full),
        "full_cpu_cpu": statistics.median(r["cpu_ms"] for r in full),
        "share_wall": statistics.median(r["wall_ms"] for r in shared),
    }


def power_table(results: dict[str, Any], side: str = "ours") -> list[PowerSetting]:
    """Per memory size, the mean batch duration: what Lambda bills, and what Power Tuning reports."""
    return [
        PowerSetting(int(memory), by_side[side], BATCH)
        for memory, by_side in sorted(results["latency_mean_ms"].items(), key=lambda item: int(item[0]))
    ]


def latency_ratio(results: dict[str, Any], memory_mb: int) -> float:
    """The seeds' style's median batch latency over ours, at one memory size."""
    medians = results["latency_ms"][str(memory_mb)]
    return float(medians["seeds"] / medians["ours"])


def checks(results: dict[str, Any]) -> list[Check]:
    found: list[Check] = []
    if results["cgroups_unavailable"]:
        found.append(Check(SUITE, "Lambda's CPU share enforced", "no", "cgroup CPU quota", False))
    mean = results["latency_mean_ms"]
    at_256 = PowerSetting(256, mean["256"]["ours"], BATCH).cost_per_million_orders
    stacks_by_memory: dict[int, list[str]] = {}
    for stack, memory in sorted(results["configured_memory_mb"].items()):
        stacks_by_memory.setdefault(memory, []).append(stack)
    for memory, stacks in sorted(stacks_by_memory.items()):
        where = f"{', '.join(stacks)} stack ({memory} MB)"
        ratio = latency_ratio(results, memory)
        figure = f"{where}: seeds' style / ours, batch latency"
        found.append(at_least(SUITE, figure, ratio, LATENCY_RATIO_TARGET, unit="x"))
        cost = PowerSetting(memory, mean[str(memory)]["ours"], BATCH).cost_per_million_orders
        found.append(at_most(SUITE, f"{where}: $ per million orders, vs 256 MB", cost, at_256, unit="", fmt=".4f"))
    cpu = results["cpu_ms_per_order"]
    found.append(
        at_most(
            SUITE,
            f"CPU per order, ours / bare PutItem ({results['cpu_memory_mb']} MB)",
            cpu["ours"] / cpu["bare"],
            CPU_RATIO_TARGET,
            unit="x",
            fmt=".2f",
        )
    )
    imported = results["batch_import_ms"]["full_cpu_wall"]
    low, high = CLAIMED_BATCH_IMPORT_MS * (1 - CLAIM_TOLERANCE), CLAIMED_BATCH_IMPORT_MS * (1 + CLAIM_TOLERANCE)
    found.append(
        Check(
            SUITE,
            "cold start added by Powertools' batch utility (full CPU)",
            f"{imported:.0f} ms",
            f"~{CLAIMED_BATCH_IMPORT_MS:.0f} ms as claimed ({low:.0f}-{high:.0f})",
            low <= imported <= high,
        )
    )
    return found


def _rows(lines: Iterable[str]) -> str:
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    latency, p90 = results["latency_ms"], results["latency_p90_ms"]
    settings = power_table(results)
    best = recommend(settings, lambda s: latency_ratio(results, s.memory_mb) >= LATENCY_RATIO_TARGET)
    configured = sorted(set(results["configured_memory_mb"].values()))
    cpu, imports = results["cpu_ms_per_order"], results["batch_import_ms"]
    quota = "no CPU quota (cgroups unavailable)" if results["cgroups_unavailable"] else "memory/1769 of one CPU"
    power = [
        f"Batch of {BATCH} new orders, {results['round_trip_ms']:.0f} ms per DynamoDB round trip, {quota}; "
        f"{results['runs']} batches per cell; log level {results['log_level']}. Billed from the mean duration. Price: "
        f"${PRICE_PER_GB_SECOND:.10f} per GB-second + $0.20 per million requests (x86, us-east-1, {PRICING_PAGE}); "
        "billed per 1 ms.",
        "",
        "| memory | CPU share | ours: batch ms, median (p90) | mean | billed GB-s per batch | $ per million orders "
        "| seeds' style: median | seeds / ours, medians |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in settings:
        memory = str(setting.memory_mb)
        seeds = latency[memory]["seeds"]
        marks = " (configured)" * (setting.memory_mb in configured) + " (recommended)" * (setting is best)
        cells = [
            f"{memory} MB{marks}",
            f"{setting.cpu_share:.3f}",
            f"{latency[memory]['ours']:.1f} ({p90[memory]['ours']:.1f})",
            f"{setting.batch_ms:.1f}",
            f"{setting.gb_seconds:.6f}",
            f"${setting.cost_per_million_orders:.4f}",
            f"{seeds:.1f}",
            f"{latency_ratio(results, setting.memory_mb):.1f}x",
        ]
        power.append(f"| {' | '.join(cells)} |")
    power += [
        "",
        f"Recommended: {best.memory_mb} MB: the cheapest per million orders among the sizes where ours takes at "
        f"most a third of the seeds' style's batch latency (when none does: the cheapest).",
        "",
        f"CPU per order at {results['cpu_memory_mb']} MB's share, no network wait (the process's CPU time over "
        f"the measured batches, median of rounds): bare boto3 PutItem {cpu['bare']:.2f} ms, ours "
        f"{cpu['ours']:.2f} ms ({cpu['ours'] / cpu['bare']:.2f}x), seeds' style {cpu['seeds']:.2f} ms "
        f"({cpu['seeds'] / cpu['bare']:.2f}x).",
        "",
        f"Cold start added by importing `{BATCH_UTILITY}` after boto3, Logger and Metrics (fresh interpreters, "
        f"median): {imports['full_cpu_wall']:.0f} ms at full CPU ({imports['full_cpu_cpu']:.0f} ms of CPU), "
        f"{imports['share_wall']:.0f} ms at {results['cpu_memory_mb']} MB's share.",
    ]
    return _rows(power)
