"""IAM and queue policy documents, built as data and scoped to exact ARNs (no invokes, no wildcards)."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from contract.permissions import LOG_ACTIONS, QUEUE_ACTIONS, TABLE_ACTIONS

VERSION = "2012-10-17"


def lambda_assume_role_policy() -> str:
    return json.dumps(
        {
            "Version": VERSION,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def processor_policy(
    table_arn: pulumi.Input[str], queue_arn: pulumi.Input[str], log_group_arn: pulumi.Input[str]
) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {
            "Version": VERSION,
            "Statement": [
                _allow("WriteOrders", TABLE_ACTIONS, table_arn),
                _allow("ConsumeOrderQueue", QUEUE_ACTIONS, queue_arn),
                # Log streams live under the group's ARN; ":*" names this group's streams only.
                _allow("WriteOwnLogs", LOG_ACTIONS, pulumi.Output.concat(log_group_arn, ":*")),
            ],
        }
    )


def topic_to_queue_policy(queue_arn: pulumi.Input[str], topic_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """Lets exactly this topic deliver to the queue; without it SNS silently drops every delivery."""
    return pulumi.Output.json_dumps(
        {
            "Version": VERSION,
            "Statement": [
                {
                    "Sid": "AllowOrderTopicDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                },
                deny_insecure_transport(queue_arn),
            ],
        }
    )


def tls_only_queue_policy(queue_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": VERSION, "Statement": [deny_insecure_transport(queue_arn)]})


def deny_insecure_transport(queue_arn: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _allow(sid: str, actions: tuple[str, ...], resource: pulumi.Input[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resource}
