"""Handler benchmarks, at Lambda's CPU share: ours against the seeds' style, a power-tuning table, CPU per
order against a bare PutItem, and the cold-start cost of Powertools' batch utility.

Each function runs alone in a fresh interpreter (bench/worker.py) placed in a cgroup whose CPU quota is
Lambda's share for the memory size under test: memory / 1,769 of one CPU. DynamoDB is moto's, served
from this process (outside the cgroup, so its CPU is not the function's) with HTTP keep-alive, as
DynamoDB's endpoint keeps connections; for the latency figures each DynamoDB response leaves no
earlier than 10 ms after its request arrived: the round trip to a table in the same region.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from rich.progress import Progress
from werkzeug.serving import make_server

from bench.checks import Check, at_least, at_most
from bench.child import inherited_environment, start_child
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
# handler/app.py and docs/processor.md: the batch utility "would add about a tenth to the function's init CPU" (a
# share of the init measured in the same interpreter, so the claim holds on a faster or slower machine than this).
CLAIMED_BATCH_IMPORT_SHARE = 0.10
CLAIM_RANGE = (0.07, 0.13)
LATENCY_RATIO_TARGET = 3.0  # ours at most a third of the seeds' style
CPU_RATIO_TARGET = 1.2  # ours at most 1.2x the bare PutItem floor
SIDES = ("ours", "seeds")
CPU_SIDES = ("bare", "ours", "seeds")


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
    return {
        **inherited_environment("AWS_", "POWERTOOLS_"),
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


class Worker:
    """bench.worker in a fresh interpreter: imports at full CPU, then placed in a cgroup with `cpu_share`
    (None: no quota) and told to go."""

    def __init__(self, job: dict[str, Any], environment: dict[str, str], cpu_share: float | None) -> None:
        self.job = job
        self._child = start_child("bench.worker", job, environment)
        self._group: Cgroup | None = None
        try:
            self._expect("ready")
            if cpu_share is not None:
                self._group = Cgroup.create(f"bench-{uuid.uuid4().hex[:8]}", cpu_share=cpu_share, memory_mb=None)
                self._group.add(self._child.pid)
            self._say("go")
        except BaseException:
            self.close()
            raise

    def _say(self, line: str) -> None:
        assert self._child.stdin is not None
        self._child.stdin.write(line + "\n")
        self._child.stdin.flush()

    def _read(self) -> str:
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.worker exited {self._child.wait(timeout=60)} for {self.job}")
        return line.strip()

    def _expect(self, word: str) -> None:
        if (line := self._read()) != word:
            raise RuntimeError(f"bench.worker said {line!r}, not {word!r}, for {self.job}")

    def result(self) -> dict[str, Any]:
        """The job's one JSON line (the import job)."""
        found: dict[str, Any] = json.loads(self._read())
        return found

    def warm(self) -> None:
        self._expect("warm")

    def batch(self) -> dict[str, float]:
        """Runs one measured batch (the batches job)."""
        self._say("next")
        found: dict[str, float] = json.loads(self._read())
        return found

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._child.stdin is not None:
            with contextlib.suppress(OSError):
                self._child.stdin.close()
        try:
            self._child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()
        if self._group is not None:
            self._group.remove()


def interleaved_batches(
    sides: Sequence[str], environment: dict[str, str], cpu_share: float | None, runs: int, warmup: int
) -> dict[str, list[dict[str, float]]]:
    """`runs` batches of each side, one side after the other batch by batch (the first side rotating), each
    side in its own worker and cgroup: every side's figures come from the same minutes of the machine."""
    job = {"kind": "batches", "warmup": warmup}
    measured: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with contextlib.ExitStack() as stack:
        workers = {}
        for side in sides:
            workers[side] = stack.enter_context(Worker(job | {"side": side}, environment, cpu_share))
            workers[side].warm()  # one at a time: a warm-up is not measured, but it would slow the others'
        for run in range(runs):
            first = run % len(sides)
            for side in [*sides[first:], *sides[:first]]:
                measured[side].append(workers[side].batch())
    return measured


def configured_memory() -> dict[str, int]:
    """Each stack's functionMemoryMb, as the Pulumi CLI would hand it to the program."""
    project = Project.load(PROJECT_DIR)
    return {stack: int(stack_config(project, stack)[MEMORY_KEY]) for stack in project.stacks()}


