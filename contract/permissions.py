"""The processor's whole permission set, each group granted on exactly one resource (infra builds the role
policy from these; the tests check the policy against them). The policy pack keeps its own list on purpose:
it is the independent check that these did not grow."""

from __future__ import annotations

from typing import Final

TABLE_ACTIONS: Final = ("dynamodb:PutItem", "dynamodb:GetItem")  # on the orders table
QUEUE_ACTIONS: Final = (  # on the order queue
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)
LOG_ACTIONS: Final = ("logs:CreateLogStream", "logs:PutLogEvents")  # on the function's own log group's streams
