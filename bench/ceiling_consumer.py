"""One consumer of the sandbox benchmark's fair ceiling, in a process of its own as each function
environment is: `python -m bench.ceiling_consumer '<job JSON>'`.

Threads in the benchmark's process would spend the emulator's interpreter on their SDK calls (the
sandbox serves from the benchmark's process), and the pipeline, whose SDK calls run in its environments'
processes, would beat its own ceiling.

Protocol: the consumer makes its clients, says `ready` on stdout and waits for `go` on stdin. Then it
receives up to the batch size, writes each order with one conditional PutItem (in parallel, as the
processor writes), deletes the batch, and prints the stored order ids as one JSON list per batch, until
`pause` (it says `paused`, and waits for the next `go`) or until stdin closes (it exits). A failure is
printed as `failed <error>`, and the consumer exits 1.
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from sandbox.emulator import Endpoint

_serialize = TypeSerializer().serialize


def order_item(body: str) -> dict[str, Any]:
    """The order in a delivered message, as DynamoDB attributes: what the processor writes, minus its checks."""
    envelope = json.loads(body)
    text = envelope["Message"] if isinstance(envelope, dict) and "Message" in envelope else body
    order = json.loads(text, parse_float=Decimal)
    return {name: _serialize(value) for name, value in order.items()}


def _commands() -> queue.Queue[str]:
    """stdin's lines, as they come; `stop` when it closes."""
    commands: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            commands.put(line.strip())
        commands.put("stop")

    threading.Thread(target=read, daemon=True).start()
    return commands


def consume(job: dict[str, Any]) -> None:
    endpoint = Endpoint(job["endpoint_url"], job["region"])
    sqs, dynamodb = endpoint.client("sqs"), endpoint.client("dynamodb")
    table, queue_url, batch_size = job["table"], job["queue_url"], int(job["batch_size"])

    def put(message: dict[str, Any]) -> str:
        item = order_item(message["Body"])
        # A second delivery of a stored order is absorbed, as the processor absorbs it.
        with contextlib.suppress(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(orderId)")
        return str(item["orderId"]["S"])

    commands = _commands()
    print("ready", flush=True)
    with ThreadPoolExecutor(max_workers=batch_size) as writers:
        while commands.get() == "go":
            while (command := _waiting(commands)) is None:  # consuming, until told to pause or stop
                order_ids = _one_batch(sqs, queue_url, batch_size, writers, put)
                if order_ids:
                    print(json.dumps(order_ids), flush=True)
            if command != "pause":
                return
            print("paused", flush=True)


def _waiting(commands: queue.Queue[str]) -> str | None:
    try:
        return commands.get_nowait()
    except queue.Empty:
        return None


def _one_batch(
    sqs: Any, queue_url: str, batch_size: int, writers: ThreadPoolExecutor, put: Callable[[dict[str, Any]], str]
) -> list[str]:
    """Receive, write each order, delete the batch: the stored order ids (none if nothing came in a second)."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=min(10, batch_size),
        WaitTimeSeconds=1,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return []
    order_ids = list(writers.map(put, messages))
    sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
    )
    return order_ids


def main() -> None:
    try:
        consume(json.loads(sys.argv[1]))
    except Exception as error:  # noqa: BLE001 (reported to the parent, which ends the measurement with it)
        print(f"failed {error!r}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
