"""The emulator's queues: the same attributes as moto's, and sends and receives whose work does not grow with
the queue's depth (sandbox/sqs_attributes.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import Message, Queue, sqs_backends

from sandbox.emulator import Emulator
from sandbox.sqs_attributes import QueueAttributes, moto_attributes

REGION = "us-east-1"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    running = Emulator(REGION)
    running.start()
    yield running
    running.stop()


def _backend_queue(name: str) -> Queue:
    queue: Queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues[name]
    return queue


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("plain", {}),
        ("fifo.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
        ("encrypted", {"KmsMasterKeyId": "alias/aws/sqs", "DelaySeconds": "2"}),
        (
            "with-policies",
            {
                "Policy": json.dumps({"Version": "2012-10-17", "Statement": []}),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": f"arn:aws:sqs:{REGION}:123456789012:plain", "maxReceiveCount": 3}
                ),
            },
        ),
    ],
)
def test_every_attribute_reads_as_moto_gives_it(emulator: Emulator, name: str, attributes: dict[str, str]) -> None:
    sqs = emulator.endpoint.client("sqs")
    sqs.create_queue(QueueName="plain")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a", **({"MessageGroupId": "g"} if name.endswith(".fifo") else {}))
    queue = _backend_queue(name)
    theirs = moto_attributes(queue)
    ours = QueueAttributes(queue)
    assert list(ours) == list(theirs)
    assert dict(ours) == theirs
    assert ours.get("NoSuchAttribute") is None
    over_the_api = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert over_the_api == {key: str(value) for key, value in theirs.items() if value is not None}


def _visibility_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how often moto asks a message whether it is visible: each walk of the queue asks every message."""
    checks = [0]
    visible = Message.visible

    def counted(message: Message) -> bool:
        checks[0] += 1
        return bool(visible.fget(message))  # type: ignore[attr-defined]  # (a property: typeshed sees a method)

    monkeypatch.setattr(Message, "visible", property(counted))
    return checks


@pytest.mark.parametrize("depth", [10, 400])
def test_a_send_never_walks_the_queue_and_a_receive_walks_it_once(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    sqs = emulator.endpoint.client("sqs")
    url = sqs.create_queue(QueueName=f"deep-{depth}")["QueueUrl"]
    for start in range(0, depth, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    checks = _visibility_checks(monkeypatch)
    sqs.send_message(QueueUrl=url, MessageBody="one more")
    assert checks[0] == 0, f"a send into a queue of {depth} asked {checks[0]} times whether a message is visible"
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 10
    # One walk for the visible messages, and a second look at each it takes: moto built every attribute
    # three times for each message it returned, three walks each time (about 90 walks for ten messages).
    assert checks[0] <= depth + 1 + len(received), f"a receive of 10 from {depth} asked {checks[0]} times"
