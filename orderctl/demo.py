"""`orderctl demo`: the whole pipeline offline, with every outcome checked and shown."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contract import outputs
from orderctl.pipeline import DeadLetter, Pipeline
from orderctl.samples import SEED_ORDER, sample_order, to_json
from orderctl.target import Target
from sandbox.runner import Sandbox

# Short timeouts so a malformed order uses up its three receives in seconds, not minutes.
DEMO_OVERRIDES = {"functionTimeoutSeconds": "3", "visibilityTimeoutSeconds": "6"}
MALFORMED = '{"orderId": "2001", "userId": "u-7", "quantity": '
WAIT_SECONDS = 45


@dataclass(frozen=True)
class Check:
    what: str
    expected: str
    found: str
    ok: bool


def _wait(progress: Progress, label: str, total: int, count: Callable[[], int], until: Callable[[], bool]) -> bool:
    task = progress.add_task(label, total=total)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        progress.update(task, completed=min(count(), total))
        if until():
            progress.update(task, completed=min(count(), total))
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def _latencies(orders: list[dict[str, Any]]) -> list[float]:
    seconds = []
    for order in orders:
        meta = order.get("_pipeline", {})
        received, stored = meta.get("receivedAt"), meta.get("storedAt")
        if received and stored:
            delta = datetime.fromisoformat(stored) - datetime.fromisoformat(received)
            seconds.append(delta.total_seconds())
    return seconds


def _count_log_lines(sandbox: Sandbox, target: Target, phrase: str) -> int:
    sandbox.flush_logs()
    events = sandbox.client("logs").filter_log_events(
        logGroupName=target.output(outputs.LOG_GROUP_NAME), filterPattern=f'"{phrase}"'
    )["events"]
    return sum(json.loads(event["message"]).get("message") == phrase for event in events)


def run_demo(console: Console, project_dir: Path, stack: str, orders: int, seed: int = 2026) -> bool:
    console.print(f"[bold]Sandbox[/]: stack [cyan]{stack}[/] with demo overrides " + ", ".join(
        f"[cyan]{key}={value}[/]" for key, value in DEMO_OVERRIDES.items()
    ))  # fmt: skip
    started = time.monotonic()
    with Sandbox(project_dir, stack, DEMO_OVERRIDES) as sandbox:
        assert sandbox.deployment is not None
        for warning in sandbox.deployment.warnings:
            console.print(f"[yellow]warning[/]: {warning}")
        console.print(f"Deployed {len(sandbox.deployment.resources)} resources into the emulator at "
                      f"{sandbox.endpoint.url} in {time.monotonic() - started:.1f} s")  # fmt: skip
        target = Target(f"sandbox {sandbox.endpoint.url}", sandbox.outputs, sandbox.endpoint.url)
        pipeline = Pipeline(target)
        rng = random.Random(seed)
        samples = [sample_order(rng, number) for number in range(1, orders + 1)]
        valid = [SEED_ORDER, *samples]
        conflicting = (
            {**samples[0], "quantity": samples[0]["quantity"] + 1} if samples else {**SEED_ORDER, "quantity": 9}
        )
        dynamodb, table = sandbox.client("dynamodb"), target.output(outputs.TABLE_NAME)

        def stored_count() -> int:
            return int(dynamodb.scan(TableName=table, Select="COUNT")["Count"])

        def dlq_count() -> int:
            return pipeline.depths().dlq

        def settled() -> bool:
            depths = pipeline.depths()
            return depths.queue == 0 and sandbox.in_flight() == 0 and depths.dlq >= 2

        with Progress(
            TextColumn("{task.description:<34}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            publishing = progress.add_task(f"publishing {len(valid)} orders", total=len(valid))
            published_at = time.monotonic()
            pipeline.publish((to_json(order) for order in valid), lambda n: progress.advance(publishing, n))
            all_stored = _wait(progress, "stored", len(valid), stored_count, lambda: stored_count() >= len(valid))
            pipeline.publish([to_json(SEED_ORDER), to_json(conflicting), MALFORMED])
            progress.add_task("published duplicate, conflict, malformed", total=3, completed=3)
            all_settled = _wait(progress, "dead-lettered after 3 receives", 2, dlq_count, settled)
        elapsed = time.monotonic() - published_at

        stored = {order["orderId"]: order for order in pipeline.orders()}
        dead = pipeline.dead_letters()
        duplicates = _count_log_lines(sandbox, target, "duplicate delivery absorbed")
        checks = _checks(
            valid=valid,
            conflicting=conflicting,
            stored=stored,
            dead=dead,
            duplicates=duplicates,
            settled=all_stored and all_settled,
        )
        _show(console, dead, checks, _latencies(list(stored.values())), elapsed)
    console.print(next_steps(shutil.which("orderctl") is not None))
    return all(check.ok for check in checks)


def next_steps(on_path: bool) -> str:
    """How to go on with orderctl: `make demo` installs it in .venv, which is not on PATH."""
    run = "orderctl" if on_path else ".venv/bin/orderctl"
    activate = "" if on_path else " (or `source .venv/bin/activate`, then plain `orderctl`)"
    return (
        f"Next: `{run} sandbox up &` serves the sandbox, `{run} publish --sample 50`, `{run} dlq list` and "
        f"`{run} status` operate it, `{run} sandbox down` stops it{activate}."
    )


def _dead(dead: list[DeadLetter], reason_prefix: str) -> list[DeadLetter]:
    return [letter for letter in dead if (letter.reason or "").startswith(reason_prefix)]


def _checks(
    *,
    valid: list[dict[str, Any]],
    conflicting: dict[str, Any],
    stored: dict[str, dict[str, Any]],
    dead: list[DeadLetter],
    duplicates: int,
    settled: bool,
) -> list[Check]:
    missing = [order["orderId"] for order in valid if order["orderId"] not in stored]
    original = stored.get(conflicting["orderId"], {})
    malformed, conflicts = _dead(dead, "invalid order"), _dead(dead, "conflict")

    def receives(letters: list[DeadLetter]) -> str:
        return ", ".join(str(len(letter.attempts)) for letter in letters) or "none"

    return [
        Check("pipeline settled in time", f"within {WAIT_SECONDS} s", "yes" if settled else "no", settled),
        Check("valid orders stored", str(len(valid)), str(len(valid) - len(missing)), not missing),
        Check("items in the table", str(len(valid)), str(len(stored)), len(stored) == len(valid)),
        Check("duplicate absorbed, nothing rewritten", "1", str(duplicates), duplicates == 1),
        Check(
            "conflict kept the original",
            f"quantity {conflicting['quantity'] - 1}",
            f"quantity {original.get('quantity')}",
            original.get("quantity") == conflicting["quantity"] - 1,
        ),
        Check(
            "malformed order in the DLQ",
            "1, after 3 receives",
            f"{len(malformed)}, {receives(malformed)}",
            [len(letter.attempts) for letter in malformed] == [3],
        ),
        Check(
            "conflicting order in the DLQ",
            "1, after 3 receives",
            f"{len(conflicts)}, {receives(conflicts)}",
            [len(letter.attempts) for letter in conflicts] == [3],
        ),
        Check("nothing else in the DLQ", "2 messages", f"{len(dead)} messages", len(dead) == 2),
    ]


def _show(
    console: Console,
    dead: list[DeadLetter],
    checks: list[Check],
    latencies: list[float],
    elapsed: float,
) -> None:
    letters = Table(title="Dead-letter queue", title_justify="left")
    for column in ("message", "order", "receives", "reason"):
        letters.add_column(column, overflow="fold")
    for letter in dead:
        letters.add_row(letter.message_id[:8], letter.order_text[:48], str(len(letter.attempts)), letter.reason or "")
    console.print(letters)
    if latencies:
        ms = sorted(1000 * s for s in latencies)
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        console.print(
            f"Publish -> stored latency over {len(ms)} orders: p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms; "
            f"whole run {elapsed:.1f} s"
        )
    print_outcomes(console, checks)


def print_outcomes(console: Console, checks: list[Check]) -> None:
    """The checks as a table: what was expected, what was found, ok or FAILED."""
    outcome = Table(title="Outcomes", title_justify="left")
    for column in ("check", "expected", "found", ""):
        outcome.add_column(column)
    for check in checks:
        outcome.add_row(check.what, check.expected, check.found, "[green]ok[/]" if check.ok else "[red]FAILED[/]")
    console.print(outcome)
