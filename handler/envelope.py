"""Finds the order in an SQS record body: inside an SNS envelope (non-raw delivery) or as the body itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handler.order import InvalidOrder


@dataclass(frozen=True)
class Delivery:
    order_text: str
    source_message_id: str  # SNS MessageId when enveloped, else the SQS messageId
    received_at: str  # ISO 8601: SNS Timestamp when enveloped, else SQS SentTimestamp
    via: str  # "sns-envelope" or "raw"


def unwrap(body: str, message_id: str, attributes: Mapping[str, str]) -> Delivery:
    """Raises InvalidOrder for an SNS envelope whose Message is missing or not a string."""
    envelope = _as_sns_envelope(body)
    if envelope is None:
        return Delivery(body, message_id, _from_epoch_millis(attributes.get("SentTimestamp")), "raw")
    message = envelope.get("Message")
    if not isinstance(message, str):
        found = "missing" if message is None else f"a {type(message).__name__}"
        raise InvalidOrder("Message", "SNS envelope", f"must be the order as a string, found {found}")
    return Delivery(
        order_text=message,
        source_message_id=str(envelope.get("MessageId") or message_id),
        received_at=str(envelope.get("Timestamp") or _from_epoch_millis(attributes.get("SentTimestamp"))),
        via="sns-envelope",
    )


def _as_sns_envelope(body: str) -> dict[str, Any] | None:
    # Substring test first, so a raw order body is not parsed twice.
    if '"Type"' not in body or '"Notification"' not in body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and document.get("Type") == "Notification" and "TopicArn" in document:
        return document
    return None


def _from_epoch_millis(value: str | None) -> str:
    try:
        moment = datetime.fromtimestamp(int(value or "") / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        moment = datetime.now(tz=UTC)  # Lambda always sends SentTimestamp; this only guards hand-made events
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
