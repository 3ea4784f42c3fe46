"""Calibration: the capacity simulation (capacity/simulate.py) against the sandbox, on the same inputs.

The dev stack runs in the sandbox with `maximumConcurrency` 2 and then 5; in each, orders are published open-loop
(a PublishBatch of 10 on each tick, on up to four threads, as sandbox_bench's paced phase does) at a steady rate
and as a step. Each order's publish (SNS `Timestamp`, `_pipeline.receivedAt`) and store (`storedAt`) times give
the measured throughput (orders over first publish to last store), p50 and p99 publish-to-stored latency and the
peak backlog (orders published and not yet stored, at 10 ms).

The simulation replays the same publishes (each call's orders at the instant SNS stamped them, at 10 ms) with the
sandbox's parameters, measured in the same scenario by timing the sandbox's own calls (the bench wraps the
pollers' ReceiveMessage and DeleteMessageBatch and the environments' invocations; nothing is changed): the
function's duration per batch, fitted as a + b x records; the receive and the delete around each batch; how many
receives one poller thread can make a second; the sandbox's mapping starts at `maximumConcurrency` at once (no
5-then-300-a-minute ramp). Where the sandbox departs from AWS it is given the sandbox's parameters, as
docs/capacity.md says; the answers use AWS's.

Target: each simulated figure within 25% of the measured one, or the bench exits 1.
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress

from bench.checks import Check
from capacity.model import Platform, ServiceTimes, StackSettings
from capacity.simulate import Arrivals, simulate
from orderctl.pipeline import Pipeline
from orderctl.samples import sample_order, to_json
from orderctl.target import Target
from sandbox.runner import Sandbox

SUITE = "calibration"
PROJECT_DIR = Path(__file__).resolve().parents[1]
TOLERANCE = 0.25
PUBLISHERS = 4
RESOLUTION = 0.01


@dataclass(frozen=True)
class Scenario:
    name: str
    concurrency: int
    rates: tuple[tuple[float, float], ...]  # (seconds, orders/s) phases

    @property
    def orders(self) -> int:
        return sum(round(seconds * rate / 10) * 10 for seconds, rate in self.rates)


SCENARIOS = (
    Scenario("steady 30/s, max concurrency 2", 2, ((20, 30),)),
    Scenario("steady 60/s, max concurrency 2", 2, ((20, 60),)),
    Scenario("steady 60/s, max concurrency 5", 5, ((20, 60),)),
    Scenario("step 30/s -> 150/s, max concurrency 5", 5, ((8, 30), (12, 150))),
)
QUICK = (
    Scenario("steady 30/s, max concurrency 2", 2, ((8, 30),)),
    Scenario("step 30/s -> 120/s, max concurrency 5", 5, ((4, 30), (6, 120))),
)


class _Timings:
    """Durations of the sandbox's own calls, taken by wrapping them (thread-safe lists)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations: list[tuple[int, float]] = []  # (records, seconds)
        self.started: list[tuple[float, list[str]]] = []  # (epoch seconds an invocation began, its records' bodies)
        self.receives: list[tuple[int, float]] = []  # (messages, seconds) of each receive that brought some
        self.deletes: list[float] = []

    def clear(self) -> None:
        with self.lock:
            self.invocations.clear()
            self.receives.clear()
            self.deletes.clear()
            self.started.clear()

    def timed(self, into: Callable[[float, Any, Any], None], call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            answer = call(*args, **kwargs)
            with self.lock:
                into(time.perf_counter() - started, args, answer)
            return answer

        return wrapper


@contextlib.contextmanager
def instrumented(sandbox: Sandbox) -> Iterator[_Timings]:
    """Times every poller's receives (those that brought messages), deletes and invocations."""
    timings = _Timings()
    restore: list[tuple[Any, str, Any]] = []
    for poller in sandbox.pollers:
        # Measuring the sandbox's own calls (instance attributes over the methods), not changing what they do.
        sqs, pool = poller._sqs, poller.pool
        restore += [(sqs, "receive_message", None), (sqs, "delete_message_batch", None), (pool, "invoke", None)]

        def received(seconds: float, _: Any, answer: Any) -> None:
            if answer.get("Messages"):
                timings.receives.append((len(answer["Messages"]), seconds))

        def deleted(seconds: float, _: Any, __: Any) -> None:
            timings.deletes.append(seconds)

        def invoked(seconds: float, args: Any, _: Any) -> None:
            records = args[0]["Records"]
            timings.invocations.append((len(records), seconds))
            timings.started.append((time.time() - seconds, [record["body"] for record in records]))

        sqs.receive_message = timings.timed(received, sqs.receive_message)
        sqs.delete_message_batch = timings.timed(deleted, sqs.delete_message_batch)
        pool.invoke = timings.timed(invoked, pool.invoke)  # type: ignore[method-assign]
    try:
        yield timings
    finally:
        for owner, name, _ in restore:
            with contextlib.suppress(AttributeError):
                delattr(owner, name)  # the instance's wrapper goes; the method is the class's again


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares a + b x over (x, y); with one x only, a flat line through its median."""
    xs = {x for x, _ in points}
    if len(xs) < 2:
        return statistics.median(y for _, y in points), 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return mean_y - slope * mean_x, slope


def publish_open_loop(pipeline: Pipeline, bodies: list[str], scenario: Scenario) -> None:
    """Ten orders a tick, each call on time whatever the previous one's answer (open-loop)."""
    ticks: list[float] = []
    at = 0.0
    for seconds, rate in scenario.rates:
        ticks += [at + i * 10 / rate for i in range(round(seconds * rate / 10))]
        at += seconds
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PUBLISHERS, thread_name_prefix="calibration-publisher") as publishers:
        calls = []
        for index, tick in enumerate(ticks):
            delay = began + tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            calls.append(publishers.submit(pipeline.publish, bodies[index * 10 : index * 10 + 10]))
        for call in calls:
            call.result()