def run(progress: Progress, quick: bool = False) -> dict[str, Any]:
    unavailable = cgroups_unavailable()
    stacks = configured_memory()
    log_level = stack_config(Project.load(PROJECT_DIR), "dev").get("order-pipeline:logLevel", "INFO")
    sizes = sorted({*MEMORY_SIZES_MB, *stacks.values()})
    runs, warmup, cpu_runs, import_rounds = (6, 2, 10, 3) if quick else (20, 3, 100, 15)

    def share(memory_mb: int) -> float | None:
        return None if unavailable else min(1.0, lambda_cpu_share(memory_mb))

    steps = len(sizes) + 2 + import_rounds + 1
    task = progress.add_task("handler benchmarks", total=steps)
    latency: dict[int, dict[str, list[float]]] = {}
    with dynamodb_table() as (endpoint, delay):
        delay.seconds = ROUND_TRIP_SECONDS
        for memory_mb in sizes:
            progress.update(task, description=f"batch latency: ours and the seeds' style, {memory_mb} MB")
            environment = function_environment(endpoint, memory_mb, log_level)
            batches = interleaved_batches(SIDES, environment, share(memory_mb), runs, warmup)
            latency[memory_mb] = {side: [b["wall_ms"] for b in found] for side, found in batches.items()}
            progress.advance(task)
        floor_memory = stacks.get("dev", 256)
        environment = function_environment(endpoint, floor_memory, log_level)
        # CPU per order twice: with the round trip every request meets on Lambda (the checked figure: a request
        # that waits costs more CPU to finish, cold caches and a wake-up), and with none (reported beside it).
        cpu: dict[str, dict[str, float]] = {}
        for round_trip in (ROUND_TRIP_SECONDS, 0.0):
            delay.seconds = round_trip
            where = f"{round_trip * 1000:.0f} ms round trip"
            progress.update(task, description=f"CPU per order: bare PutItem, ours, seeds' style, {where}")
            batches = interleaved_batches(CPU_SIDES, environment, share(floor_memory), cpu_runs, warmup)
            cpu[f"{round_trip * 1000:.0f}"] = {
                side: sum(b["cpu_ms"] for b in found) / (len(found) * BATCH) for side, found in batches.items()
            }
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
        "cpu_runs": cpu_runs,
        "cpu_ms_per_order": cpu[f"{ROUND_TRIP_SECONDS * 1000:.0f}"],
        "cpu_ms_per_order_no_wait": cpu["0"],
        "batch_import_ms": imports,
    }


def _import_once(environment: dict[str, str], cpu_share: float | None) -> dict[str, float]:
    with Worker({"kind": "import"}, environment, cpu_share) as worker:
        return worker.result()


def batch_import_cost(rounds: int, cpu_share: float | None, progress: Progress, task: Any) -> dict[str, float]:
    """In fresh interpreters at the share: the function's init, and importing Powertools' batch utility on top
    of it; medians, and the median of each run's ratio of the two in CPU time (wall time at a share depends on
    where the quota's period falls, not on the work)."""
    environment = function_environment("http://127.0.0.1:9", 256, "INFO")
    _import_once(environment, None)  # writes the bytecode caches: compiling is not measured
    progress.advance(task)
    runs: list[dict[str, float]] = []
    for _ in range(rounds):
        progress.update(task, description=f"cold start: import {BATCH_UTILITY}")
        runs.append(_import_once(environment, cpu_share))
        progress.advance(task)
    return {
        "init_ms": statistics.median(r["init_ms"] for r in runs),
        "batch_ms": statistics.median(r["wall_ms"] for r in runs),
        "batch_cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        "init_cpu_ms": statistics.median(r["init_cpu_ms"] for r in runs),
        "share_of_init": statistics.median(r["cpu_ms"] / r["init_cpu_ms"] for r in runs),
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
    found.append(
        at_most(
            SUITE,
            f"CPU per order, ours / bare PutItem ({results['cpu_memory_mb']} MB, "
            f"{results['round_trip_ms']:.0f} ms round trip)",
            results["cpu_ms_per_order"]["ours"] / results["cpu_ms_per_order"]["bare"],
            CPU_RATIO_TARGET,
            unit="x",
            fmt=".2f",
        )
    )
    share = results["batch_import_ms"]["share_of_init"]
    low, high = CLAIM_RANGE
    found.append(
        Check(
            SUITE,
            "Powertools' batch utility, added to the function's init",
            f"{share:.0%}",
            f"about {CLAIMED_BATCH_IMPORT_SHARE:.0%} as claimed ({low:.0%}-{high:.0%})",
            low <= share <= high,
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
    still = results["cpu_ms_per_order_no_wait"]
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
        f"CPU per order at {results['cpu_memory_mb']} MB's share (the process's CPU time over {results['cpu_runs']} "
        f"batches of each, interleaved), {results['round_trip_ms']:.0f} ms round trip: bare boto3 PutItem "
        f"{cpu['bare']:.2f} ms, ours {cpu['ours']:.2f} ms ({cpu['ours'] / cpu['bare']:.2f}x), seeds' style "
        f"{cpu['seeds']:.2f} ms ({cpu['seeds'] / cpu['bare']:.2f}x); no wait: bare {still['bare']:.2f} ms, ours "
        f"{still['ours']:.2f} ms ({still['ours'] / still['bare']:.2f}x), seeds' style {still['seeds']:.2f} ms "
        f"({still['seeds'] / still['bare']:.2f}x).",
        "",
        f"Cold start, fresh interpreters at {results['cpu_memory_mb']} MB's share (median): the function's init "
        f"(importing handler.app: boto3, Logger, Metrics, the DynamoDB client) {imports['init_ms']:.0f} ms "
        f"({imports['init_cpu_ms']:.0f} ms of CPU); importing `{BATCH_UTILITY}` on top {imports['batch_ms']:.0f} ms "
        f"({imports['batch_cpu_ms']:.0f} ms of CPU): {imports['share_of_init']:.0%} more init CPU.",
    ]
    return _rows(power)
