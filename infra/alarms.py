"""Alarms that page a person: anything in the DLQ, or the processor erroring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class PipelineAlarmsArgs:
    dead_letter_queue: aws.sqs.Queue
    function: aws.lambda_.Function
    emails: tuple[str, ...]


class PipelineAlarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    dlq_depth: aws.cloudwatch.MetricAlarm
    function_errors: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: PipelineAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:PipelineAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Unencrypted on purpose: CloudWatch cannot publish to a topic under alias/aws/sns.
        self.topic = aws.sns.Topic(f"{name}-alarms", opts=child)
        actions = [self.topic.arn]

        def any_in_a_minute(
            suffix: str, description: str, namespace: str, metric: str, **alarm: Any
        ) -> aws.cloudwatch.MetricAlarm:
            """Alarms when the metric is above 0 in any one minute, and says when it is back to 0."""
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                period=60,
                evaluation_periods=1,
                threshold=0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
                **alarm,
            )

        self.dlq_depth = any_in_a_minute(
            "dlq-depth",
            "An order is in the dead-letter queue: inspect it with `orderctl dlq list`.",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": args.dead_letter_queue.name},
            statistic="Maximum",
        )
        self.function_errors = any_in_a_minute(
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
