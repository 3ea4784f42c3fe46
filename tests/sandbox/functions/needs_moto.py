"""Imports a library the sandbox's venv has but the code archive does not: fails on Lambda at init."""

from typing import Any

import moto  # noqa: F401


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}
