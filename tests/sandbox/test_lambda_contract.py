"""The sandbox keeps Lambda's contract: the SQS event's shape, and how a partial batch response is read."""

from __future__ import annotations

import pytest

from sandbox.lambda_runtime import LambdaContext, sqs_event
from sandbox.poller import failed_ids

# A record as AWS documents Lambda's SQS event (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
AWS_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}
RECEIVED = {
    "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
    "Body": '{"orderId": "1001"}',
    "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
    "Attributes": {
        "ApproximateReceiveCount": "2",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
        "MessageGroupId": "not passed on a standard queue",
    },
    "MessageAttributes": {"source": {"StringValue": "shop", "DataType": "String"}},
}


def test_a_received_message_becomes_a_record_shaped_like_lambdas() -> None:
    [record] = sqs_event([RECEIVED], "arn:aws:sqs:us-east-1:123456789012:orders", "us-east-1")["Records"]
    assert set(record) == AWS_RECORD_KEYS
    assert record["eventSource"] == "aws:sqs"
    assert record["attributes"] == {
        "ApproximateReceiveCount": "2",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    }
    assert record["messageAttributes"] == {
        "source": {
            "stringValue": "shop",
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }


def test_the_context_counts_down_from_the_function_timeout() -> None:
    context = LambdaContext("orders-dev-processor", 256, "arn:aws:lambda:us-east-1:1:function:f", timeout_seconds=30)
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert context.log_group_name == "/aws/lambda/orders-dev-processor"


BATCH = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("response", "failed"),
    [
        ({"batchItemFailures": []}, set()),
        (None, set()),  # returning nothing is a success
        # AWS Lambda developer guide, "Handling errors for an SQS event source": a null batchItemFailures is
        # complete success (issue 17, finding 4: the sandbox failed the whole batch)
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [None]}, None),  # a null entry is not an item: the whole batch fails
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}, {"a", "c"}),
        ({"statusCode": 200}, set()),  # no list: nothing failed
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # an unknown id fails the whole batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"id": "a"}]}, None),
        ({"batchItemFailures": "a"}, None),
        ("not a dict", None),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(response: object, failed: set[str] | None) -> None:
    assert failed_ids(response, BATCH) == failed
