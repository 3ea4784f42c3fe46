"""Orders to publish: the seeds' test message, realistic samples, and the processor's verdict on an order."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# The processor's own order model (a pure module): what publish accepts is exactly what the processor stores.
from handler.order import InvalidOrder, parse_order

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
    items: list[dict[str, Any]] = [
        {"sku": sku, "quantity": rng.randint(1, 4), "unitPrice": price} for sku, _, price in lines
    ]
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
    """Why the processor would reject this order text, or None: the processor's own parsing and validation."""
    try:
        parse_order(text)
    except InvalidOrder as error:
        return str(error)
    return None
