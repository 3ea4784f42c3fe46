"""The order queue and its dead-letter queue."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_documents import tls_only_queue_policy

DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60  # SQS's maximum, so a person has two weeks to look
LONG_POLL_SECONDS = 20  # SQS's maximum long-poll wait: fewer empty receives


@dataclass(frozen=True)
class OrderQueuesArgs:
    visibility_timeout_seconds: int
    max_receive_count: int
    data_protection: bool
    """Pulumi `protect` on the queue and its DLQ: replacing or deleting either (and the messages in it) is
    refused at preview. Default in config: false (prod: true)."""


def dead_letter_queue(name: str, opts: pulumi.ResourceOptions) -> aws.sqs.Queue:
    """A dead-letter queue: encrypted (SSE-SQS, which SNS can deliver to) and kept as long as SQS allows."""
    return aws.sqs.Queue(name, message_retention_seconds=DLQ_RETENTION_SECONDS, sqs_managed_sse_enabled=True, opts=opts)


class OrderQueues(pulumi.ComponentResource):
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue

    def __init__(self, name: str, args: OrderQueuesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrderQueues", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        holds_messages = pulumi.ResourceOptions(parent=self, protect=args.data_protection)
        self.dead_letter_queue = dead_letter_queue(f"{name}-dlq", holds_messages)
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            receive_wait_time_seconds=LONG_POLL_SECONDS,
            sqs_managed_sse_enabled=True,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": self.dead_letter_queue.arn, "maxReceiveCount": args.max_receive_count}
            ),
            opts=holds_messages,
        )
        # Only the order queue may dead-letter here; a separate resource because the queue needs the DLQ's ARN first.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dead_letter_queue.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue.arn]}
            ),
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=tls_only_queue_policy(self.dead_letter_queue.arn),
            opts=child,
        )
        self.register_outputs(
            {
                "queueUrl": self.queue.url,
                "queueArn": self.queue.arn,
                "deadLetterQueueUrl": self.dead_letter_queue.url,
                "deadLetterQueueArn": self.dead_letter_queue.arn,
            }
        )
