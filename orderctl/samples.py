"""Orders to publish: the seeds' test message, realistic samples, and a check against the order schema."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema

# The contract the processor enforces, read as data (orderctl does not import the handler).
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "handler" / "order.schema.json"

SEED_ORDER: dict[str, Any] = {
    "orderId": "1001",
    "userId": "u-42",
    "itemName": "Keyboard",
    "quantity": 2,
    "status": "NEW",
    "timestamp": "2026-11-22T10:00:00Z",
}

_CATALOG = [
    ("KB-101", "Keyboard", Decimal("49.99")),
    ("MS-202", "Mouse", Decimal("19.99")),
    ("MN-303", "Monitor", Decimal("189.00")),
    ("HS-404", "Headset", Decimal("59.90")),
    ("CB-505", "USB-C cable", Decimal("9.95")),
]


def sample_order(rng: random.Random, number: int) -> dict[str, Any]:
    lines = rng.sample(_CATALOG, k=rng.randint(1, 3))
    items = [{"sku": sku, "quantity": rng.randint(1, 4), "unitPrice": price} for sku, _, price in lines]
    return {
        "orderId": f"ord-{number:05d}-{rng.randrange(16**6):06x}",
        "userId": f"u-{rng.randint(1, 500)}",
        "itemName": lines[0][1],
        "quantity": sum(item["quantity"] for item in items),
        "status": "NEW",
        "timestamp": datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "items": items,
        "totalAmount": sum((item["unitPrice"] * item["quantity"] for item in items), Decimal(0)),
        "currency": "EUR",
    }


def to_json(order: dict[str, Any]) -> str:
    # Prices have two decimals, whose shortest float spelling is exact: 19.99 is written as 19.99.
    return json.dumps(order, default=float)


def problem_with(text: str) -> str | None:
    """Why the processor would reject this order text (as far as JSON and the schema tell), or None."""
    try:
        document = json.loads(text, parse_float=Decimal)
    except ValueError as error:
        return f"not valid JSON: {error}"
    try:
        _validator()(document)
    except fastjsonschema.JsonSchemaValueException as error:
        field = (error.name or "data").removeprefix("data").lstrip(".") or "order"
        described = error.definition.get("description") if isinstance(error.definition, dict) else None
        why = described if described and field != "order" else error.message.split(" ", 1)[-1]
        return f"{field}: {why} (schema rule: {error.rule})"
    return None


@cache
def _validator() -> Any:
    return fastjsonschema.compile(json.loads(SCHEMA_FILE.read_text()))
