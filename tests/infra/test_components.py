"""Each component on its own, checked through its Outputs (the tests return them, so they are awaited)."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pytest

from infra.event_source import QueueEventSource, QueueEventSourceArgs
from infra.processor import OrderProcessor, OrderProcessorArgs
from infra.queues import OrderQueues, OrderQueuesArgs
from infra.subscription import TopicQueueSubscription, TopicQueueSubscriptionArgs
from infra.table import OrdersTable, OrdersTableArgs
from infra.topic import OrderTopic, OrderTopicArgs
from tests.infra.mocks import AwsMocks

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def mocks() -> AwsMocks:
    recording = AwsMocks()
    pulumi.runtime.set_mocks(recording, project="order-pipeline", stack="unit", preview=False)
    return recording


def _queues() -> OrderQueues:
    return OrderQueues(
        "unit", OrderQueuesArgs(visibility_timeout_seconds=180, max_receive_count=4, data_protection=False)
    )


@pulumi.runtime.test
def test_order_queues_dead_letter_to_their_own_dlq() -> pulumi.Output[None]:
    queues = _queues()

    def check(values: list[str]) -> None:
        redrive, dlq_arn = values
        assert json.loads(redrive) == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 4}

    return pulumi.Output.all(queues.queue.redrive_policy, queues.dead_letter_queue.arn).apply(check)


@pulumi.runtime.test
def test_subscription_targets_the_queue_from_the_topic() -> pulumi.Output[None]:
    queues = _queues()
    order_topic = OrderTopic("unit", OrderTopicArgs(kms_key_id="alias/aws/sns"))
    topic = order_topic.topic
    wiring = TopicQueueSubscription(
        "unit",
        TopicQueueSubscriptionArgs(
            topic=topic,
            queue=queues.queue,
            raw_message_delivery=False,
            data_protection=False,
            delivery_status_policy=order_topic.delivery_status_policy,
        ),
    )

    def check(values: list[str]) -> None:
        endpoint, topic_of_subscription, policy, redrive, dlq_arn, queue_arn, topic_arn = values
        assert (endpoint, topic_of_subscription) == (queue_arn, topic_arn)
        allow = json.loads(policy)["Statement"][0]
        assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
        # An order SNS cannot deliver goes to the subscription's own DLQ, not the order DLQ.
        assert json.loads(redrive) == {"deadLetterTargetArn": dlq_arn}

    return pulumi.Output.all(
        wiring.subscription.endpoint,
        wiring.subscription.topic,
        wiring.queue_policy.policy,
        wiring.subscription.redrive_policy,
        wiring.dead_letter_queue.arn,
        queues.queue.arn,
        topic.arn,
    ).apply(check)


@pulumi.runtime.test
def test_order_topic_logs_failed_sqs_deliveries_through_its_own_role() -> pulumi.Output[None]:
    order_topic = OrderTopic("unit", OrderTopicArgs(kms_key_id="alias/aws/sns"))

    def check(values: list[str]) -> None:
        feedback_role, role_arn, role_of_policy, role_id, policy, topic_arn = values
        assert (feedback_role, role_of_policy) == (role_arn, role_id)
        [grant] = json.loads(policy)["Statement"]
        *_, region, account, name = topic_arn.split(":")
        assert grant["Resource"] == f"arn:aws:logs:{region}:{account}:log-group:sns/{region}/{account}/{name}/Failure:*"

    return pulumi.Output.all(
        order_topic.topic.sqs_failure_feedback_role_arn,
        order_topic.delivery_status_role.arn,
        order_topic.delivery_status_policy.role,
        order_topic.delivery_status_role.id,
        order_topic.delivery_status_policy.policy,
        order_topic.topic.arn,
    ).apply(check)


def _processor(queues: OrderQueues, table: OrdersTable) -> OrderProcessor:
    return OrderProcessor(
        "unit",
        OrderProcessorArgs(
            project_dir=PROJECT_DIR,
            function_name="unit-processor",
            table=table.table,
            queue=queues.queue,
            timeout_seconds=30,
            memory_mb=256,
            max_receive_count=4,
            log_level="INFO",
            log_retention_days=14,
            data_protection=False,
        ),
    )


@pulumi.runtime.test
def test_processor_is_told_its_table_and_may_write_only_there() -> pulumi.Output[None]:
    queues = _queues()
    table = OrdersTable("unit", OrdersTableArgs(point_in_time_recovery=True, data_protection=False))
    processor = _processor(queues, table)

    def check(values: list[object]) -> None:
        environment, policy, table_name, table_arn = values
        assert isinstance(environment, dict)
        assert environment["variables"]["TABLE_NAME"] == table_name
        assert environment["variables"]["MAX_RECEIVE_COUNT"] == "4"
        assert isinstance(policy, str)
        [write] = [s for s in json.loads(policy)["Statement"] if s["Sid"] == "WriteOrders"]
        assert write["Resource"] == table_arn

    return pulumi.Output.all(
        processor.function.environment, processor.role_policy.policy, table.table.name, table.table.arn
    ).apply(check)


@pulumi.runtime.test
def test_event_source_feeds_the_queue_to_the_function_with_partial_failures() -> pulumi.Output[None]:
    queues = _queues()
    table = OrdersTable("unit", OrdersTableArgs(point_in_time_recovery=True, data_protection=False))
    processor = _processor(queues, table)
    source = QueueEventSource(
        "unit",
        QueueEventSourceArgs(
            queue=queues.queue,
            function=processor.function,
            role_policy=processor.role_policy,
            batch_size=10,
            batching_window_seconds=0,
            maximum_concurrency=5,
        ),
    )

    def check(values: list[object]) -> None:
        source_arn, function_name, response_types, queue_arn, function_arn = values
        assert (source_arn, function_name) == (queue_arn, function_arn)
        assert response_types == ["ReportBatchItemFailures"]

    return pulumi.Output.all(
        source.mapping.event_source_arn,
        source.mapping.function_name,
        source.mapping.function_response_types,
        queues.queue.arn,
        processor.function.arn,
    ).apply(check)
