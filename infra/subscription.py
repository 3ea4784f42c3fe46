"""Topic -> queue delivery, with the queue policy that SNS needs to deliver at all, and the subscription's
dead-letter queue: SNS retries a delivery it cannot make and then discards it unless the subscription has
a redrive policy (AWS SNS developer guide, "Amazon SNS dead-letter queues (DLQs)")."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_documents import topic_to_queue_policy
from infra.queues import dead_letter_queue


@dataclass(frozen=True)
class TopicQueueSubscriptionArgs:
    topic: aws.sns.Topic
    queue: aws.sqs.Queue
    raw_message_delivery: bool
    data_protection: bool
    """Pulumi `protect` on the subscription's DLQ. Default in config: false (prod: true)."""
    delivery_status_policy: pulumi.Resource
    """What lets SNS log why a delivery failed (OrderTopic): the subscription waits for it too."""


class TopicQueueSubscription(pulumi.ComponentResource):
    queue_policy: aws.sqs.QueuePolicy
    dead_letter_queue: aws.sqs.Queue
    """Where SNS puts an order it could not deliver to the queue; the reason is in the topic's delivery status log."""
    subscription: aws.sns.TopicSubscription

    def __init__(self, name: str, args: TopicQueueSubscriptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:TopicQueueSubscription", name, None, opts)
        self.queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=args.queue.url,
            policy=topic_to_queue_policy(args.queue.arn, args.topic.arn),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dead_letter_queue = dead_letter_queue(
            f"{name}-subscription-dlq", pulumi.ResourceOptions(parent=self, protect=args.data_protection)
        )
        # SNS moves an undeliverable order here only if this topic may send to it.
        dead_letter_policy = aws.sqs.QueuePolicy(
            f"{name}-subscription-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=topic_to_queue_policy(self.dead_letter_queue.arn, args.topic.arn),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Subscribing before the policies exist loses the first deliveries silently (or their reasons).
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-subscription",
            topic=args.topic.arn,
            protocol="sqs",
            endpoint=args.queue.arn,
            raw_message_delivery=args.raw_message_delivery,
            redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": self.dead_letter_queue.arn}),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.queue_policy, dead_letter_policy, args.delivery_status_policy]
            ),
        )
        self.register_outputs(
            {
                "subscriptionArn": self.subscription.arn,
                "subscriptionDeadLetterQueueUrl": self.dead_letter_queue.url,
                "subscriptionDeadLetterQueueArn": self.dead_letter_queue.arn,
            }
        )
