"""The stack's output names: exported by `__main__.py` (through OrderPipeline.outputs), read by orderctl."""

from __future__ import annotations

from typing import Final

TABLE_NAME: Final = "tableName"
TABLE_ARN: Final = "tableArn"
TOPIC_ARN: Final = "topicArn"
QUEUE_URL: Final = "queueUrl"
QUEUE_ARN: Final = "queueArn"
DEAD_LETTER_QUEUE_URL: Final = "deadLetterQueueUrl"
DEAD_LETTER_QUEUE_ARN: Final = "deadLetterQueueArn"
SUBSCRIPTION_DEAD_LETTER_QUEUE_URL: Final = "subscriptionDeadLetterQueueUrl"
SUBSCRIPTION_DEAD_LETTER_QUEUE_ARN: Final = "subscriptionDeadLetterQueueArn"
FUNCTION_NAME: Final = "functionName"
FUNCTION_ARN: Final = "functionArn"
LOG_GROUP_NAME: Final = "logGroupName"
ALARM_TOPIC_ARN: Final = "alarmTopicArn"

ALL: Final = (
    TABLE_NAME,
    TABLE_ARN,
    TOPIC_ARN,
    QUEUE_URL,
    QUEUE_ARN,
    DEAD_LETTER_QUEUE_URL,
    DEAD_LETTER_QUEUE_ARN,
    SUBSCRIPTION_DEAD_LETTER_QUEUE_URL,
    SUBSCRIPTION_DEAD_LETTER_QUEUE_ARN,
    FUNCTION_NAME,
    FUNCTION_ARN,
    LOG_GROUP_NAME,
    ALARM_TOPIC_ARN,
)
