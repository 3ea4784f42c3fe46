"""Sandbox benchmark: orders per second end to end against a fair ceiling, publish-to-stored latency at an
offered 100 orders/s, and the peak memory of the sandbox with all its environments; with the emulator's
HTTP keep-alive on, and again off, in the same run.

The fair ceiling is what the emulator can do for this pipeline with nothing of the pipeline in the way:
the same calls the pipeline needs per order (SNS PublishBatch of 10, SQS ReceiveMessage of up to the
mapping's batch size, one DynamoDB conditional PutItem per order, SQS DeleteMessageBatch), issued by the
benchmark itself against the same emulator, with the same offered load (the same orders, published the
same way, as fast as the emulator takes them) and as many consumers as the mapping's maximum
concurrency, each a process of its own as each environment is (bench/ceiling_consumer.py). End to end is
reported as a share of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.progress import Progress, TaskID

from bench.checks import Check, at_least, at_most
from bench.child import inherited_environment, start_child
from orderctl.pipeline import Pipeline
from orderctl.samples import sample_order, to_json
from orderctl.target import Target
from sandbox.emulator import KEEP_ALIVE_VARIABLE
from sandbox.runner import Sandbox

SUITE = "sandbox"
PROJECT_DIR = Path(__file__).resolve().parents[1]
MAXIMUM_CONCURRENCY = 5
OFFERED_PER_SECOND = 100
ROUNDS = 4  # the ceiling and end to end, each measured in this many interleaved rounds
PUBLISHERS = 4  # calls in flight at most: a slow answer does not hold back the next tick
THROUGHPUT_TARGET_PERCENT = 80.0
P99_TARGET_MS = 1000.0
PEAK_MEMORY_TARGET_MB = 800.0


class TreeMemory:
    """Samples the resident memory of this process and all its descendants (execution environments
    included, the benchmark's own `ignore`d ones not), every `interval` seconds; `peak_mb` is the largest sum
    seen."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._ignored: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-memory", daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def ignore(self, pids: list[int]) -> None:
        """Leave these processes out (the ceiling's consumers: the benchmark's, not the sandbox's)."""
        self._ignored.update(pids)

    def _sample(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, tree_rss_mb(os.getpid(), frozenset(self._ignored)))
            if self._stop.wait(self.interval):
                return


def tree_rss_mb(root: int, ignored: frozenset[int] = frozenset()) -> float:
    """Resident memory of `root` and every process below it, from /proc, but for `ignored` ones."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the field after the parenthesised command name: state, then the parent's pid
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree and pid not in ignored]
        tree.update(children)
        frontier += children
    total_kb = 0
    for pid in tree:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


CEILING = "bench-ceiling"  # the ceiling's topic, queue and table


def _ceiling_resources(sandbox: Sandbox) -> tuple[str, str]:
    """A topic, a subscribed queue set up as the stack's and a table, beside the stack: (topic ARN, queue URL)."""
    sns, sqs, dynamodb = sandbox.client("sns"), sandbox.client("sqs"), sandbox.client("dynamodb")
    topic = sns.create_topic(Name=CEILING)["TopicArn"]
    attributes = sqs.get_queue_attributes(QueueUrl=sandbox.outputs["queueUrl"], AttributeNames=["All"])["Attributes"]
    copied = {
        k: v for k, v in attributes.items() if k in ("VisibilityTimeout", "RedrivePolicy", "SqsManagedSseEnabled")
    }
    queue_url = sqs.create_queue(QueueName=CEILING, Attributes=copied)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # The stack's queue policy, naming this topic and queue: SNS delivers only what the policy allows (and
    # evaluating it is part of every delivery's cost).
    policy = attributes["Policy"].replace(sandbox.outputs["topicArn"], topic)
    sqs.set_queue_attributes(
        QueueUrl=queue_url, Attributes={"Policy": policy.replace(attributes["QueueArn"], queue_arn)}
    )
    raw = sandbox.config.get("order-pipeline:rawMessageDelivery", "false")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": raw})
    dynamodb.create_table(
        TableName=CEILING,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return topic, queue_url


class _Consumers:
    """The ceiling's consumers (bench/ceiling_consumer.py), one process each, started paused."""

    def __init__(self, sandbox: Sandbox, queue_url: str, batch_size: int, count: int) -> None:
        job = {
            "endpoint_url": sandbox.endpoint.url,
            "region": sandbox.region,
            "table": CEILING,
            "queue_url": queue_url,
            "batch_size": batch_size,
        }
        environment = inherited_environment()
        self.processes = [start_child("bench.ceiling_consumer", job, environment) for _ in range(count)]
        self._lines: queue.Queue[str] = queue.Queue()

    def wait_ready(self) -> None:
        """Until every consumer has its clients, as the pipeline's functions have theirs."""
        for process in self.processes:
            assert process.stdout is not None
            said = process.stdout.readline().strip()
            if said != "ready":
                raise RuntimeError(f"fair ceiling: a consumer did not start: {said or process.wait()}")
            threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.put(line.strip())

    def _tell(self, command: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(command + "\n")
            process.stdin.flush()

    def go(self) -> None:
        self._tell("go")

    def pause(self) -> None:
        """Until every consumer has stopped receiving (a batch it still had is a redelivery, not counted)."""
        self._tell("pause")
        paused = 0
        while paused < len(self.processes):
            line = self._next_line(timeout=30)
            if line is None:
                raise RuntimeError("fair ceiling: a consumer did not pause within 30 s")
            paused += line == "paused"

    def _next_line(self, timeout: float) -> str | None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line.startswith("failed "):
            raise RuntimeError(f"fair ceiling: a consumer failed: {line.removeprefix('failed ')}")
        return line

    def stored(self, timeout: float) -> list[str] | None:
        """The next batch's order ids, or None if none came within `timeout` seconds."""
        line = self._next_line(timeout)
        if line is None:
            return None
        ids: list[str] = json.loads(line)
        return ids

    def stop(self) -> None:
        for process in self.processes:
            if process.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    process.stdin.close()  # the consumer's signal to stop
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class FairCeiling:
    """Orders per second through the emulator's calls alone (see the module's docstring), measured as often
    as asked: set up once, its consumers paused between runs. Use as a context manager."""

    def __init__(self, sandbox: Sandbox) -> None:
        mapping = sandbox.deployment.mappings[0] if sandbox.deployment else None
        assert mapping is not None, "the stack has no event source mapping"
        topic, queue_url = _ceiling_resources(sandbox)
        self._publisher = Pipeline(Target("fair ceiling", {"topicArn": topic}, sandbox.endpoint.url))
        concurrency = mapping.maximum_concurrency or MAXIMUM_CONCURRENCY
        self._consumers = _Consumers(sandbox, queue_url, mapping.batch_size, concurrency)

    @property
    def pids(self) -> list[int]:
        """The consumers' processes: the benchmark's own, not the sandbox's."""
        return [process.pid for process in self._consumers.processes]

    def __enter__(self) -> FairCeiling:
        try:
            self._consumers.wait_ready()
        except BaseException:
            self._consumers.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._consumers.stop()

    def run(self, bodies: list[str], on_stored: Callable[[int], None]) -> float:
        stored: set[str] = set()  # order ids: SQS delivers at least once, so a message may come twice
        self._consumers.go()
        began = time.perf_counter()
        self._publisher.publish(bodies)
        deadline = time.monotonic() + 600
        while len(stored) < len(bodies):
            order_ids = self._consumers.stored(timeout=1)
            if order_ids is None:
                if self._publisher.failed_deliveries():
                    raise RuntimeError("fair ceiling: SNS could not deliver to the ceiling's queue (its queue policy?)")
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"fair ceiling: only {len(stored)} of {len(bodies)} orders stored after 10 minutes"
                    )
                continue
            new = set(order_ids) - stored
            stored.update(new)
            on_stored(len(new))
        rate = len(bodies) / (time.perf_counter() - began)
        self._consumers.pause()
        return rate


def fair_ceiling(sandbox: Sandbox, bodies: list[str], on_stored: Callable[[int], None]) -> float:
    """One measurement of the fair ceiling, with `bodies`: orders per second."""
    with FairCeiling(sandbox) as ceiling:
        return ceiling.run(bodies, on_stored)


def _processed(sandbox: Sandbox) -> int:
    """The event source pollers' own count of deleted (succeeded) messages: free to read, unlike a scan."""
    return sum(poller.stats.deleted for poller in sandbox.pollers)


def _wait_processed(sandbox: Sandbox, count: int, on_progress: Callable[[int], None]) -> None:
    deadline = time.monotonic() + 600
    while (done := _processed(sandbox)) < count:
        on_progress(done)
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} orders processed after 10 minutes")
        time.sleep(0.02)
    on_progress(done)


def end_to_end(sandbox: Sandbox, pipeline: Pipeline, bodies: list[str], on_progress: Callable[[int], None]) -> float:
    before = _processed(sandbox)
    began = time.perf_counter()
    pipeline.publish(bodies)
    _wait_processed(sandbox, before + len(bodies), lambda done: on_progress(done - before))
    return len(bodies) / (time.perf_counter() - began)


def paced(
    sandbox: Sandbox, pipeline: Pipeline, bodies: list[str], on_progress: Callable[[int], None]
) -> tuple[float, list[float]]:
    """Publishes ten orders every 10 / OFFERED_PER_SECOND seconds (as `orderctl publish` does, ten a call), each
    call sent on time by the clock, as independent clients would send them, not after the previous call's answer;
    returns the rate actually offered (until the last call was answered) and each order's publish-to-stored
    latency, sorted."""
    before = _processed(sandbox)
    interval = 10 / OFFERED_PER_SECOND
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PUBLISHERS, thread_name_prefix="bench-publisher") as publishers:
        calls = []
        for tick, start in enumerate(range(0, len(bodies), 10)):
            delay = began + tick * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            calls.append(publishers.submit(pipeline.publish, bodies[start : start + 10]))
        for call in calls:
            call.result()
    offered = len(bodies) / max(time.perf_counter() - began, interval * len(bodies) / 10)
    _wait_processed(sandbox, before + len(bodies), lambda done: on_progress(done - before))
    ids = {json.loads(body)["orderId"] for body in bodies}
    return offered, _latencies_ms([order for order in pipeline.orders() if order["orderId"] in ids])


