"""Targets: each benchmark figure with its target, checked, and the summary table `make bench` ends with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Check:
    """One figure against its target. `measured` and `target` are display text; `passed` is the verdict."""

    suite: str
    figure: str
    measured: str
    target: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        return cls(**data)


def at_most(suite: str, figure: str, measured: float, limit: float, *, unit: str, fmt: str = ".1f") -> Check:
    return Check(suite, figure, f"{measured:{fmt}}{unit}", f"<= {limit:{fmt}}{unit}", measured <= limit)


def at_least(suite: str, figure: str, measured: float, limit: float, *, unit: str, fmt: str = ".1f") -> Check:
    return Check(suite, figure, f"{measured:{fmt}}{unit}", f">= {limit:{fmt}}{unit}", measured >= limit)


def summary_table(checks: Iterable[Check]) -> Table:
    table = Table(title="make bench: figures against their targets", title_justify="left")
    for column in ("suite", "figure", "measured", "target", "result"):
        table.add_column(column, overflow="fold")
    for check in checks:
        verdict = "[green]pass[/green]" if check.passed else "[bold red]FAIL[/bold red]"
        table.add_row(check.suite, check.figure, check.measured, check.target, verdict)
    return table


def print_summary(checks: list[Check], console: Console | None = None) -> bool:
    """Prints the table; True when every figure met its target."""
    console = console or Console()
    console.print(summary_table(checks))
    failed = [check for check in checks if not check.passed]
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(checks)} figures missed their targets[/bold red]")
    else:
        console.print(f"[green]all {len(checks)} figures met their targets[/green]")
    return not failed
