"""The resource types the program declares, as the Pulumi engine (and its mocks) names them. The sandbox's
EmulatorMocks and the tests' AwsMocks each key their dispatch table by these, and a test holds both tables
to exactly ALL: a type added here is missing from neither."""

from __future__ import annotations

from typing import Final

TABLE: Final = "aws:dynamodb/table:Table"
TOPIC: Final = "aws:sns/topic:Topic"
TOPIC_SUBSCRIPTION: Final = "aws:sns/topicSubscription:TopicSubscription"
QUEUE: Final = "aws:sqs/queue:Queue"
QUEUE_POLICY: Final = "aws:sqs/queuePolicy:QueuePolicy"
REDRIVE_ALLOW_POLICY: Final = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
ROLE: Final = "aws:iam/role:Role"
ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION: Final = "aws:lambda/function:Function"
EVENT_SOURCE_MAPPING: Final = "aws:lambda/eventSourceMapping:EventSourceMapping"
METRIC_ALARM: Final = "aws:cloudwatch/metricAlarm:MetricAlarm"

ALL: Final = frozenset(
    {
        TABLE,
        TOPIC,
        TOPIC_SUBSCRIPTION,
        QUEUE,
        QUEUE_POLICY,
        REDRIVE_ALLOW_POLICY,
        ROLE,
        ROLE_POLICY,
        LOG_GROUP,
        FUNCTION,
        EVENT_SOURCE_MAPPING,
        METRIC_ALARM,
    }
)
