"""Placeholder entry point; the real processor replaces it."""

from typing import Any


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, list[dict[str, str]]]:
    return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in event.get("Records", [])]}
