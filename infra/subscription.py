"""Topic -> queue delivery, with the queue policy that SNS needs to deliver at all."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_documents import topic_to_queue_policy


@dataclass(frozen=True)
class TopicQueueSubscriptionArgs:
    topic: aws.sns.Topic
    queue: aws.sqs.Queue
    raw_message_delivery: bool


class TopicQueueSubscription(pulumi.ComponentResource):
    queue_policy: aws.sqs.QueuePolicy
    subscription: aws.sns.TopicSubscription

    def __init__(self, name: str, args: TopicQueueSubscriptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:TopicQueueSubscription", name, None, opts)
        self.queue_policy = aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=args.queue.url,
            policy=topic_to_queue_policy(args.queue.arn, args.topic.arn),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Subscribing before the policy exists loses the first deliveries silently.
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-subscription",
            topic=args.topic.arn,
            protocol="sqs",
            endpoint=args.queue.arn,
            raw_message_delivery=args.raw_message_delivery,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.queue_policy]),
        )
        self.register_outputs({"subscriptionArn": self.subscription.arn})
