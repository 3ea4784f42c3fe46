"""`dlq redrive` against the emulator: the fallback only when the service lacks StartMessageMoveTask."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from orderctl.pipeline import Pipeline
from orderctl.target import Target
from sandbox.emulator import Emulator


@pytest.fixture
def pipeline() -> Iterator[Pipeline]:
    emulator = Emulator("us-east-1")
    endpoint = emulator.start()
    try:
        sqs = endpoint.client("sqs")
        outputs = {}
        for key, name in (("queue", "orders"), ("deadLetterQueue", "orders-dlq")):
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            outputs[f"{key}Url"] = url
            outputs[f"{key}Arn"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        for number in range(3):
            sqs.send_message(QueueUrl=outputs["deadLetterQueueUrl"], MessageBody=f'{{"orderId": "{number}"}}')
        yield Pipeline(Target("emulator", outputs, endpoint.url))
    finally:
        emulator.stop()


def test_an_unsupported_move_task_falls_back_to_moving_by_hand(pipeline: Pipeline) -> None:
    result = pipeline.redrive()
    assert (result.method, result.moved, result.failed) == ("receive, send, delete", 3, 0)
    assert pipeline.depths().queue_visible == 3


class _Body:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"<html><h1>Internal Server Error</h1></html>"


def test_a_server_error_is_retried_then_reported_never_taken_for_unsupported(pipeline: Pipeline) -> None:
    attempts = []

    def fail(request: Any, **_: Any) -> AWSResponse | None:
        if "StartMessageMoveTask" not in str(request.headers.get("X-Amz-Target", b"")):
            return None
        attempts.append(request)
        return AWSResponse(request.url, 500, HTTPHeaders.from_dict({"Content-Type": "text/html"}), _Body())

    pipeline._sqs.meta.events.register("before-send.sqs", fail)
    with pytest.raises(ClientError):
        pipeline.redrive()
    assert len(attempts) == 4  # the SDK's standard retry mode, as configured: one try and three retries
    assert pipeline.depths().dlq_visible == 3  # nothing moved by hand beside a task that may have started


def test_a_redrive_moves_what_was_in_the_dlq_and_never_chases_what_comes_back(pipeline: Pipeline) -> None:
    # A poison message fails again at once and is back in the DLQ before the redrive ends: the redrive must stop
    # after the three it found, as StartMessageMoveTask stops at the count it started with, not cycle forever.
    sqs = pipeline._sqs
    queue, dlq = pipeline.target.output("queueUrl"), pipeline.target.output("deadLetterQueueUrl")
    returned = 0

    def straight_back(**_: Any) -> None:
        nonlocal returned
        if returned < 100:  # bounded, so that a redrive that chases them ends and fails the test
            for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                sqs.send_message(QueueUrl=dlq, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                returned += 1

    sqs.meta.events.register("after-call.sqs.SendMessageBatch", straight_back)
    result = pipeline.redrive()
    assert (result.moved, result.failed) == (3, 0)


def test_the_subscription_dlq_is_redriven_by_receive_send_delete_never_a_move_task() -> None:
    """StartMessageMoveTask takes as source only a DLQ of other SQS queues (SQS API reference); SNS's
    subscription DLQ is none, so its messages move by hand, body and attributes as SNS left them."""
    emulator = Emulator("us-east-1")
    endpoint = emulator.start()
    try:
        sqs = endpoint.client("sqs")
        outputs = {}
        for key, name in (
            ("queue", "orders"),
            ("deadLetterQueue", "orders-dlq"),
            ("subscriptionDeadLetterQueue", "sub"),
        ):
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            outputs[f"{key}Url"] = url
            outputs[f"{key}Arn"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        envelope = '{"Type": "Notification", "MessageId": "m-1", "Message": "{\\"orderId\\": \\"1001\\"}"}'
        sqs.send_message(QueueUrl=outputs["subscriptionDeadLetterQueueUrl"], MessageBody=envelope)
        pipeline = Pipeline(Target("emulator", outputs, endpoint.url))
        tasks: list[dict[str, Any]] = []
        pipeline._sqs.meta.events.register(
            "before-call.sqs.StartMessageMoveTask", lambda params, **_: tasks.append(params)
        )

        assert pipeline.depths().subscription_dlq_visible == 1
        result = pipeline.redrive(source="subscription")

        assert (result.method, result.moved, result.failed) == ("receive, send, delete", 1, 0)
        assert tasks == []
        [moved] = sqs.receive_message(QueueUrl=outputs["queueUrl"], WaitTimeSeconds=1)["Messages"]
        assert moved["Body"] == envelope
        assert pipeline.depths().subscription_dlq_visible == 0
        assert pipeline.depths().dlq_visible == 0
    finally:
        emulator.stop()
