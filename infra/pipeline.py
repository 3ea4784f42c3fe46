"""The whole order pipeline: topic -> queue (+DLQ) -> processor -> table, with its alarms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.alarms import PipelineAlarms, PipelineAlarmsArgs
from infra.config import PipelineConfig
from infra.event_source import QueueEventSource, QueueEventSourceArgs
from infra.processor import OrderProcessor, OrderProcessorArgs
from infra.queues import OrderQueues, OrderQueuesArgs
from infra.subscription import TopicQueueSubscription, TopicQueueSubscriptionArgs
from infra.table import OrdersTable, OrdersTableArgs
from infra.topic import OrderTopic, OrderTopicArgs


@dataclass(frozen=True)
class OrderPipelineArgs:
    config: PipelineConfig
    project_dir: Path  # where the handler package lives


class OrderPipeline(pulumi.ComponentResource):
    def __init__(self, name: str, args: OrderPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrderPipeline", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        self.table = OrdersTable(
            name,
            OrdersTableArgs(
                point_in_time_recovery=config.point_in_time_recovery,
                deletion_protection=config.deletion_protection,
            ),
            child,
        )
        self.topic = OrderTopic(name, OrderTopicArgs(kms_key_id=config.topic_kms_key_id), child)
        self.queues = OrderQueues(
            name,
            OrderQueuesArgs(
                visibility_timeout_seconds=config.visibility_timeout_seconds,
                max_receive_count=config.max_receive_count,
            ),
            child,
        )
        self.subscription = TopicQueueSubscription(
            name,
            TopicQueueSubscriptionArgs(
                topic=self.topic.topic,
                queue=self.queues.queue,
                raw_message_delivery=config.raw_message_delivery,
            ),
            child,
        )
        self.processor = OrderProcessor(
            name,
            OrderProcessorArgs(
                project_dir=args.project_dir,
                table=self.table.table,
                queue=self.queues.queue,
                timeout_seconds=config.function_timeout_seconds,
                memory_mb=config.function_memory_mb,
                max_receive_count=config.max_receive_count,
                log_level=config.log_level,
                log_retention_days=config.log_retention_days,
            ),
            child,
        )
        self.event_source = QueueEventSource(
            name,
            QueueEventSourceArgs(
                queue=self.queues.queue,
                function=self.processor.function,
                role_policy=self.processor.role_policy,
                batch_size=config.batch_size,
                batching_window_seconds=config.batching_window_seconds,
                maximum_concurrency=config.maximum_concurrency,
            ),
            child,
        )
        self.alarms = PipelineAlarms(
            name,
            PipelineAlarmsArgs(
                dead_letter_queue=self.queues.dead_letter_queue,
                function=self.processor.function,
                emails=config.alarm_emails,
            ),
            child,
        )
        self.register_outputs({"functionArn": self.processor.function.arn, "topicArn": self.topic.topic.arn})
