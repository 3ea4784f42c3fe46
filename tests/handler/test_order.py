"""The order model on its own: every way an order can be invalid names the field and the rule."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handler.order import InvalidOrder, parse_order

SEED = '{"orderId": "1001", "userId": "u-42", "itemName": "Keyboard", "quantity": 2, "status": "NEW", "timestamp": "2026-11-22T10:00:00Z"}'  # noqa: E501


def test_the_seeds_message_is_accepted_as_is() -> None:
    order = parse_order(SEED)
    assert order.order_id == "1001"
    assert order.attributes == json.loads(SEED)


def test_numbers_are_decimals_and_numeric_quantities_become_numbers() -> None:
    order = parse_order(
        '{"orderId": "a", "totalAmount": 19.99, "quantity": "2", '
        '"items": [{"sku": "s", "quantity": "3", "unitPrice": 0.1}]}'
    )
    assert order.attributes["totalAmount"] == Decimal("19.99")
    assert order.attributes["quantity"] == 2
    assert order.attributes["items"][0] == {"sku": "s", "quantity": 3, "unitPrice": Decimal("0.1")}


def test_other_fields_are_kept_as_sent() -> None:
    order = parse_order('{"orderId": "a", "giftWrap": true, "notes": {"door": "blue", "floors": [1, 2]}}')
    assert order.attributes["giftWrap"] is True
    assert order.attributes["notes"] == {"door": "blue", "floors": [1, 2]}


def test_the_same_order_spelled_differently_has_the_same_hash() -> None:
    spelled = [
        '{"orderId": "a", "quantity": 2, "total": 10}',
        '{"total": 10.00, "quantity": "2", "orderId": "a"}',
        '{"orderId":"a","quantity":2,"total":1E+1}',
    ]
    assert len({parse_order(text).content_hash for text in spelled}) == 1


@pytest.mark.parametrize(
    "other",
    [
        '{"orderId": "a", "quantity": 3, "total": 10}',
        '{"orderId": "a", "quantity": 2, "total": "10"}',  # a string is not a number
        '{"orderId": "a", "quantity": 2, "total": 10, "note": null}',
        '{"orderId": "a", "quantity": 2, "total": 10.000000000000000000000000000001}',  # beyond 28 digits
    ],
)
def test_a_different_order_has_a_different_hash(other: str) -> None:
    assert parse_order(other).content_hash != parse_order('{"orderId": "a", "quantity": 2, "total": 10}').content_hash


def test_the_hash_is_a_stored_format_and_does_not_change() -> None:
    # Every stored item keeps its order's hash (_pipeline.orderHash), and a redelivery is told from a conflict by
    # comparing hashes: a new spelling of the canonical form would turn redeliveries of orders stored before a
    # deploy into conflicts. Strings with escapes and non-ASCII text, numbers in three spellings, null, true, nesting.
    text = (
        '{"orderId": "o-1", "quantity": "2", '
        '"items": [{"sku": "KB\\u2603\u00fc", "quantity": 2, "unitPrice": 49.990}], "totalAmount": 1E2, '
        '"note": null, "gift": true, "tags": {"b": "x\\"y\\n", "a": -0.5}}'
    )
    assert parse_order(text).content_hash == "sha256:50145bbe781b2fb0ad9751a5bf031855669908bd68c399d3e6da577b7996c656"


INVALID = [
    ("", "body", "JSON"),
    ("{not json", "body", "JSON"),
    ("[1, 2]", "body", "object"),
    ('"an order"', "body", "object"),
    ('{"orderId": "a", "orderId": "b"}', "body", "unique keys"),
    ('{"orderId": "a", "total": NaN}', "body", "finite numbers"),
    ('{"orderId": "a", "total": -Infinity}', "body", "finite numbers"),
    ('{"userId": "u-1"}', "orderId", "required"),
    ('{"orderId": ""}', "orderId", "minLength"),
    ('{"orderId": "has space"}', "orderId", "pattern"),
    ('{"orderId": "' + "a" * 129 + '"}', "orderId", "maxLength"),
    ('{"orderId": 1001}', "orderId", "type"),
    ('{"orderId": "a", "userId": 42}', "userId", "type"),
    ('{"orderId": "a", "quantity": 0}', "quantity", "anyOf"),
    ('{"orderId": "a", "quantity": 1.5}', "quantity", "anyOf"),
    ('{"orderId": "a", "quantity": "two"}', "quantity", "anyOf"),
    ('{"orderId": "a", "quantity": true}', "quantity", "anyOf"),
    ('{"orderId": "a", "timestamp": "yesterday"}', "timestamp", "format"),
    ('{"orderId": "a", "totalAmount": -0.01}', "totalAmount", "minimum"),
    ('{"orderId": "a", "currency": "euro"}', "currency", "pattern"),
    ('{"orderId": "a", "items": {}}', "items", "type"),
    ('{"orderId": "a", "items": [{"sku": "s", "quantity": 1}]}', "items[0].unitPrice", "required"),
    ('{"orderId": "a", "items": [{"sku": "s", "quantity": 1, "unitPrice": -1}]}', "items[0].unitPrice", "minimum"),
    ('{"orderId": "a", "_pipeline": {"orderHash": "forged"}}', "_pipeline", "not"),
    ('{"orderId": "a", "big": 1' + "0" * 40 + "1}", "big", "number precision"),
    ('{"orderId": "a", "big": 1e126}', "big", "number range"),
    ('{"orderId": "a", "tiny": 1e-131}', "tiny", "number range"),
    ('{"orderId": "a", "": 1}', "(empty key)", "key"),
    ('{"orderId": "a", "bad": "\\ud800"}', "bad", "unicode"),
    ('{"orderId": "a", "deep": ' + "[" * 33 + "]" * 33 + "}", "deep" + "[0]" * 32, "nesting"),
    ('{"orderId": "a", "deep": ' + "[" * 5000 + "]" * 5000 + "}", "body", "nesting"),
    ('{"orderId": "a", "notes": "' + "x" * 410_000 + '"}', "order", "item size"),
]


@pytest.mark.parametrize(("text", "field", "rule"), INVALID, ids=[f"{f}:{r}" for _, f, r in INVALID])
def test_an_invalid_order_names_the_field_and_the_rule(text: str, field: str, rule: str) -> None:
    with pytest.raises(InvalidOrder) as raised:
        parse_order(text)
    assert (raised.value.field, raised.value.rule) == (field, rule)
    assert str(raised.value).startswith(f"{field}: ")
    assert f"(rule: {rule})" in str(raised.value)


def test_thirty_two_levels_of_nesting_are_allowed() -> None:
    assert parse_order('{"orderId": "a", "deep": ' + "[" * 32 + "]" * 32 + "}").order_id == "a"


def test_the_error_carries_the_order_id_when_there_is_one() -> None:
    with pytest.raises(InvalidOrder) as raised:
        parse_order('{"orderId": "o-7", "quantity": 0}')
    assert raised.value.order_id == "o-7"
