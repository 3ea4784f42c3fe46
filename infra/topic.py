"""The order topic that ordering clients publish to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class OrderTopicArgs:
    kms_key_id: str


class OrderTopic(pulumi.ComponentResource):
    topic: aws.sns.Topic

    def __init__(self, name: str, args: OrderTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrderTopic", name, None, opts)
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=args.kms_key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"topicArn": self.topic.arn})
