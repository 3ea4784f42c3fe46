"""Stores an order once: a conditional write that never overwrites, telling duplicates from conflicts."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from handler.envelope import Delivery
from handler.order import METADATA_ATTRIBUTE, Order

if TYPE_CHECKING:
    from types_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_serialize = TypeSerializer().serialize


class Saved(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the same order delivered again: nothing written


class OrderConflict(Exception):  # noqa: N818 (a verdict on the order, not a program error)
    """Another order with this orderId is stored: a permanent failure, for a person to look at."""

    def __init__(self, order_id: str, stored_hash: str, new_hash: str) -> None:
        self.order_id = order_id
        super().__init__(
            f"orderId {order_id!r} is already stored with different content "
            f"(stored {stored_hash[:19]}, received {new_hash[:19]}); the stored order is kept"
        )


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OrderStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name

    def save(self, order: Order, delivery: Delivery) -> Saved:
        item = {
            **order.attributes,
            METADATA_ATTRIBUTE: {
                "receivedAt": delivery.received_at,
                "storedAt": _now(),
                "sourceMessageId": delivery.source_message_id,
                "deliveredVia": delivery.via,
                "orderHash": order.content_hash,
            },
        }
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item={name: _serialize(value) for name, value in item.items()},
                ConditionExpression="attribute_not_exists(orderId)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self._compare_with_stored(order)
        return Saved.STORED

    def _compare_with_stored(self, order: Order) -> Saved:
        stored = self._client.get_item(
            TableName=self._table_name,
            Key={"orderId": {"S": order.order_id}},
            ConsistentRead=True,  # the write that beat ours must be visible
            ProjectionExpression="#meta.orderHash",
            ExpressionAttributeNames={"#meta": METADATA_ATTRIBUTE},
        ).get("Item", {})
        stored_hash = stored.get(METADATA_ATTRIBUTE, {}).get("M", {}).get("orderHash", {}).get("S", "")
        if stored_hash == order.content_hash:
            return Saved.DUPLICATE
        raise OrderConflict(
            order.order_id, stored_hash or "(no hash: written outside the pipeline)", order.content_hash
        )