def _latencies_ms(orders: list[dict[str, Any]]) -> list[float]:
    return sorted(
        (
            datetime.fromisoformat(o["_pipeline"]["storedAt"]) - datetime.fromisoformat(o["_pipeline"]["receivedAt"])
        ).total_seconds()
        * 1000
        for o in orders
    )


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def one_variant(keep_alive: bool, count: int, paced_count: int, progress: Progress) -> dict[str, Any]:
    label = "keep-alive" if keep_alive else "no keep-alive"
    rng = random.Random(11)
    warmup_count = 10 * MAXIMUM_CONCURRENCY
    bodies = [to_json(sample_order(rng, number)) for number in range(1, warmup_count + count + paced_count + 1)]
    warmup_bodies, throughput_bodies, paced_bodies = (
        bodies[:warmup_count],
        bodies[warmup_count : warmup_count + count],
        bodies[warmup_count + count :],
    )
    task: TaskID = progress.add_task(f"{label}: starting the sandbox", total=None)

    def advance(phase: str, total: int) -> Callable[[int], None]:
        progress.update(task, description=f"{label}: {phase}", total=total, completed=0)
        return lambda done: progress.update(task, completed=done)

    def add(phase: str, total: int) -> Callable[[int], None]:
        progress.update(task, description=f"{label}: {phase}", total=total, completed=0)
        return lambda n: progress.advance(task, n)

    os.environ[KEEP_ALIVE_VARIABLE] = "1" if keep_alive else "0"
    overrides = {"maximumConcurrency": str(MAXIMUM_CONCURRENCY)}
    with TreeMemory() as memory, Sandbox(PROJECT_DIR, "dev", overrides) as sandbox:
        pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
        # Untimed: a batch per environment, so the timed phases measure warm environments (cold starts
        # at the CPU share take seconds each), as the ceiling's consumers have their clients made first.
        end_to_end(sandbox, pipeline, warmup_bodies, advance(f"warming up, {warmup_count} orders", warmup_count))
        seconds = {"ceiling": 0.0, "end to end": 0.0}
        shares = []
        ceiling = FairCeiling(sandbox)
        memory.ignore(ceiling.pids)

        def measure(side: str, chunk: list[str], phase: str) -> float:
            if side == "ceiling":
                return ceiling.run(chunk, add(phase, len(chunk)))
            return end_to_end(sandbox, pipeline, chunk, advance(phase, len(chunk)))

        with ceiling:
            # In rounds, the side that goes first alternating: this VM's speed drifts within seconds, and
            # one side's whole run after the other's would compare two machines.
            size = -(-count // ROUNDS)
            for number, start in enumerate(range(0, count, size), start=1):
                chunk = throughput_bodies[start : start + size]
                rates = {}
                for side in sorted(seconds, reverse=number % 2 == 0):
                    rates[side] = measure(side, chunk, f"round {number} of {ROUNDS}: {side}, {len(chunk)} orders")
                    seconds[side] += len(chunk) / rates[side]
                shares.append(rates["end to end"] / rates["ceiling"])
        ceiling_rate, rate = count / seconds["ceiling"], count / seconds["end to end"]
        offered, latencies = paced(
            sandbox, pipeline, paced_bodies, advance(f"{OFFERED_PER_SECOND} orders/s offered", paced_count)
        )
        stored = int(sandbox.client("dynamodb").scan(TableName=sandbox.outputs["tableName"], Select="COUNT")["Count"])
        if stored != len(bodies):
            raise RuntimeError(f"{len(bodies)} orders published but {stored} in the table")
        stats = [poller.stats for poller in sandbox.pollers]
        invocations = sum(s.invocations for s in stats)
        batch_failures = sum(s.batch_failures for s in stats)
        config = {k: v for k, v in sandbox.config.items() if k.startswith("order-pipeline:")}
    progress.update(task, description=f"{label}: done")
    return {
        "keep_alive": keep_alive,
        "ceiling_per_second": ceiling_rate,
        "orders_per_second": rate,
        "share_of_ceiling": rate / ceiling_rate,
        "share_by_round": shares,
        "offered_per_second": offered,
        "latency_ms": {"p50": statistics.median(latencies), "p99": percentile(latencies, 0.99)},
        "peak_memory_mb": memory.peak_mb,
        "invocations": invocations,
        "batch_failures": batch_failures,
        "config": config,
    }


def run(progress: Progress, quick: bool = False) -> dict[str, Any]:
    count, paced_count = (200, 200) if quick else (1000, 500)
    variants = [one_variant(keep_alive, count, paced_count, progress) for keep_alive in (True, False)]
    return {"orders": count, "paced_orders": paced_count, "variants": variants}


def checks(results: dict[str, Any]) -> list[Check]:
    on = next(v for v in results["variants"] if v["keep_alive"])
    share = on["share_of_ceiling"] * 100
    least_offered = OFFERED_PER_SECOND * 0.95  # the p99 target means little if the publisher fell behind
    return [
        at_least(
            SUITE, "end to end / fair ceiling (keep-alive)", share, THROUGHPUT_TARGET_PERCENT, unit="%", fmt=".0f"
        ),
        at_most(
            SUITE,
            f"publish -> stored p99 at {on['offered_per_second']:.0f} orders/s offered",
            on["latency_ms"]["p99"],
            P99_TARGET_MS,
            unit=" ms",
            fmt=".0f",
        ),
        at_least(
            SUITE,
            "orders/s actually offered for the p99",
            on["offered_per_second"],
            least_offered,
            unit="/s",
            fmt=".0f",
        ),
        at_most(
            SUITE,
            f"peak memory, sandbox + environments (max concurrency {MAXIMUM_CONCURRENCY})",
            on["peak_memory_mb"],
            PEAK_MEMORY_TARGET_MB,
            unit=" MB",
            fmt=".0f",
        ),
        Check(
            SUITE,
            "whole-batch failures during the runs",
            str(sum(v["batch_failures"] for v in results["variants"])),
            "0",
            all(v["batch_failures"] == 0 for v in results["variants"]),
        ),
    ]


def report(results: dict[str, Any]) -> str:
    rows = [
        f"{results['orders']} sample orders end to end and through the fair ceiling, in {ROUNDS} interleaved rounds "
        f"(the share is total against total); {results['paced_orders']} more "
        f"at an offered {OFFERED_PER_SECOND} orders/s (ten per PublishBatch). Dev stack, maximum concurrency "
        f"{MAXIMUM_CONCURRENCY}.",
        "",
        "| emulator HTTP | fair ceiling | end to end | share | p50 / p99 publish -> stored | peak memory (tree) "
        "| invocations |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in results["variants"]:
        rows.append(
            f"| {'keep-alive' if v['keep_alive'] else 'closes each connection'} "
            f"| {v['ceiling_per_second']:.0f} orders/s | {v['orders_per_second']:.0f} orders/s "
            f"| {v['share_of_ceiling']:.0%} (rounds {min(v['share_by_round']):.0%} to {max(v['share_by_round']):.0%}) "
            f"| {v['latency_ms']['p50']:.0f} / {v['latency_ms']['p99']:.0f} ms "
            f"at {v['offered_per_second']:.0f}/s | {v['peak_memory_mb']:.0f} MB | {v['invocations']} |"
        )
    return "\n".join(rows)
