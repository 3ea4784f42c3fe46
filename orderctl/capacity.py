"""`orderctl capacity`: the capacity model's answers for a stack's config, as a table or JSON.

The stack's config is resolved as `orderctl preflight` resolves it (sandbox.pulumi_cli_config: Pulumi.yaml's
defaults under Pulumi.<stack>.yaml), then read by capacity.model; the model, the simulation and the answers are in
capacity/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from capacity.answer import Answer, Target, answer
from capacity.model import Prices, ServiceTimes, StackSettings
from sandbox.pulumi_cli_config import Project, resolve

_RATE = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*(?:/\s*(s|sec|second|m|min|minute))?\s*$")
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h)?\s*$")


def parse_rate(text: str) -> float:
    """`10000/s`, `10,000`, `600000/min` -> orders per second."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate: give orders per second, e.g. 10000/s (or per minute: 600000/min)")
    value = float(match.group(1).replace(",", "").replace("_", ""))
    return value / 60 if (match.group(2) or "s").startswith("m") else value


def parse_duration(text: str) -> int:
    """`5m`, `300s`, `300`, `1h` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: e.g. 5m, 300s or 1h")
    return round(float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"])


def stack_settings(project_dir: Path, stack: str, **overrides: Any) -> StackSettings:
    """The stack's config as `pulumi up` would hand it to the program, read by the model."""
    config: Mapping[str, str] = resolve(Project.load(project_dir), stack).program_config()
    return StackSettings.from_config(config, stack, **{k: v for k, v in overrides.items() if v is not None})


def capacity_answer(
    project_dir: Path,
    stack: str,
    target: Target,
    *,
    memory_mb: int | None = None,
    account_concurrency: int | None = None,
    search: bool = True,
) -> Answer:
    settings = stack_settings(project_dir, stack, memory_mb=memory_mb, account_concurrency=account_concurrency)
    return answer(settings, ServiceTimes.load(), Prices.load(), target, search=search)


def _seconds(value: float | None) -> str:
    if value is None:
        return "not within 1 h"
    return f"{value:,.1f} s" if value < 120 else f"{value / 60:,.1f} min"


def render(found: Answer) -> Group:
    settings, outcome = found.settings, found.outcome
    first = found.sustainable
    head = Text()
    head.append(f"Stack {settings.stack}: ", style="bold")
    head.append(
        f"maximumConcurrency {settings.maximum_concurrency}, batchSize {settings.batch_size}, "
        f"{settings.memory_mb} MB, maxReceiveCount {settings.max_receive_count}, tableWarmWriteUnits "
        f"{settings.warm_write_units or 'unset'}, account concurrency {settings.account_concurrency:,}\n"
    )
    head.append(f"Sustainable: {first.orders_per_second:,.0f} orders/s", style="bold")
    head.append(f"; first limit: {first.name} ({first.detail})\n")
    head.append(
        f"At once: {found.instant_writes.orders_per_second:,.0f} orders/s before DynamoDB throttles "
        f"({found.instant_writes.detail})\n"
    )
    verdict = "meets it" if found.meets else "does NOT meet it"
    head.append(f"Target: {found.target.describe()}: the stack {verdict}\n", style="bold")
    head.append(
        f"  peak backlog {outcome.peak_backlog:,.0f} orders, oldest order {_seconds(outcome.max_age_seconds)}, "
        f"drained {_seconds(outcome.drain_seconds)} after the load ends, DLQ {outcome.dlq:,.0f}, "
        f"publish -> stored p50 {outcome.p50_ms / 1000:,.1f} s / p99 {outcome.p99_ms / 1000:,.1f} s, "
        f"peak concurrency {outcome.peak_concurrency:,.0f}\n"
        f"  throttles: SNS publish {outcome.throttles['publish']:,.0f}, Lambda {outcome.throttles['lambda']:,.0f} "
        f"batches, DynamoDB {outcome.throttles['dynamodb']:,.0f} writes\n"
    )
    limits = Table(title="Limits on the sustained rate, lowest first", title_justify="left")
    for column in ("limit", "orders/s", "from", "source (read)"):
        limits.add_column(column, overflow="fold")
    for item in found.limits:
        limits.add_row(
            item.name, f"{item.orders_per_second:,.0f}", item.detail, f"{item.source.url} ({item.source.read})"
        )
    costs = Table(
        title=f"Cost per million orders at {found.cost_rate:,.0f} orders/s (us-east-1 prices read "
        f"{found.prices_read}, capacity/prices.json)",
        title_justify="left",
    )
    for column in ("service", "item", "units per million orders", "$ per million orders"):
        costs.add_column(column, overflow="fold")
    for line in found.costs:
        costs.add_row(
            line.service, line.item, f"{line.units_per_million:,.2f} {line.unit}", f"${line.usd_per_million_orders:.4f}"
        )
    costs.add_row("total", "", "", f"${found.cost_total:.4f}", style="bold")
    parts: list[Any] = [head, limits, costs]
    if found.changes:
        change = Table(title="Smallest config change that meets the target", title_justify="left")
        for column in ("key", "now", "set to", "why"):
            change.add_column(column, overflow="fold")
        for step in found.changes:
            change.add_row(step.key, step.before, step.after, step.why)
        parts.append(change)
        if found.changed_outcome is not None:
            after = found.changed_outcome
            parts.append(
                Text(
                    f"With it: peak backlog {after.peak_backlog:,.0f}, oldest order {_seconds(after.max_age_seconds)}, "
                    f"drained {_seconds(after.drain_seconds)} after the load ends, DLQ {after.dlq:,.0f}"
                )
            )
    elif found.unreachable:
        parts.append(Text(f"No config change found: {found.unreachable}", style="bold red"))
    if found.quota_increases:
        parts.append(Text("AWS quota increases needed:\n  " + "\n  ".join(found.quota_increases), style="bold"))
    elif not found.meets:
        parts.append(Text("No AWS quota increase needed."))
    return Group(*parts)


def print_answer(found: Answer, console: Console) -> None:
    console.print(render(found))
