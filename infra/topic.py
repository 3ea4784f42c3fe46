"""The order topic that ordering clients publish to, with delivery status logging for SQS: SNS puts no reason
in a message it moves to a subscription's DLQ; it logs the reason (SQS's ErrorCode and ErrorMessage) in the
topic's delivery status log, `sns/<region>/<account>/<topic>/Failure`, through a role it assumes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_documents import delivery_status_policy, service_assume_role_policy


@dataclass(frozen=True)
class OrderTopicArgs:
    kms_key_id: str


class OrderTopic(pulumi.ComponentResource):
    topic: aws.sns.Topic
    delivery_status_role: aws.iam.Role
    """Assumed by SNS to log the topic's failed SQS deliveries (failures only: no success sampling)."""
    delivery_status_policy: aws.iam.RolePolicy
    """The role's one inline policy: write this topic's failure log group, nothing else."""

    def __init__(self, name: str, args: OrderTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrderTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        logical = f"{name}-topic"
        self.delivery_status_role = aws.iam.Role(
            f"{logical}-delivery-status-role",
            assume_role_policy=service_assume_role_policy("sns.amazonaws.com"),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            logical,
            kms_master_key_id=args.kms_key_id,
            sqs_failure_feedback_role_arn=self.delivery_status_role.arn,
            opts=child,
        )
        # Scoped by the topic's ARN, so it follows the topic; the role above cannot wait for it (the topic names
        # the role), and SNS only needs it once a delivery fails: the subscription waits for it.
        self.delivery_status_policy = aws.iam.RolePolicy(
            f"{logical}-delivery-status-policy",
            role=self.delivery_status_role.id,
            policy=delivery_status_policy(self.topic.arn),
            opts=child,
        )
        self.register_outputs({"topicArn": self.topic.arn})
