from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.faults import DynamoFaults
from sandbox.lambda_runtime import Handler, LambdaContext, load_handler, sqs_event

PROJECT_DIR = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TABLE = "orders-test"
ENVIRONMENT = {
    "TABLE_NAME": TABLE,
    "MAX_RECEIVE_COUNT": "3",
    "POWERTOOLS_SERVICE_NAME": "orders-test",
    "POWERTOOLS_METRICS_NAMESPACE": "OrderPipelineTest",
    "LOG_LEVEL": "INFO",
}
SEED_ORDER = {
    "orderId": "1001",
    "userId": "u-42",
    "itemName": "Keyboard",
    "quantity": 2,
    "status": "NEW",
    "timestamp": "2026-11-22T10:00:00Z",
}


@pytest.fixture(scope="session")
def faults() -> DynamoFaults:
    """Installed before the handler is loaded, so its clients carry the hook."""
    return DynamoFaults().install()


@pytest.fixture(scope="session")
def lambda_handler(faults: DynamoFaults) -> Handler:
    return load_handler("handler.app.lambda_handler", PROJECT_DIR, ENVIRONMENT)


@pytest.fixture(autouse=True)
def _no_faults_left_over(faults: DynamoFaults) -> Iterator[None]:
    faults.clear()
    yield
    faults.clear()


def create_orders_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@dataclass
class Aws:
    """The pipeline's AWS side in moto: topic -> queue (redrive to a DLQ after 3 receives) and the table."""

    dynamodb: Any
    sqs: Any
    sns: Any
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str

    def publish(self, order: dict[str, Any] | str) -> str:
        """Through SNS, so the queue gets the real envelope."""
        message = order if isinstance(order, str) else json.dumps(order)
        return str(self.sns.publish(TopicArn=self.topic_arn, Message=message)["MessageId"])

    def send_raw(self, body: str) -> str:
        """Straight to the queue, as raw message delivery does."""
        return str(self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    def receive(self, count: int = 10) -> dict[str, Any]:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return sqs_event(messages, self.queue_arn, REGION)

    def invoke(self, handler: Handler, event: dict[str, Any]) -> dict[str, Any]:
        context = LambdaContext(
            function_name="orders-test-processor",
            memory_limit_in_mb=256,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:orders-test-processor",
            timeout_seconds=30,
        )
        response: dict[str, Any] = handler(event, context)
        return response

    def stored(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=TABLE, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        return item

    def item_count(self) -> int:
        return int(self.dynamodb.scan(TableName=TABLE, Select="COUNT")["Count"])


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_orders_table(dynamodb)
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="orders-test-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName="orders-test-queue",
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="orders-test-topic")["TopicArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        yield Aws(dynamodb, sqs, sns, topic_arn, queue_url, queue_arn, dlq_url)


def hand_made_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """Records no queue could deliver (over SQS's 256 KB, say), shaped exactly like Lambda's."""
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"hand-made-{uuid.uuid4()}",
            "Body": body,
            "MD5OfBody": "0" * 32,
            "Attributes": {
                "ApproximateReceiveCount": str(receive_count),
                "SentTimestamp": "1795341600000",
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": "1795341600001",
            },
        }
        for body in bodies
    ]
    return sqs_event(messages, f"arn:aws:sqs:{REGION}:123456789012:orders-test-queue", REGION)


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {failure["itemIdentifier"] for failure in response["batchItemFailures"]}


def ids_of(event: dict[str, Any]) -> dict[str, str]:
    """orderId (or the message text when it has none) -> messageId, for the records of an event."""
    ids: dict[str, str] = {}
    for record in event["Records"]:
        text = record["body"]
        if '"Type": "Notification"' in text:
            text = json.loads(text)["Message"]
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        key = document["orderId"] if isinstance(document, dict) and "orderId" in document else text
        ids[str(key)] = record["messageId"]
    return ids
