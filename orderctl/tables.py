"""The tables orderctl prints: ids are never cut, and at 80 columns each row stays readable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from orderctl.pipeline import SUBSCRIPTION_DLQ, DeadLetter


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _date_and_time(moment: str | None) -> str:
    """An ISO timestamp as date and time to the second, on two lines: a narrow column still reads it."""
    if not moment:
        return ""
    date, _, clock = moment.partition("T")
    return f"{date}\n{clock[:8]}" if clock else date


def _took(received: str | None, stored: str | None) -> str:
    if not (received and stored):
        return ""
    seconds = (datetime.fromisoformat(stored) - datetime.fromisoformat(received)).total_seconds()
    return f"{seconds * 1000:.0f} ms"


def orders_table(orders: list[dict[str, Any]], total: int | None = None) -> Table:
    """`total`: how many the table holds, when `orders` is a part of it (a --limit applied)."""
    caption = f"{len(orders)} of {total} shown (raise --limit for more)" if total is not None else None
    table = Table(caption=caption, caption_justify="left")
    width = max((len(_cell(order.get("orderId"))) for order in orders), default=7)
    table.add_column("orderId", no_wrap=True, min_width=max(width, 7))  # an id is looked up: never cut
    table.add_column("userId", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("qty", justify="right", overflow="fold")
    table.add_column("total", justify="right", overflow="fold")
    table.add_column("stored (UTC)", no_wrap=True, min_width=10)
    table.add_column("took", justify="right", no_wrap=True)
    for order in orders:
        meta = order.get("_pipeline", {})
        cells = [_cell(order.get(name)) for name in ("orderId", "userId", "status", "quantity", "totalAmount")]
        received, stored = meta.get("receivedAt"), meta.get("storedAt")
        table.add_row(*cells, _date_and_time(stored), _took(received, stored))
    return table


def receives(letter: DeadLetter) -> int | None:
    """How many receives the message had when it was dead-lettered: the processor logs each attempt's
    number. SQS's own count would grow with every listing (listing receives the messages)."""
    return max((attempt.number for attempt in letter.attempts), default=None)


def _moment(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "?"


def dead_letters_table(letters: list[DeadLetter]) -> Table:
    """One row per message: its id whole, its order and failure times below it; receives; the reason."""
    table = Table(title=f"{len(letters)} in the DLQ", title_justify="left", show_lines=True, expand=True)
    id_width = max((len(letter.message_id) for letter in letters), default=7)
    table.add_column("message, order, failures (UTC)", overflow="fold", width=max(id_width, 32))  # id whole
    table.add_column("receives", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold", ratio=1)
    for letter in letters:
        lines = [letter.message_id, f"[dim]{escape(letter.order_text)}[/]"]
        if letter.attempts:
            first, last = letter.attempts[0].at, letter.attempts[-1].at
            lines += [f"first failed {_moment(first)}", f"last failed  {_moment(last)}"]
        count = receives(letter)
        shown = "-" if letter.source == SUBSCRIPTION_DLQ else "?" if count is None else str(count)  # SNS: none
        table.add_row("\n".join(lines), shown, escape(letter.reason or "(no failure logged)"))
    return table
