"""Finding the order in a record body: SNS envelope or raw."""

from __future__ import annotations

import json

import pytest

from handler.envelope import unwrap
from handler.order import InvalidOrder

ORDER = '{"orderId": "1001"}'
ENVELOPE = {
    "Type": "Notification",
    "MessageId": "5b6b2f2e-0c0e-5f0e-9a55-4c0e2a4e8d11",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders-dev-topic-4393c5e",
    "Message": ORDER,
    "Timestamp": "2026-11-22T10:00:01.123Z",
    "SignatureVersion": "1",
    "Signature": "EXAMPLE==",
    "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-EXAMPLE.pem",
    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=EXAMPLE",
}


def test_an_sns_envelope_gives_its_message_id_and_timestamp() -> None:
    delivery = unwrap(json.dumps(ENVELOPE), "sqs-message-id", {"SentTimestamp": "1795341600000"})
    assert delivery.order_text == ORDER
    assert delivery.source_message_id == ENVELOPE["MessageId"]
    assert delivery.received_at == "2026-11-22T10:00:01.123Z"
    assert delivery.via == "sns-envelope"


def test_a_raw_body_is_the_order_received_at_the_sent_timestamp() -> None:
    delivery = unwrap(ORDER, "sqs-message-id", {"SentTimestamp": "1795341600000"})
    assert (delivery.order_text, delivery.source_message_id, delivery.via) == (ORDER, "sqs-message-id", "raw")
    assert delivery.received_at == "2026-11-22T10:00:00.000Z"


def test_an_order_that_merely_mentions_notification_is_still_raw() -> None:
    body = '{"orderId": "1", "Type": "Notification", "note": "no TopicArn here"}'
    assert unwrap(body, "m", {}).order_text == body


@pytest.mark.parametrize(("message", "found"), [(None, "missing"), ({"orderId": "1"}, "a dict"), (7, "a int")])
def test_an_envelope_without_a_string_message_names_the_field(message: object, found: str) -> None:
    envelope: dict[str, object] = {key: value for key, value in ENVELOPE.items() if key != "Message"}
    if message is not None:
        envelope["Message"] = message
    with pytest.raises(InvalidOrder) as raised:
        unwrap(json.dumps(envelope), "m", {})
    assert raised.value.field == "Message"
    assert raised.value.rule == "SNS envelope"
    assert found in str(raised.value)
