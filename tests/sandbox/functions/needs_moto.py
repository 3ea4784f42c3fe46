"""Imports a library the sandbox's venv has but the code archive does not: fails on Lambda at init."""

import moto  # noqa: F401


def handler(event, context):
    return {"batchItemFailures": []}
