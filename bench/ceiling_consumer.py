"""One consumer of the sandbox benchmark's fair ceiling, in a process of its own as each function
environment is: `python -m bench.ceiling_consumer '<job JSON>'`.

Threads in the benchmark's process would spend the emulator's interpreter on their SDK calls (the
sandbox serves from the benchmark's process), and the pipeline, whose SDK calls run in its environments'
processes, would beat its own ceiling.

Protocol: the consumer makes its clients, says `ready` on stdout and waits for `go` on stdin. Then it
receives up to the batch size, writes each order with one conditional PutItem (in parallel, as the
processor writes), deletes the batch, and prints the stored order ids as one JSON list per batch, until
stdin closes. A failure is printed as `failed <error>`, and the consumer exits 1.
"""

from __future__ import annotations

import contextlib
import json
import sys
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


def _stdin_closed() -> bool:
    return sys.stdin.readline() == ""


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

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    stopping = ThreadPoolExecutor(max_workers=1).submit(_stdin_closed)  # the parent closes stdin to stop us
    with ThreadPoolExecutor(max_workers=batch_size) as writers:
        while not stopping.done():
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(10, batch_size),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                continue
            order_ids = list(writers.map(put, messages))
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            print(json.dumps(order_ids), flush=True)


def main() -> None:
    try:
        consume(json.loads(sys.argv[1]))
    except Exception as error:  # noqa: BLE001 (reported to the parent, which ends the measurement with it)
        print(f"failed {error!r}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
