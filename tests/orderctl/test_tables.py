"""orderctl's tables at 80 columns, rendered by rich as a terminal of that width would show them."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from orderctl.pipeline import Attempt, DeadLetter
from orderctl.tables import dead_letters_table, orders_table, receives


def _render(table: object, width: int = 80) -> str:
    """The table as printed, checked to fit: rich crops what is wider than the console, silently."""
    console = Console(width=width, force_terminal=False, color_system=None)
    with console.capture() as captured:
        console.print(table)
    text = captured.get()
    assert all(line.rstrip()[-1:] in "│┃┐┓┤┥┨┫┩┘┛" for line in text.splitlines() if line.strip()[:1] in "│┃┌┏├┡└┗"), (
        text
    )
    return text


def _order(number: int) -> dict[str, object]:
    return {
        "orderId": f"ord-{number:06d}-{number * 7919:08x}",
        "userId": f"u-{number}",
        "status": "NEW",
        "quantity": 2,
        "totalAmount": "59.90",
        "_pipeline": {"receivedAt": "2026-11-23T11:21:05.538+00:00", "storedAt": "2026-11-23T11:21:05.601+00:00"},
    }


def test_orders_list_at_80_columns_shows_every_id_whole_and_says_how_many_are_shown() -> None:
    orders = [_order(number) for number in range(1, 6)]
    text = _render(orders_table(orders, total=42))
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    for order in orders:
        assert str(order["orderId"]) in text
    assert "5 of 42 shown" in text
    assert "shown" not in _render(orders_table(orders))


def _letter(attempts: int) -> DeadLetter:
    at = datetime(2026, 11, 23, 11, 21, 5, tzinfo=UTC)
    reason = 'invalid order: quantity: must be an integer of at least 1, or a string of digits such as "2"'
    return DeadLetter(
        message_id="6f1c2a9e-3b7d-4c55-9a0e-0d2f6f7a8b11",
        order_text='{"orderId": "cli-dlq", "userId": "u-42", "itemName": "Keyboard", "quantity": 0}',
        receive_count=7,  # SQS's count: every listing adds to it
        sent_at=at,
        attempts=[Attempt(n, at, "permanent", reason) for n in range(1, attempts + 1)],
    )


def test_dlq_list_at_80_columns_keeps_the_message_id_the_order_and_the_reason_readable() -> None:
    letter = _letter(3)
    text = _render(dead_letters_table([letter]))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in text
    assert any(letter.message_id in line for line in lines)  # whole, on one line
    flattened = "".join(line.strip(" │┃") for line in lines)
    for word in ("cli-dlq", "Keyboard", "invalid", "order:", "quantity:", "least", "digits"):
        assert word in flattened
    assert "first failed 2026-11-23 11:21:05" in flattened


def test_the_receive_count_is_the_one_at_dead_lettering_not_sqs_s_growing_count() -> None:
    assert receives(_letter(3)) == 3
    assert receives(_letter(0)) is None
