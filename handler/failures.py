"""What a failed record means: permanent (it can never succeed) or transient (a retry may), and when it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from handler.order import InvalidOrder
from handler.store import OrderConflict

if TYPE_CHECKING:
    from types_boto3_sqs import SQSClient
else:
    SQSClient = Any

# DynamoDB refusing the request itself: retrying the same item cannot help.
_PERMANENT_AWS_ERRORS = frozenset({"ValidationException", "SerializationException"})
_SQS_BATCH_LIMIT = 10


class Kind(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    reason: str


def classify(error: BaseException) -> Failure:
    if isinstance(error, InvalidOrder):
        return Failure(Kind.PERMANENT, f"invalid order: {error}")
    if isinstance(error, OrderConflict):
        return Failure(Kind.PERMANENT, f"conflict: {error}")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        kind = Kind.PERMANENT if code in _PERMANENT_AWS_ERRORS else Kind.TRANSIENT
        return Failure(kind, f"{code}: {details.get('Message', '')}".rstrip(": "))
    if isinstance(error, BotoCoreError):
        return Failure(Kind.TRANSIENT, f"{type(error).__name__}: {error}")
    # An unexpected error may be a bug or a blip; retrying costs little and the DLQ keeps the order.
    return Failure(Kind.TRANSIENT, f"unexpected {type(error).__name__}: {error}")


@dataclass(frozen=True)
class Redelivery:
    queue_arn: str
    receipt_handle: str


def queue_url(endpoint_url: str, queue_arn: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> -> <endpoint>/<account>/<name>, without a GetQueueUrl call."""
    *_, account, name = queue_arn.split(":")
    return f"{endpoint_url.rstrip('/')}/{account}/{name}"


def expedite(sqs: SQSClient, redeliveries: Sequence[Redelivery]) -> list[str]:
    """Makes permanently failed messages visible again at once, so they reach the DLQ in seconds instead of
    after maxReceiveCount visibility timeouts. Returns the errors; a failure here only delays the DLQ."""
    errors: list[str] = []
    by_queue: dict[str, list[Redelivery]] = {}
    for redelivery in redeliveries:
        by_queue.setdefault(redelivery.queue_arn, []).append(redelivery)
    for queue_arn, batch in by_queue.items():
        url = queue_url(sqs.meta.endpoint_url, queue_arn)
        for start in range(0, len(batch), _SQS_BATCH_LIMIT):
            entries = [
                {"Id": str(index), "ReceiptHandle": item.receipt_handle, "VisibilityTimeout": 0}
                for index, item in enumerate(batch[start : start + _SQS_BATCH_LIMIT])
            ]
            try:
                response = sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
                errors.extend(f"{f['Id']}: {f.get('Message', f['Code'])}" for f in response.get("Failed", []))
            except (ClientError, BotoCoreError) as error:
                errors.append(str(error))
    return errors
