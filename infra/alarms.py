"""Alarms that page a person: anything in either DLQ, orders ageing in the queue, or the processor erroring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class PipelineAlarmsArgs:
    queue: aws.sqs.Queue
    dead_letter_queue: aws.sqs.Queue
    subscription_dead_letter_queue: aws.sqs.Queue
    function: aws.lambda_.Function
    backlog_age_seconds: int
    """The oldest order's age in the queue above which the backlog alarm fires (config backlogAgeAlarmSeconds)."""
    emails: tuple[str, ...]


class PipelineAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    dlq_depth: aws.cloudwatch.MetricAlarm
    subscription_dlq_depth: aws.cloudwatch.MetricAlarm
    """An order SNS could not deliver to the queue."""
    backlog_age: aws.cloudwatch.MetricAlarm
    """Orders ageing in the queue: the mapping disabled, the function throttled or too little concurrency."""
    function_errors: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: PipelineAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:PipelineAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Unencrypted on purpose: CloudWatch cannot publish to a topic under alias/aws/sns.
        self.topic = aws.sns.Topic(f"{name}-alarms", opts=child)
        actions = [self.topic.arn]

        def above_in_a_minute(
            suffix: str, description: str, namespace: str, metric: str, threshold: int = 0, **alarm: Any
        ) -> aws.cloudwatch.MetricAlarm:
            """Alarms when the metric is above the threshold in any one minute, and says when it is back."""
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                period=60,
                evaluation_periods=1,
                threshold=threshold,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
                **alarm,
            )

        def dlq_depth(suffix: str, description: str, queue: aws.sqs.Queue) -> aws.cloudwatch.MetricAlarm:
            """Anything visible in a dead-letter queue: each message there is an order that needs a person."""
            return above_in_a_minute(
                suffix,
                description,
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": queue.name},
                statistic="Maximum",
            )

        self.dlq_depth = dlq_depth(
            "dlq-depth",
            "An order is in the dead-letter queue: inspect it with `orderctl dlq list`.",
            args.dead_letter_queue,
        )
        self.subscription_dlq_depth = dlq_depth(
            "subscription-dlq-depth",
            "SNS could not deliver an order to the queue: inspect it with `orderctl dlq list --source subscription`.",
            args.subscription_dead_letter_queue,
        )
        # Neither DLQ nor errors alarm fires while nothing consumes the queue; the age of its oldest order does.
        self.backlog_age = above_in_a_minute(
            "backlog-age",
            f"The oldest order has waited over {args.backlog_age_seconds} s in the queue: is the event source "
            "mapping enabled, the function throttled, its concurrency too low? See `orderctl status`.",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            threshold=args.backlog_age_seconds,
            dimensions={"QueueName": args.queue.name},
            statistic="Maximum",
        )
        self.function_errors = above_in_a_minute(
            "processor-errors",
            "The order processor failed whole invocations (crash or timeout); see its log group.",
            "AWS/Lambda",
            "Errors",
            dimensions={"FunctionName": args.function.name},
            statistic="Sum",
        )
        for email in args.emails:  # keyed by address, so reordering the list replaces nothing
            aws.sns.TopicSubscription(
                f"{name}-alarm-{email}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.register_outputs({"alarmTopicArn": self.topic.arn})
