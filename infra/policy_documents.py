"""IAM and queue policy documents, built as data and scoped to exact ARNs (no invokes, no wildcards)."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from contract.permissions import LOG_ACTIONS, QUEUE_ACTIONS, TABLE_ACTIONS

VERSION = "2012-10-17"

DELIVERY_STATUS_LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
"""The grants AWS's guide lists for a delivery status role ("Prerequisites for delivery status logging"). The older
managed AmazonSNSRole adds logs:PutMetricFilter and logs:PutRetentionPolicy, which the guide no longer asks for."""


def service_assume_role_policy(service: str) -> str:
    """Lets one AWS service (`lambda.amazonaws.com`, `sns.amazonaws.com`) assume the role, and nobody else.

    For SNS's delivery status role there is no aws:SourceArn/aws:SourceAccount condition: the topic's ARN is an
    output of the topic, which takes this role's ARN as an input (a cycle), the account is known only by an
    invoke, and AWS documents no such keys for this assumption ("Prerequisites for delivery status logging"), so
    a condition SNS does not send would silence the log. Only a principal of this account with iam:PassRole on
    the role can name it on a topic, and its grants reach that topic's log only."""
    return json.dumps(
        {
            "Version": VERSION,
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def delivery_failure_log_group_arn(topic_arn: str) -> str:
    """The log group SNS writes a topic's failed deliveries to, `sns/<region>/<account>/<topic>/Failure`
    ("Amazon SNS message delivery status"), in the ":*" form IAM authorizes CloudWatch Logs actions on: it
    covers the group and its streams, and neither the success group `sns/.../<topic>` nor any other."""
    _, partition, _, region, account, topic = topic_arn.split(":")
    return f"arn:{partition}:logs:{region}:{account}:log-group:sns/{region}/{account}/{topic}/Failure:*"


def delivery_status_policy(topic_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """What SNS needs to log the topic's failed SQS deliveries: AWS's documented actions for the delivery status
    role (logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents; its "arn:aws:logs:*:*:*" narrowed to
    this topic's failure log group). Built from the topic's ARN, known once the topic exists: a separate policy
    resource, so the role (which the topic names) does not wait for it."""
    group = pulumi.Output.from_input(topic_arn).apply(delivery_failure_log_group_arn)
    return pulumi.Output.json_dumps(
        {"Version": VERSION, "Statement": [_allow("WriteDeliveryFailureLog", DELIVERY_STATUS_LOG_ACTIONS, group)]}
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
