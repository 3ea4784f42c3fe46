"""The order model: parse an order's JSON text, validate it, normalise it, fingerprint it. Pure functions."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from pathlib import Path
from typing import Any

import fastjsonschema
from boto3.dynamodb.types import DYNAMODB_CONTEXT

SCHEMA_PATH = Path(__file__).with_name("order.schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
_validate = fastjsonschema.compile(SCHEMA)  # compiled once per container

METADATA_ATTRIBUTE = "_pipeline"  # reserved by the schema, so order fields can never clash with it
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
METADATA_RESERVE_BYTES = 1024  # room left for the metadata the store adds
MAX_NESTING = 32  # DynamoDB's limit on nested attribute levels
# Exact arithmetic for normalising numbers: the default context would round past 28 digits.
_EXACT = Context(prec=5000, Emin=MIN_EMIN, Emax=MAX_EMAX)


class InvalidOrder(Exception):  # noqa: N818 (a verdict on the order, not a program error)
    """The order can never be stored as sent: a permanent failure, naming the field and the rule."""

    def __init__(self, field: str, rule: str, explanation: str, order_id: str | None = None) -> None:
        field = field.encode("utf-8", "backslashreplace").decode()  # a field name may hold a lone surrogate
        self.field = field
        self.rule = rule
        self.explanation = explanation
        self.order_id = order_id
        super().__init__(f"{field}: {explanation} (rule: {rule})")


@dataclass(frozen=True)
class Order:
    order_id: str
    attributes: dict[str, Any]  # normalised order, numbers as int or Decimal
    content_hash: str  # of the canonical order: equal hashes mean the same order


def parse_order(text: str) -> Order:
    """Parses and validates an order's JSON text, or raises InvalidOrder."""
    return validate_order(_loads(text))


def validate_order(document: Any) -> Order:
    """Validates a parsed order (numbers as int or Decimal), or raises InvalidOrder."""
    if not isinstance(document, dict):
        raise InvalidOrder("body", "object", f"must be a JSON object, not {type(document).__name__}")
    order_id = document.get("orderId") if isinstance(document.get("orderId"), str) else None
    try:
        _validate(document)
    except fastjsonschema.JsonSchemaValueException as error:
        raise _schema_error(error, order_id) from None
    attributes = _normalise(document)
    _check_dynamodb_limits(attributes, str(order_id))
    return Order(order_id=str(order_id), attributes=attributes, content_hash=content_hash(attributes))


def content_hash(attributes: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(_canonical(attributes).encode()).hexdigest()


def _canonical(value: Any) -> str:
    """JSON with sorted keys and numbers in one spelling: 2, 2.0 and 2.00 are one number to DynamoDB. A stored
    format (every item keeps its hash): tests/handler/test_order.py pins it."""
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quoted(k)}:{_canonical(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return str(Decimal(value).normalize(_EXACT))
    return json.dumps(value)  # true, false, null


# json.dumps(text, ensure_ascii=False) without its per-call overhead: the same C function quotes the string.
_quoted = json.encoder.encode_basestring


class _DuplicateKeyError(ValueError):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _loads(text: str) -> Any:
    try:
        return json.loads(
            text,
            parse_float=Decimal,  # 19.99 stays exactly 19.99
            parse_constant=_reject_constant,
            object_pairs_hook=_reject_duplicate_keys,
        )
    except _DuplicateKeyError as error:
        raise InvalidOrder("body", "unique keys", f"has the key {error.args[0]!r} twice") from None
    except RecursionError:
        raise InvalidOrder("body", "nesting", f"nests deeper than DynamoDB's {MAX_NESTING} levels") from None
    except ValueError as error:
        if error.args and error.args[0] in ("NaN", "Infinity", "-Infinity"):
            raise InvalidOrder("body", "finite numbers", f"contains {error.args[0]}, which is not a number") from None
        raise InvalidOrder("body", "JSON", f"is not JSON: {error}") from None


def _schema_error(error: fastjsonschema.JsonSchemaValueException, order_id: str | None) -> InvalidOrder:
    field = (error.name or "data").removeprefix("data").lstrip(".") or "order"
    if error.rule == "required":
        missing = re.findall(r"'([^']+)'", error.message)
        prefix = "" if field == "order" else f"{field}."
        return InvalidOrder(f"{prefix}{missing[0]}" if missing else field, "required", "is required", order_id)
    description = error.definition.get("description") if isinstance(error.definition, dict) else None
    explanation = description if description and field != "order" else error.message.split(" ", 1)[-1]
    return InvalidOrder(field, error.rule or "schema", explanation, order_id)


def _numeric_quantity(part: dict[str, Any]) -> dict[str, Any]:
    """A quantity sent as digits becomes a number, so "2" and 2 are the same order (or item)."""
    if isinstance(part.get("quantity"), str):
        return {**part, "quantity": int(part["quantity"])}
    return part


def _normalise(document: dict[str, Any]) -> dict[str, Any]:
    normalised = _numeric_quantity(document)
    if isinstance(normalised.get("items"), list):
        normalised = {**normalised, "items": [_numeric_quantity(item) for item in normalised["items"]]}
    return normalised


def _check_dynamodb_limits(attributes: dict[str, Any], order_id: str) -> None:
    size = _item_size(attributes, "", order_id, depth=0)
    if size > MAX_ITEM_BYTES - METADATA_RESERVE_BYTES:
        raise InvalidOrder(
            "order", "item size", f"is {size} bytes as a DynamoDB item; the limit is {MAX_ITEM_BYTES} bytes", order_id
        )


def _item_size(value: Any, path: str, order_id: str, depth: int) -> int:
    """DynamoDB's size of a value (its documented sizing rules), checking each part against its limits."""
    if isinstance(value, dict):
        if depth > MAX_NESTING:
            raise InvalidOrder(path, "nesting", f"nests deeper than DynamoDB's {MAX_NESTING} levels", order_id)
        size = 3 if depth else 0
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if not key:
                raise InvalidOrder(where or "(empty key)", "key", "DynamoDB attribute names cannot be empty", order_id)
            size += (
                _text_size(key, where, order_id) + _item_size(item, where, order_id, depth + 1) + (1 if depth else 0)
            )
        return size
    if isinstance(value, list):
        if depth > MAX_NESTING:
            raise InvalidOrder(path, "nesting", f"nests deeper than DynamoDB's {MAX_NESTING} levels", order_id)
        return 3 + sum(_item_size(item, f"{path}[{i}]", order_id, depth + 1) + 1 for i, item in enumerate(value))
    if isinstance(value, str):
        return _text_size(value, path, order_id)
    if isinstance(value, bool) or value is None:
        return 1
    return _number_size(value, path, order_id)


def _text_size(text: str, path: str, order_id: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidOrder(path, "unicode", "contains a lone surrogate, which is not valid Unicode", order_id) from None


def _number_size(number: int | Decimal, path: str, order_id: str) -> int:
    exact = Decimal(number).normalize(_EXACT)
    digits = len(exact.as_tuple().digits)
    if exact and not -130 <= exact.adjusted() <= 125:
        raise InvalidOrder(path, "number range", "is outside DynamoDB's range of 1E-130 to 9.99E+125", order_id)
    if digits > DYNAMODB_CONTEXT.prec:
        raise InvalidOrder(path, "number precision", "has more than DynamoDB's 38 significant digits", order_id)
    return (digits + 1) // 2 + 1
