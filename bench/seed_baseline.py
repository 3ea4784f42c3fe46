"""A handler written the way the seeds' handlers are: the baseline the benchmarks compare against.

It unwraps the envelope when a Message key is present, writes each item unconditionally, one after
the other, logs the order id, and re-raises on any error, which fails and retries the whole batch.
"""

import json
import os
from decimal import Decimal
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    for record in event["Records"]:
        body = json.loads(record["body"], parse_float=Decimal)
        order = json.loads(body["Message"], parse_float=Decimal) if "Message" in body else body
        table.put_item(Item=order)
        print(f"stored order {order['orderId']}")
    return {"statusCode": 200}
