"""The soak scenario: every published order is stored exactly once or waits in the DLQ with its reason.

The publisher keeps pace with the pipeline, as clients do: it publishes a chunk only while fewer than
`Plan.backlog_limit` messages are queued.

Orders are published to the sandbox with 5% malformed, 10% delivered twice and a few conflicting ids,
while DynamoDB writes are throttled at random (10%), denied outright for a window (a permission
outage), and one invocation crashes halfway through its batch after some writes. When the pipeline
settles, a ledger checks conservation; then the outage's dead letters are redriven and the ledger
must balance again with every valid order stored.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from orderctl.pipeline import SUBSCRIPTION_DLQ, DeadLetter, Pipeline
from orderctl.samples import sample_order, to_json
from orderctl.target import Target
from sandbox.environment import ExecutionEnvironment
from sandbox.faults import ACCESS_DENIED, THROTTLED
from sandbox.poller import BeforeInvoke
from sandbox.runner import Sandbox

PROJECT_DIR = Path(__file__).resolve().parents[2]
MAX_RECEIVE_COUNT = 3
# A failed order comes back after 6 s, so the 15 s outage below outlasts three receives of the orders
# it catches; 5 s is room enough for a batch of ten on a busy emulator (a timeout fails the whole batch).
SOAK_OVERRIDES = {"functionTimeoutSeconds": "5", "visibilityTimeoutSeconds": "6"}
MALFORMED_KINDS = [
    '{"orderId": "%s", "quantity": ',  # cut off
    '{"orderId": "%s", "quantity": 0}',  # breaks the schema
    '{"orderId": "%s", "currency": "euro"}',
    '{"orderId": "%s", "total": NaN}',
    '{"orderId": "%s", "orderId": "%s-twin"}',  # duplicate key
]


@dataclass(frozen=True)
class Plan:
    orders: int = 2000
    malformed_share: float = 0.05
    duplicate_share: float = 0.10
    conflicts: int = 5
    throttle_probability: float = 0.10
    outage_after_seconds: float = 1.0
    outage_seconds: float = 15.0
    crash_invocation: int = 3  # this invocation processes half its batch, then crashes
    # The publisher holds back while this many messages are queued: moto's SQS operations (SNS's deliveries
    # included) scan the whole queue, so a deep one slows everything down, quadratically.
    backlog_limit: int = 300
    publish_chunk: int = 50
    settle_timeout: float = 300.0
    seed: int = 2026


@dataclass
class Published:
    """What went out, by kind; the ledger's left-hand side."""

    valid: dict[str, dict[str, Any]] = field(default_factory=dict)  # orderId -> the version that must be stored
    malformed: dict[str, str] = field(default_factory=dict)  # marker -> body
    conflicting: dict[str, dict[str, Any]] = field(default_factory=dict)  # orderId -> the second version
    duplicate_deliveries: int = 0

    @property
    def count(self) -> int:
        return len(self.valid) + len(self.malformed) + len(self.conflicting)


@dataclass
class Backpressure:
    """What the publisher saw: the queue's depth before each chunk, and how often it held back."""

    depths: list[int] = field(default_factory=list)
    holds: int = 0


@dataclass
class Row:
    what: str
    expected: int | None  # None: a figure to read, not a check
    found: int

    @property
    def ok(self) -> bool:
        return self.expected is None or self.expected == self.found


@dataclass
class Ledger:
    title: str
    rows: list[Row]
    problems: list[str]

    @property
    def balanced(self) -> bool:
        return all(row.ok for row in self.rows) and not self.problems

    def table(self) -> Table:
        table = Table(title=self.title, title_justify="left")
        for column in ("", "expected", "found", ""):
            table.add_column(column)
        for row in self.rows:
            verdict = "" if row.expected is None else "[green]ok[/]" if row.ok else "[red]DIFFERS[/]"
            expected = "" if row.expected is None else str(row.expected)
            table.add_row(row.what, expected, str(row.found), verdict)
        return table


@dataclass
class Result:
    ledgers: list[Ledger]
    seconds_to_settle: float
    orders_per_second: float
    stats: dict[str, int]
    injected: dict[str, int]
    backpressure: Backpressure

    @property
    def balanced(self) -> bool:
        return all(ledger.balanced for ledger in self.ledgers)


