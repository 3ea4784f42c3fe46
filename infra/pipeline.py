"""The whole order pipeline: topic -> queue (+DLQ) -> processor -> table, with its alarms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from contract import outputs
from infra.alarms import PipelineAlarms, PipelineAlarmsArgs
from infra.config import PipelineConfig
from infra.event_source import QueueEventSource, QueueEventSourceArgs
from infra.processor import OrderProcessor, OrderProcessorArgs
from infra.queues import OrderQueues, OrderQueuesArgs
from infra.subscription import TopicQueueSubscription, TopicQueueSubscriptionArgs
from infra.table import OrdersTable, OrdersTableArgs
from infra.topic import OrderTopic, OrderTopicArgs

NAME = "orders"
"""The pipeline's logical name: the same in every stack, so a stack rename or a second stack changes no URN.
Physical names stay unique per stack: Pulumi auto-names the table, queues and topics (logical name plus a
random suffix) and the function carries project and stack (infra.config.function_name)."""


def legacy_aliases(stack: str) -> list[pulumi.Alias]:
    """Stacks deployed before the name was fixed called the pipeline `orders-<stack>`. Children whose names
    start with their parent's inherit the alias with the prefix replaced (pulumi/pulumi sdk/python/lib/pulumi/
    runtime/resource.py, inherited_child_alias; test: tests/integration/aliases/python/rename_component), so
    this one alias keeps every old URN: the update replaces nothing."""
    return [pulumi.Alias(name=f"{NAME}-{stack}")]


@dataclass(frozen=True)
class OrderPipelineArgs:
    config: PipelineConfig
    project_dir: Path  # where the handler package lives


class OrderPipeline(pulumi.ComponentResource):
    """The pipeline's public outputs are the typed attributes below; `stack_outputs` names them for export."""

    table_name: pulumi.Output[str]
    """The orders table, keyed by orderId."""
    table_arn: pulumi.Output[str]
    topic_arn: pulumi.Output[str]
    """Where producers publish orders."""
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    """Where an order lands after maxReceiveCount failed receives."""
    dead_letter_queue_arn: pulumi.Output[str]
    subscription_dead_letter_queue_url: pulumi.Output[str]
    """Where SNS puts an order it could not deliver to the queue (`orderctl dlq list --source subscription`)."""
    subscription_dead_letter_queue_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    """The order processor (Lambda)."""
    function_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    """The processor's log group: its JSON lines, including each failed order's reason."""
    alarm_topic_arn: pulumi.Output[str]
    """Where the DLQ, backlog and error alarms notify."""
    stack_outputs: dict[str, pulumi.Output[str]]
    """The attributes above by their stack output name (contract.outputs), as `__main__.py` exports them."""

    def __init__(self, name: str, args: OrderPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        config = args.config
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(aliases=legacy_aliases(config.stack)), opts)
        super().__init__("orders:index:OrderPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.table = OrdersTable(
            name,
            OrdersTableArgs(
                point_in_time_recovery=config.point_in_time_recovery,
                data_protection=config.data_protection,
                warm_write_units=config.table_warm_write_units,
            ),
            child,
        )
        self.topic = OrderTopic(name, OrderTopicArgs(kms_key_id=config.topic_kms_key_id), child)
        self.queues = OrderQueues(
            name,
            OrderQueuesArgs(
                visibility_timeout_seconds=config.visibility_timeout_seconds,
                max_receive_count=config.max_receive_count,
                data_protection=config.data_protection,
            ),
            child,
        )
        self.subscription = TopicQueueSubscription(
            name,
            TopicQueueSubscriptionArgs(
                topic=self.topic.topic,
                queue=self.queues.queue,
                raw_message_delivery=config.raw_message_delivery,
                data_protection=config.data_protection,
                delivery_status_policy=self.topic.delivery_status_policy,
            ),
            child,
        )
        self.processor = OrderProcessor(
            name,
            OrderProcessorArgs(
                project_dir=args.project_dir,
                function_name=config.function_name,
                table=self.table.table,
                queue=self.queues.queue,
                timeout_seconds=config.function_timeout_seconds,
                memory_mb=config.function_memory_mb,
                max_receive_count=config.max_receive_count,
                log_level=config.log_level,
                log_retention_days=config.log_retention_days,
                data_protection=config.data_protection,
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
                queue=self.queues.queue,
                dead_letter_queue=self.queues.dead_letter_queue,
                subscription_dead_letter_queue=self.subscription.dead_letter_queue,
                function=self.processor.function,
                backlog_age_seconds=config.backlog_age_alarm_seconds,
                emails=config.alarm_emails,
            ),
            child,
        )
        self.table_name = self.table.table.name
        self.table_arn = self.table.table.arn
        self.topic_arn = self.topic.topic.arn
        self.queue_url = self.queues.queue.url
        self.queue_arn = self.queues.queue.arn
        self.dead_letter_queue_url = self.queues.dead_letter_queue.url
        self.dead_letter_queue_arn = self.queues.dead_letter_queue.arn
        self.subscription_dead_letter_queue_url = self.subscription.dead_letter_queue.url
        self.subscription_dead_letter_queue_arn = self.subscription.dead_letter_queue.arn
        self.function_name = self.processor.function.name
        self.function_arn = self.processor.function.arn
        self.log_group_name = self.processor.log_group.name
        self.alarm_topic_arn = self.alarms.topic.arn
        self.stack_outputs = {
            outputs.TABLE_NAME: self.table_name,
            outputs.TABLE_ARN: self.table_arn,
            outputs.TOPIC_ARN: self.topic_arn,
            outputs.QUEUE_URL: self.queue_url,
            outputs.QUEUE_ARN: self.queue_arn,
            outputs.DEAD_LETTER_QUEUE_URL: self.dead_letter_queue_url,
            outputs.DEAD_LETTER_QUEUE_ARN: self.dead_letter_queue_arn,
            outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_URL: self.subscription_dead_letter_queue_url,
            outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_ARN: self.subscription_dead_letter_queue_arn,
            outputs.FUNCTION_NAME: self.function_name,
            outputs.FUNCTION_ARN: self.function_arn,
            outputs.LOG_GROUP_NAME: self.log_group_name,
            outputs.ALARM_TOPIC_ARN: self.alarm_topic_arn,
        }
        self.register_outputs(self.stack_outputs)