def _wait_stored(sandbox: Sandbox, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while sum(poller.stats.deleted for poller in sandbox.pollers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"calibration: {count} orders not processed within {timeout:.0f} s")
        time.sleep(0.05)


def _times(order: dict[str, Any]) -> tuple[float, float]:
    meta = order["_pipeline"]
    return datetime.fromisoformat(meta["receivedAt"]).timestamp(), datetime.fromisoformat(meta["storedAt"]).timestamp()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measured_figures(pairs: list[tuple[float, float]]) -> dict[str, float]:
    first = min(p for p, _ in pairs)
    last = max(s for _, s in pairs)
    latencies = [(s - p) * 1000 for p, s in pairs]
    events = sorted([(p - first, 1) for p, _ in pairs] + [(s - first, -1) for _, s in pairs])
    backlog = peak = 0
    for _, change in events:
        backlog += change
        peak = max(peak, backlog)
    return {
        "throughput": len(pairs) / (last - first),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "peak_backlog": float(peak),
    }


def _order_id(body: str) -> str:
    message = json.loads(body)
    order = json.loads(message["Message"]) if "Message" in message else message
    return str(order["orderId"])


def overload_rate(pairs: list[tuple[float, float]], backlog: int, least_seconds: float = 2.0) -> float | None:
    """Orders stored per second while more than `backlog` were waiting, if that lasted `least_seconds`: the
    sandbox's ceiling in this very run (its two cores are shared with the publisher, so a ceiling measured apart
    varies with what else runs)."""
    events = sorted([(p, 1) for p, _ in pairs] + [(s, -1) for _, s in pairs])
    waiting, since, spans = 0, None, []
    for at, change in events:
        waiting += change
        if waiting > backlog and since is None:
            since = at
        elif waiting <= backlog and since is not None:
            spans.append((since, at))
            since = None
    spans = [(a, b) for a, b in spans if b - a >= least_seconds]
    if not spans:
        return None
    seconds = sum(b - a for a, b in spans)
    stores = sum(1 for _, s in pairs if any(a <= s < b for a, b in spans))
    return stores / seconds


def sandbox_parameters(timings: _Timings, concurrency: int, times: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The sandbox's times in this scenario; `times` is each order's publish and store time (epoch seconds)."""
    stored = {key: s for key, (_, s) in times.items()}
    with timings.lock:
        invocations = list(timings.invocations)
        receives, deletes = list(timings.receives), list(timings.deletes)
        started = list(timings.started)
    base, per_record = fit_line([(n, s * 1000) for n, s in invocations])
    offsets, pickups = [], []
    for began, bodies in started:
        for body in bodies:
            order_id = _order_id(body)
            if order_id in stored:
                offsets.append((len(bodies), (stored[order_id] - began) * 1000))
                pickups.append((began - times[order_id][0]) * 1000)
    store_base, store_per_record = fit_line(offsets)
    # From publish to the invocation's start with no wait for a poller: SNS's delivery, the long poll's return and
    # the receive (its 10th percentile: the orders that found a poller idle).
    pickup_ms = max(0.0, percentile(pickups, 0.1)) if pickups else 0.0
    # The spread of the durations around the fitted line, in the order they happened (a deterministic replay).
    factors = [s * 1000 / max(0.1, base + per_record * n) for n, s in invocations]
    # A receive's time includes its long-poll wait for the first message when the queue was empty: the median is
    # what the one poller thread spends per receive (saturation is the measured ceiling's, not this).
    receive_ms = statistics.median(s for _, s in receives) * 1000 if receives else 0.0
    receive_pace_ms = receive_ms
    return {
        "concurrency": concurrency,
        "invocations": len(invocations),
        "mean_records": statistics.fmean(n for n, _ in invocations),
        "duration_base_ms": base,
        "duration_per_record_ms": per_record,
        "receive_ms": receive_ms,
        "receive_pace_ms": receive_pace_ms,
        "delete_ms": statistics.fmean(deletes) * 1000 if deletes else 0.0,
        "store_base_ms": store_base,
        "store_per_record_ms": store_per_record,
        "pickup_ms": pickup_ms,
        "duration_factors": factors,
        "duration_spread_p90": percentile(factors, 0.9) if factors else 1.0,
    }


def simulated_figures(
    arrivals: Arrivals, parameters: dict[str, Any], settings: StackSettings, cap: float | None
) -> dict[str, float]:
    base, per_record = parameters["duration_base_ms"], parameters["duration_per_record_ms"]
    times = ServiceTimes(
        batches_ms={settings.memory_mb: {1: max(0.1, base + per_record), 10: max(0.1, base + 10 * per_record)}},
        p99_ms={settings.memory_mb: {1: 0.0, 10: 0.0}},
        log_bytes_per_order=0.0,
        log_bytes_per_invocation=0.0,
        item_bytes=400.0,
    )
    concurrency = int(parameters["concurrency"])
    platform = Platform(
        "sandbox",
        esm_initial=concurrency,
        esm_scale_up_per_second=1e9,
        esm_max=concurrency,
        function_scale_up_per_second=1e9,
        poll_overhead_ms=parameters["receive_ms"] + parameters["delete_ms"],
        poll_starts_per_second=1000 / parameters["receive_pace_ms"] if parameters["receive_pace_ms"] > 0 else None,
        pre_invoke_ms=parameters["pickup_ms"],
        store_base_ms=parameters["store_base_ms"],
        store_per_record_ms=parameters["store_per_record_ms"],
        duration_factors=tuple(parameters["duration_factors"]),
        consumer_cap_per_second=cap,
    )
    stack = replace(settings, maximum_concurrency=concurrency)
    result = simulate(stack, times, arrivals, platform=platform, dt=RESOLUTION)
    return {
        "throughput": result.throughput,
        "p50_ms": result.percentile_ms(0.5),
        "p99_ms": result.percentile_ms(0.99),
        "peak_backlog": result.peak_backlog,
    }


def run_scenario(
    sandbox: Sandbox, pipeline: Pipeline, scenario: Scenario, rng: random.Random, start: int, *, cap: float
) -> dict[str, Any]:
    bodies = [to_json(sample_order(rng, start + n)) for n in range(scenario.orders)]
    ids = {json.loads(body)["orderId"] for body in bodies}
    before = sum(poller.stats.deleted for poller in sandbox.pollers)
    with instrumented(sandbox) as timings:
        publish_open_loop(pipeline, bodies, scenario)
        _wait_stored(sandbox, before + len(bodies))
    times = {str(order["orderId"]): _times(order) for order in pipeline.orders() if order["orderId"] in ids}
    parameters = sandbox_parameters(timings, scenario.concurrency, times)
    pairs = list(times.values())
    overloaded = overload_rate(pairs, 2 * 10 * scenario.concurrency)
    if overloaded is not None:
        cap = overloaded
    if len(pairs) != len(bodies):
        raise RuntimeError(f"calibration: {len(bodies)} published, {len(pairs)} stored")
    first = min(p for p, _ in pairs)
    published = [(p - first, 1) for p, _ in pairs]
    arrivals = Arrivals.replay(scenario.name, published, RESOLUTION)
    settings = StackSettings.from_config(sandbox.config, "dev")
    return {
        "scenario": scenario.name,
        "orders": len(bodies),
        "parameters": parameters,
        "measured": measured_figures(pairs),
        "ceiling": cap,
        "overloaded": overloaded is not None,
        "published_s": [round(t, 4) for t, _ in published],  # the replayed input, kept to re-simulate offline
        "stored_s": [round(s - first, 4) for _, s in pairs],
        "simulated": simulated_figures(arrivals, parameters, settings, cap),
    }


def _warm(sandbox: Sandbox, pipeline: Pipeline, rng: random.Random, concurrency: int) -> None:
    """A batch per environment first: cold starts (seconds at the CPU share) are not what is compared."""
    bodies = [to_json(sample_order(rng, 900_000 + n)) for n in range(10 * concurrency * 2)]
    before = sum(poller.stats.deleted for poller in sandbox.pollers)
    pipeline.publish(bodies)
    _wait_stored(sandbox, before + len(bodies))


def ceiling(sandbox: Sandbox, pipeline: Pipeline, rng: random.Random, count: int) -> float:
    """The sandbox's own ceiling on this machine, measured apart from the scenarios: `count` orders published as
    fast as the emulator takes them, orders stored per second from the first publish to the last store (its two
    cores shared by the emulator, the publisher and the environments)."""
    bodies = [to_json(sample_order(rng, 800_000 + n)) for n in range(count)]
    ids = {json.loads(body)["orderId"] for body in bodies}
    before = sum(poller.stats.deleted for poller in sandbox.pollers)
    with ThreadPoolExecutor(max_workers=PUBLISHERS, thread_name_prefix="calibration-ceiling") as publishers:
        for call in [publishers.submit(pipeline.publish, bodies[i : i + 10]) for i in range(0, count, 10)]:
            call.result()
    _wait_stored(sandbox, before + count)
    pairs = [_times(order) for order in pipeline.orders() if order["orderId"] in ids]
    return len(pairs) / (max(s for _, s in pairs) - min(p for p, _ in pairs))


def run(progress: Progress, quick: bool = False) -> dict[str, Any]:
    scenarios = QUICK if quick else SCENARIOS
    task = progress.add_task("calibration", total=len(scenarios))
    rng = random.Random(18)
    found = []
    for concurrency in sorted({s.concurrency for s in scenarios}):
        overrides = {"maximumConcurrency": str(concurrency)}
        progress.update(task, description=f"calibration: starting the sandbox, max concurrency {concurrency}")
        with Sandbox(PROJECT_DIR, "dev", overrides) as sandbox:
            pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
            _warm(sandbox, pipeline, rng, concurrency)
            progress.update(task, description=f"calibration: the sandbox's ceiling, max concurrency {concurrency}")
            cap = ceiling(sandbox, pipeline, rng, 200 if quick else 500)
            for number, scenario in enumerate(s for s in scenarios if s.concurrency == concurrency):
                progress.update(task, description=f"calibration: {scenario.name}")
                start = 10_000 * (concurrency * 10 + number)
                found.append(run_scenario(sandbox, pipeline, scenario, rng, start, cap=cap))
                progress.advance(task)
    return {"tolerance": TOLERANCE, "scenarios": found}


FIGURES = (("throughput", "orders/s", ".1f"), ("p50_ms", " ms", ".0f"), ("p99_ms", " ms", ".0f"),
           ("peak_backlog", " orders", ".0f"))  # fmt: skip


def checks(results: dict[str, Any]) -> list[Check]:
    found = []
    for scenario in results["scenarios"]:
        for key, unit, fmt in FIGURES:
            measured, simulated = scenario["measured"][key], scenario["simulated"][key]
            error = abs(simulated - measured) / measured if measured else float("inf")
            found.append(
                Check(
                    SUITE,
                    f"{scenario['scenario']}: {key} simulated / measured",
                    f"{simulated:{fmt}} / {measured:{fmt}}{unit} ({error:+.0%})".replace("+", "±"),
                    f"within {results['tolerance']:.0%}",
                    error <= results["tolerance"],
                )
            )
    return found


def report(results: dict[str, Any]) -> str:
    rows = [
        "The dev stack in the sandbox against the simulation with the sandbox's parameters (measured in the same "
        "scenario: the function's duration a + b x records, the receive and delete around each batch, one poller "
        "thread's receives), on the same publishes.",
        "",
        "| scenario | orders | throughput, measured / simulated | p50 ms | p99 ms | peak backlog | sandbox's "
        "parameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in results["scenarios"]:
        m, sim, p = s["measured"], s["simulated"], s["parameters"]
        rows.append(
            f"| {s['scenario']} | {s['orders']} | {m['throughput']:.1f} / {sim['throughput']:.1f} "
            f"| {m['p50_ms']:.0f} / {sim['p50_ms']:.0f} | {m['p99_ms']:.0f} / {sim['p99_ms']:.0f} "
            f"| {m['peak_backlog']:.0f} / {sim['peak_backlog']:.0f} "
            f"| ceiling {s['ceiling']:.0f} orders/s; batch {p['duration_base_ms']:.0f} + "
            f"{p['duration_per_record_ms']:.1f} x n ms (mean n "
            f"{p['mean_records']:.1f}; stored {p['store_base_ms']:.0f} + {p['store_per_record_ms']:.1f} x n ms in), "
            f"receive {p['receive_ms']:.0f} ms , "
            f"delete {p['delete_ms']:.0f} ms, p90 duration "
            f"{p['duration_spread_p90']:.1f}x the line |"
        )
    return "\n".join(rows)