def _comparable(value: Any) -> Any:
    """An order as published or as stored, in one form: DynamoDB returns every number as a Decimal."""
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items() if key != "_pipeline"}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return Decimal(str(value)).normalize()
    return value


def _crash_once(at_invocation: int) -> BeforeInvoke:
    """Fault hook: invocation `at_invocation` has its execution environment killed while it runs (part of
    its records may be stored by then), as a crashed Lambda environment fails its batch."""

    def before(number: int, environment: ExecutionEnvironment) -> None:
        if number == at_invocation:
            threading.Timer(0.05, environment.kill).start()

    return before


def _deliveries(plan: Plan, rng: random.Random) -> tuple[Published, list[str]]:
    published = Published()
    bodies: list[str] = []
    malformed = round(plan.orders * plan.malformed_share)
    for number in range(1, plan.orders - malformed + 1):
        order = sample_order(rng, number)
        published.valid[order["orderId"]] = json.loads(to_json(order))
        bodies.append(to_json(order))
    for number in range(malformed):
        marker = f"malformed-{number:04d}"
        kind = MALFORMED_KINDS[number % len(MALFORMED_KINDS)]
        published.malformed[marker] = kind.replace("%s", marker)
        bodies.append(published.malformed[marker])
    rng.shuffle(bodies)
    for body in rng.sample([b for b in bodies if "malformed" not in b], round(plan.orders * plan.duplicate_share)):
        bodies.insert(rng.randrange(len(bodies) + 1), body)  # the same order, delivered again
        published.duplicate_deliveries += 1
    return published, bodies


def _publish_with_backpressure(sandbox: Sandbox, pipeline: Pipeline, bodies: list[str], plan: Plan) -> Backpressure:
    """Publishes `plan.publish_chunk` at a time, each only once fewer than `plan.backlog_limit` are queued."""
    seen = Backpressure()
    for start in range(0, len(bodies), plan.publish_chunk):
        depth = pipeline.depths().queue
        if depth >= plan.backlog_limit:
            seen.holds += 1
            if not sandbox.wait_until(
                lambda: pipeline.depths().queue < plan.backlog_limit, plan.settle_timeout, interval=0.25
            ):
                raise RuntimeError(f"the queue stayed at {plan.backlog_limit}+ for {plan.settle_timeout:.0f} s")
            depth = pipeline.depths().queue
        seen.depths.append(depth)
        pipeline.publish(bodies[start : start + plan.publish_chunk])
    return seen


def _settled(sandbox: Sandbox, pipeline: Pipeline) -> bool:
    return pipeline.depths().queue == 0 and sandbox.in_flight() == 0


def _store_lines(sandbox: Sandbox, log_group: str) -> Counter[str]:
    """How many times each order id was written ('order stored' lines): more than once would be an overwrite."""
    sandbox.flush_logs()
    logs, counts = sandbox.client("logs"), Counter[str]()
    request: dict[str, Any] = {"logGroupName": log_group, "filterPattern": '"order stored"'}
    while True:
        page = logs.filter_log_events(**request)
        for event in page["events"]:
            line = json.loads(event["message"])
            if line.get("message") == "order stored":
                counts[line["order_id"]] += 1
        if "nextToken" not in page:
            return counts
        request["nextToken"] = page["nextToken"]


def _owner(letter: DeadLetter, published: Published) -> tuple[str, str]:
    """Which published order a dead letter is: ("malformed" | "conflicting" | "valid" | "unknown", key)."""
    marker = next((m for m in published.malformed if m in letter.order_text), None)
    if marker is not None:
        return "malformed", marker
    try:
        order = json.loads(letter.order_text)
    except ValueError:
        return "unknown", letter.message_id
    order_id = order.get("orderId") if isinstance(order, dict) else None
    if order_id in published.conflicting and order == published.conflicting[order_id]:
        return "conflicting", order_id
    if order_id in published.valid:
        return "valid", order_id
    return "unknown", letter.message_id


def _failed_for(letter: DeadLetter, reasons: str | tuple[str, ...]) -> bool:
    """Any logged attempt failed for one of `reasons`: the last one may have been throttled instead."""
    return any(attempt.reason.startswith(reasons) for attempt in letter.attempts)


