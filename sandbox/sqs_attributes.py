"""moto's SQS queue attributes, each computed when read, so a call costs what it costs on SQS whatever the
queue's depth.

moto builds every attribute of a queue whenever one is read, and three of them (ApproximateNumberOfMessages,
...Delayed, ...NotVisible) walk every message in the queue, asking each for the time. SendMessage reads one
attribute (ContentBasedDeduplication); ReceiveMessage reads MessageRetentionPeriod three times for each
message it returns. So a send cost three walks of the queue and a receive of ten cost ninety: the deeper the
backlog, the slower the emulator drained it, until a load of 100 orders/s it should carry buried it
(measured: 79% of its busy time under that load was these walks). On SQS neither call depends on the depth.

The mapping below has the same keys and values as moto's property; only when each value is computed differs.

Also: moto's SetQueueAttributes drops the queue's Policy whenever the call does not name it (it assigns
`attributes.get("Policy")`), so setting a visibility timeout or a RedriveAllowPolicy would silently open
or close the queue to SNS. SQS changes only the attributes a call names; `install()` makes moto do so too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, cast

from moto.core.utils import camelcase_to_underscores, unix_time_millis
from moto.sqs.models import Queue, sqs_backends

# "After a message is received three times (or more) and not processed, the message is moved to the back of
# the queue and the ApproximateAgeOfOldestMessage metric points at the second-oldest message that hasn't been
# received more than three times" (Amazon SQS developer guide, "Available CloudWatch metrics for Amazon SQS").
AGE_METRIC_RECEIVES = 3

_original_attributes: Any = Queue.attributes  # the property object (typeshed sees a method)
_original_set_attributes = Queue._set_attributes


class QueueAttributes(Mapping[str, Any]):
    """A queue's attributes as moto names and formats them (booleans as "true"/"false", RedrivePolicy as
    JSON), each read from the queue when asked for."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:  # type: ignore[attr-defined]
            names += queue.KMS_ATTRIBUTES
        self._names = dict.fromkeys(names)  # ordered, with constant-time membership

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        value = getattr(self._queue, camelcase_to_underscores(name))
        if name == "RedrivePolicy" and value:
            value = json.dumps(value)
        if isinstance(value, bool):
            value = str(value).lower()
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def age_of_oldest_message(account: str, region: str, queue_name: str) -> float:
    """ApproximateAgeOfOldestMessage as SQS computes it, in seconds: the oldest message not yet deleted (in
    flight or not) by its SentTimestamp, skipping those received AGE_METRIC_RECEIVES times or more; 0 for a
    queue holding none. SQS has no API for it (only the CloudWatch metric), so it is read from moto's queue."""
    queue = sqs_backends[account][region].queues.get(queue_name)
    if queue is None:
        return 0.0
    messages = list(queue._messages)  # a copy: the emulator's threads append and remove
    sent = [
        cast("int", m.sent_timestamp)  # typed None by moto until sent; set here (ms since the epoch)
        for m in messages
        if m.sent_timestamp is not None and m.approximate_receive_count < AGE_METRIC_RECEIVES
    ]
    return max(0.0, (unix_time_millis() - min(sent)) / 1000) if sent else 0.0


def moto_attributes(queue: Queue) -> dict[str, Any]:
    """moto's own build of every attribute at once: what QueueAttributes answers for."""
    built: dict[str, Any] = _original_attributes.fget(queue)
    return built


def _set_attributes(queue: Queue, attributes: dict[str, Any], now: float | None = None) -> None:
    """moto's SetQueueAttributes, keeping the Policy unless the call names it, as SQS does."""
    kept = getattr(queue, "policy", None)
    _original_set_attributes(queue, attributes, now)
    if "Policy" not in attributes:
        queue.policy = kept


def install() -> None:
    """From now on, in this process, moto's queues answer attribute reads one attribute at a time, and keep
    the attributes a SetQueueAttributes does not name."""
    Queue.attributes = property(QueueAttributes)  # type: ignore[assignment,method-assign]
    Queue._set_attributes = _set_attributes  # type: ignore[assignment,method-assign]


def uninstall() -> None:
    Queue.attributes = _original_attributes  # type: ignore[method-assign]
    Queue._set_attributes = _original_set_attributes  # type: ignore[method-assign]
