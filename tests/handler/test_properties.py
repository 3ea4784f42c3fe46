"""Property-based: whatever a body holds, the handler answers for every record and stores only valid orders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from handler.order import METADATA_ATTRIBUTE, InvalidOrder, parse_order, validate_order
from sandbox.lambda_runtime import Handler, LambdaContext
from tests.handler.conftest import REGION, TABLE, create_orders_table, hand_made_event

_deserialize = TypeDeserializer().deserialize
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_orders_table(dynamodb)
        yield dynamodb


def _empty(table: Any) -> None:
    """A fresh table per example, so checking every stored item stays cheap."""
    table.delete_table(TableName=TABLE)
    create_orders_table(table)


def _context() -> LambdaContext:
    return LambdaContext("orders-test-processor", 256, "arn:aws:lambda:us-east-1:123456789012:function:f", 30)


def _answer(handler: Handler, table: Any, bodies: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    _empty(table)
    event = hand_made_event(*bodies)
    response = handler(event, _context())  # must not raise, whatever the bodies are
    assert set(response) == {"batchItemFailures"}
    return event, response


def _as_parsed(value: Any) -> Any:
    """A stored value as JSON parsing gives it: DynamoDB returns every number as a Decimal."""
    if isinstance(value, dict):
        return {key: _as_parsed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_parsed(item) for item in value]
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _assert_every_stored_item_is_a_valid_order(table: Any) -> None:
    for item in table.scan(TableName=TABLE)["Items"]:
        order = {name: _as_parsed(_deserialize(value)) for name, value in item.items() if name != METADATA_ATTRIBUTE}
        revalidated = validate_order(order)  # raises if an invalid order was stored
        assert revalidated.content_hash == item[METADATA_ATTRIBUTE]["M"]["orderHash"]["S"]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: d.is_finite())
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
valid_fields: dict[str, st.SearchStrategy[Any]] = {
    "orderId": st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True),
    "userId": st.text(max_size=20),
    "quantity": st.integers(min_value=1, max_value=10**6) | st.integers(min_value=1, max_value=999).map(str),
    "timestamp": st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
    "totalAmount": st.decimals(min_value=0, max_value=10**9, places=2),
    "currency": st.from_regex(r"[A-Z]{3}", fullmatch=True),
    "items": st.lists(
        st.fixed_dictionaries(
            {
                "sku": st.text(min_size=1, max_size=8),
                "quantity": st.integers(min_value=1, max_value=50),
                "unitPrice": st.decimals(min_value=0, max_value=1000, places=2),
            }
        ),
        max_size=3,
    ),
}


@st.composite
def order_like_documents(draw: st.DrawFn) -> str:
    """Objects shaped like orders: each known field absent, valid or anything at all, plus extra fields."""
    document: dict[str, Any] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    for name, valid in valid_fields.items():
        choice = draw(st.sampled_from(["absent", "anything", *["valid"] * 8]))
        if choice != "absent":
            document[name] = draw(valid if choice == "valid" else json_values)
    return json.dumps(document, ensure_ascii=draw(st.booleans()), default=float)


@PROPERTY_SETTINGS
@given(bodies=st.lists(st.text(max_size=300) | order_like_documents(), min_size=1, max_size=10))
def test_any_batch_gets_an_answer_for_every_record_and_only_valid_orders_are_stored(
    lambda_handler: Handler, table: Any, bodies: list[str]
) -> None:
    event, response = _answer(lambda_handler, table, bodies)
    record_ids = {record["messageId"] for record in event["Records"]}
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert failed <= record_ids
    for record in event["Records"]:
        try:
            order = parse_order(record["body"])
        except InvalidOrder:
            assert record["messageId"] in failed  # an invalid order is always reported
            continue
        if record["messageId"] not in failed:  # a success means the order is in the table
            stored = table.get_item(TableName=TABLE, Key={"orderId": {"S": order.order_id}}, ConsistentRead=True)
            assert "Item" in stored
    _assert_every_stored_item_is_a_valid_order(table)


@PROPERTY_SETTINGS
@given(body=st.binary(max_size=200).map(lambda raw: raw.decode("utf-8", errors="surrogateescape")))
def test_arbitrary_bytes_never_escape_the_handler(lambda_handler: Handler, table: Any, body: str) -> None:
    event, response = _answer(lambda_handler, table, [body])
    try:
        parse_order(body)
    except InvalidOrder:
        assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


# Hostile input: what a broken or malicious publisher can put in a body.

LIMIT_NUMBERS = [
    "9.9999999999999999999999999999999999999E+125",  # DynamoDB's largest
    "1E+126",  # one past it
    "1E-130",  # DynamoDB's smallest
    "1E-131",
    "12345678901234567890123456789012345678",  # 38 digits: fine
    "123456789012345678901234567890123456789",  # 39: too precise
    "-0",
    "0.000",
    "1e400",
    "NaN",
    "Infinity",
    "-Infinity",
]
identifiers = st.from_regex(r"[A-Za-z0-9._:-]{1,12}", fullmatch=True)
hostile_values = st.one_of(
    st.sampled_from(LIMIT_NUMBERS),
    st.integers(min_value=1, max_value=2500).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(min_value=1, max_value=2500).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.text(max_size=30).map(json.dumps),
    st.sampled_from(['"\\ud800"', '"\\udfff tail"', '"\\u0000"', '"emoji \\ud83d\\ude00"']),
    st.integers(min_value=300_000, max_value=420_000).map(lambda size: json.dumps("x" * size)),
)


@st.composite
def hostile_orders(draw: st.DrawFn) -> str:
    """Order JSON text assembled by hand, so it can hold what json.dumps never writes."""
    fields = [f'"orderId": {json.dumps(draw(identifiers))}'] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        fields.append(
            f"{json.dumps(draw(st.sampled_from(['quantity', 'totalAmount', 'note', ''])))}: {draw(hostile_values)}"
        )
    if draw(st.booleans()):
        fields.append(fields[0] if fields else '"orderId": "dup"')  # a duplicate key
    return "{" + ", ".join(draw(st.permutations(fields))) + "}"


@st.composite
def envelopes(draw: st.DrawFn) -> str:
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "5b6b2f2e-0c0e-5f0e-9a55-4c0e2a4e8d11",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
        "Timestamp": "2026-11-22T10:00:01.000Z",
    }
    message = draw(
        st.one_of(
            st.just("(missing)"),
            st.none(),
            st.integers(),
            st.lists(st.integers(), max_size=3),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
            hostile_orders(),
            order_like_documents(),
        )
    )
    if message != "(missing)":
        envelope["Message"] = message
    return json.dumps(envelope)


@PROPERTY_SETTINGS
@given(
    bodies=st.lists(
        st.one_of(hostile_orders(), envelopes(), st.binary(max_size=64).map(lambda b: b.decode("latin-1"))),
        min_size=1,
        max_size=6,
    )
)
def test_hostile_bodies_never_escape_never_store_invalid_and_every_failure_is_named(
    lambda_handler: Handler, table: Any, caplog: pytest.LogCaptureFixture, bodies: list[str]
) -> None:
    caplog.clear()
    event, response = _answer(lambda_handler, table, bodies)
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert failed <= {record["messageId"] for record in event["Records"]}
    named = {
        record.__dict__.get("message_id"): record.__dict__.get("reason")
        for record in caplog.records
        if record.__dict__.get("failure")
    }
    for message_id in failed:
        assert named.get(message_id), f"record {message_id} failed without a logged reason"
    _assert_every_stored_item_is_a_valid_order(table)