def _ledger(title: str, published: Published, pipeline: Pipeline, store_lines: Counter[str], redriven: bool) -> Ledger:
    stored = {order["orderId"]: order for order in pipeline.orders()}
    dead = pipeline.dead_letters()  # the DLQ's first read in this ledger: it adds one receive to each count
    owners = [(_owner(letter, published), letter) for letter in dead]
    dead_orders: dict[str, set[str]] = {"malformed": set(), "conflicting": set(), "valid": set(), "unknown": set()}
    for (kind, key), _ in owners:
        dead_orders[kind].add(key)
    # What SNS could not deliver to the queue waits in the subscription's DLQ: accounted for, never lost.
    undelivered = {_owner(letter, published) for letter in pipeline.dead_letters(SUBSCRIPTION_DLQ)}
    undelivered_valid = {key for kind, key in undelivered if kind == "valid"} - set(stored)

    stored_valid = [order_id for order_id in published.valid if order_id in stored]
    dead_valid = [
        order_id for order_id in published.valid if order_id not in stored and order_id in dead_orders["valid"]
    ]
    redundant = [order_id for order_id in dead_orders["valid"] if order_id in stored]  # a stored order's re-delivery
    lost = [
        order_id
        for order_id in published.valid
        if order_id not in stored and order_id not in dead_orders["valid"] and order_id not in undelivered_valid
    ]
    changed = [o for o in stored_valid if _comparable(stored[o]) != _comparable(published.valid[o])]
    fault_reasons = ("AccessDeniedException", "ProvisionedThroughputExceededException")
    wrongly_dead = [
        letter.message_id for (kind, _), letter in owners if kind == "valid" and not _failed_for(letter, fault_reasons)
    ]
    never_published = sorted(set(stored) - set(published.valid))
    written_twice = sorted(order_id for order_id, count in store_lines.items() if count > 1)
    malformed = {key for (kind, key), letter in owners if kind == "malformed" and _failed_for(letter, "invalid order")}
    # A conflicting version published during the outage may never reach the conflict check before the
    # redrive: its writes are denied first. After the redrive (faults off) it must be a conflict.
    conflict_reasons = ("conflict",) if redriven else ("conflict", *fault_reasons)
    conflicts = {
        key for (kind, key), letter in owners if kind == "conflicting" and _failed_for(letter, conflict_reasons)
    }
    permanent = [letter for (kind, _), letter in owners if kind in ("malformed", "conflicting")]
    wrong_receives = [letter.message_id for letter in permanent if letter.receive_count - 1 != MAX_RECEIVE_COUNT]
    unexplained = [letter.message_id for letter in dead if not letter.attempts]
    dead_distinct = len(dead_valid) + len(dead_orders["malformed"]) + len(dead_orders["conflicting"])
    dead_distinct += len(undelivered_valid - set(dead_valid))
    rows = [
        Row("published orders (distinct)", None, published.count),
        Row("  valid", None, len(published.valid)),
        Row("  malformed", None, len(published.malformed)),
        Row("  conflicting second versions", None, len(published.conflicting)),
        Row("  duplicate deliveries of the same orders", None, published.duplicate_deliveries),
        Row("valid orders stored", len(published.valid) if redriven else None, len(stored_valid)),
        Row("valid orders in the DLQ after an injected fault", 0 if redriven else None, len(dead_valid)),
        Row("re-deliveries of stored orders in the DLQ", 0 if redriven else None, len(redundant)),
        Row("valid orders in the DLQ for another reason", 0, len(wrongly_dead)),
        Row("valid orders in the subscription DLQ (SNS could not deliver; none injected)", 0, len(undelivered_valid)),
        Row("valid orders lost (neither stored nor in either DLQ)", 0, len(lost)),
        Row("stored orders whose content changed", 0, len(changed)),
        Row("orders written more than once", 0, len(written_twice)),
        Row("stored items never published", 0, len(never_published)),
        Row("malformed orders in the DLQ, reason logged", len(published.malformed), len(malformed)),
        Row(
            "conflicting versions in the DLQ, reason logged" + ("" if redriven else " (or a fault's)"),
            len(published.conflicting),
            len(conflicts),
        ),
        Row(f"of those, not after exactly {MAX_RECEIVE_COUNT} receives", 0, len(wrong_receives)),
        Row("DLQ messages that are no published order", 0, len(dead_orders["unknown"])),
        Row("DLQ messages without a logged failure", 0, len(unexplained)),
        Row(
            "published = stored + dead-lettered in either DLQ (distinct orders)",
            published.count,
            len(stored_valid) + dead_distinct,
        ),
    ]
    problems = [f"lost: {order_id}" for order_id in lost[:10]]
    problems += [f"content changed: {order_id}" for order_id in changed[:10]]
    problems += [f"written more than once: {order_id}" for order_id in written_twice[:10]]
    problems += [f"stored but never published: {order_id}" for order_id in never_published[:10]]
    return Ledger(title, rows, problems)


