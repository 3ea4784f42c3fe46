"""SNS -> SQS delivery that honours the queue policy at publish time, as SNS does.

moto delivers every message to every subscribed queue whatever the queue's policy says. The deploy check
(sandbox/policy_check.py) refuses a program whose policy would drop deliveries, but a policy changed
after the deploy would still go unnoticed. Here each delivery to a queue is checked against the queue's
policy of that moment: a refused one is dropped, as on AWS, and counted in the emulator's CloudWatch as
AWS/SNS NumberOfNotificationsFailed (dimension TopicName), where `orderctl status` reads it.
"""

from __future__ import annotations

import json
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.sns.models import Subscription
from moto.sqs.models import sqs_backends

from sandbox.policy_check import allows_topic

SNS_NAMESPACE = "AWS/SNS"
FAILED_METRIC = "NumberOfNotificationsFailed"
DELIVERED_METRIC = "NumberOfNotificationsDelivered"

_original_publish = Subscription.publish


def _queue_policy(account: str, region: str, queue_name: str) -> dict[str, Any] | None:
    queue = sqs_backends[account][region].queues.get(queue_name)
    policy = queue.policy if queue is not None else None
    return json.loads(policy) if policy else None


def _count(account: str, region: str, topic_arn: str, metric: str) -> None:
    datum = {
        "MetricName": metric,
        "Value": 1,
        "Unit": "Count",
        "Dimensions": [{"Name": "TopicName", "Value": topic_arn.rsplit(":", 1)[-1]}],
    }
    cloudwatch_backends[account][region].put_metric_data(SNS_NAMESPACE, [datum])


def _publish(self: Subscription, message: str, message_id: str, *args: Any, **kwargs: Any) -> None:
    if self.protocol != "sqs":
        _original_publish(self, message, message_id, *args, **kwargs)
        return
    _, _, _, region, account, queue_name = self.endpoint.split(":")
    policy = _queue_policy(account, region, queue_name)
    if policy is None or not allows_topic(policy, self.topic_arn, self.endpoint):
        _count(self.account_id, region, self.topic_arn, FAILED_METRIC)  # SNS drops it: nothing reaches the queue
        return
    _original_publish(self, message, message_id, *args, **kwargs)
    _count(self.account_id, region, self.topic_arn, DELIVERED_METRIC)


def install() -> None:
    """From now on, in this process, moto's SNS delivers to a queue only what the queue's policy admits."""
    Subscription.publish = _publish  # type: ignore[method-assign]


def uninstall() -> None:
    Subscription.publish = _original_publish  # type: ignore[method-assign]