def run(plan: Plan, console: Console, progress: Callable[[str], None] | None = None) -> Result:
    say = progress or (lambda message: console.print(f"[dim]{message}[/]"))
    rng = random.Random(plan.seed)
    published, bodies = _deliveries(plan, rng)
    with Sandbox(PROJECT_DIR, "dev", SOAK_OVERRIDES, before_invoke=_crash_once(plan.crash_invocation)) as sandbox:
        pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
        log_group = sandbox.outputs["logGroupName"]
        faults = sandbox.faults
        faults.fail(THROTTLED, probability=plan.throttle_probability, seed=plan.seed)

        def outage() -> None:
            time.sleep(plan.outage_after_seconds)
            say(f"permission outage: every write denied for {plan.outage_seconds:.0f} s")
            rule = faults.fail(ACCESS_DENIED)
            time.sleep(plan.outage_seconds)
            faults.remove(rule)
            say("permission outage over")

        say(
            f"publishing {len(bodies)} deliveries: {published.count} orders, {published.duplicate_deliveries} "
            f"duplicate deliveries; throttling {plan.throttle_probability:.0%} of writes"
        )
        began = time.monotonic()
        outage_thread = threading.Thread(target=outage, daemon=True)
        outage_thread.start()
        backpressure = _publish_with_backpressure(sandbox, pipeline, bodies, plan)

        # Conflicts are new versions of orders already stored: the first version stored is the one kept.
        def stored_ids() -> list[str]:
            return sorted({order["orderId"] for order in pipeline.orders()} & set(published.valid))

        sandbox.wait_until(lambda: len(stored_ids()) >= plan.conflicts, plan.settle_timeout)
        conflicted = rng.sample(stored_ids(), plan.conflicts)
        for order_id in conflicted:
            version = {**published.valid[order_id], "status": "CHANGED"}
            published.conflicting[order_id] = version
        say(f"publishing {len(conflicted)} conflicting versions of stored orders")
        pipeline.publish(json.dumps(version) for version in published.conflicting.values())
        outage_thread.join()
        if not sandbox.wait_until(lambda: _settled(sandbox, pipeline), plan.settle_timeout, interval=0.5):
            say("did not settle in time")
        settled_after = time.monotonic() - began
        counted = ("receives", "invocations", "records", "record_failures", "batch_failures", "deleted")
        stats = {name: sum(getattr(poller.stats, name) for poller in sandbox.pollers) for name in counted}
        injected = dict(faults.injected)
        first = _ledger("Ledger after the faults", published, pipeline, _store_lines(sandbox, log_group), False)

        say("faults off; redriving the DLQ")
        faults.clear()
        pipeline.redrive()
        pipeline.redrive(source=SUBSCRIPTION_DLQ)  # empty unless SNS failed a delivery
        sandbox.wait_until(lambda: _settled(sandbox, pipeline), plan.settle_timeout, interval=0.5)
        time.sleep(1)  # the permanent failures' third receive moves them; let it happen
        sandbox.wait_until(lambda: _settled(sandbox, pipeline), plan.settle_timeout, interval=0.5)
        second = _ledger("Ledger after the redrive", published, pipeline, _store_lines(sandbox, log_group), True)
    return Result(
        ledgers=[first, second],
        seconds_to_settle=settled_after,
        orders_per_second=(published.count + published.duplicate_deliveries) / settled_after,
        stats=stats,
        injected=injected,
        backpressure=backpressure,
    )


def show(result: Result, console: Console) -> None:
    for ledger in result.ledgers:
        console.print(ledger.table())
        for problem in ledger.problems:
            console.print(f"[red]{problem}[/]")
    stats = result.stats
    console.print(
        f"Settled in {result.seconds_to_settle:.1f} s ({result.orders_per_second:.0f} deliveries/s with faults and "
        f"retries); {stats['invocations']} invocations, {stats['records']} records handled for "
        f"{stats['deleted']} deleted: {stats['records'] - stats['deleted']} retried records, "
        f"{stats['batch_failures']} whole-batch failure(s); injected {result.injected}"
    )
