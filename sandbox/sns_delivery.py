"""SNS -> SQS delivery that honours the queue policy at publish time, as SNS does, and the subscription's
dead-letter queue.

moto delivers every message to every subscribed queue whatever the queue's policy says, and its Publish
fails outright for a subscribed queue that was deleted. The deploy check (sandbox/policy_check.py) refuses
a program whose policy would drop deliveries, but a policy changed after the deploy would still go
unnoticed. Here each delivery to a queue is checked against the queue's policy of that moment, and a
queue that is gone fails the delivery, not the publish. A failed delivery is counted in the emulator's
CloudWatch as AWS/SNS NumberOfNotificationsFailed (dimension TopicName), where `orderctl status` reads it,
and then, as SNS does (AWS SNS developer guide, "Amazon SNS dead-letter queues (DLQs)": on a client-side
error SNS "discards the message—unless a dead-letter queue is attached to the subscription"):

- without a RedrivePolicy on the subscription, the message is dropped;
- with one, it is moved to the subscription's DLQ if that queue exists and its policy lets the topic send
  (NumberOfNotificationsRedrivenToDlq), else it is lost (NumberOfNotificationsFailedToRedriveToDlq, and an
  ERROR record on the `sandbox.sns` logger naming the message).

What lands in the DLQ is what the subscription would have delivered and nothing more: the SNS envelope as
the body, or with RawMessageDelivery the message itself with its attributes as SQS message attributes.
SNS adds no error attributes to it: AWS-recorded snapshots (localstack/localstack tests/aws/services/sns/
test_sns.snapshot.json, test_redrive_policy_sqs_queue_subscription[True|False], and localstack PR 6640
"AWS doesn't do it") show no ErrorCode, ErrorMessage or RequestID there; those three are what Lambda's
asynchronous-invocation DLQ adds (AWS Lambda developer guide, "Dead-letter queues"). SNS tells why a
delivery failed in its delivery status log instead, when the topic has one for SQS
(SQSFailureFeedbackRoleArn): a FAILURE record in the log group `sns/<region>/<account>/<topic>/Failure`
whose `delivery.providerResponse` carries SQS's ErrorCode and ErrorMessage. The sandbox writes that record
when, and only when, the topic has the attribute, as SNS does, and as the role it names: SNS assumes that role
to write the log, so the role must trust sns.amazonaws.com, and each CloudWatch Logs call (CreateLogGroup when
the group is new, CreateLogStream, PutLogEvents) is judged against the role's policies as sandbox/iam.py judges
the function's calls, and recorded in the same ledger. A role SNS cannot assume, or one that lacks a grant,
leaves no record: on AWS the log stays silent; here a WARNING on the `sandbox.sns` logger says why.

Every policy here (the queue's, the role's trust and grants, the queue's KMS key) is decided by the sandbox's
one policy evaluator (sandbox/policy). A queue under a KMS key also needs its key to let SNS use it
(sandbox/kms.py): SNS's delivery carries the service principal sns.amazonaws.com with aws:SourceArn = the
topic, and needs kms:GenerateDataKey and kms:Decrypt; a refusal fails the delivery with the code SQS gives
(KMS.AccessDeniedException, KMS.DisabledException), written to the delivery status log as SNS writes it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import camelcase_to_underscores
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.logs.models import logs_backends
from moto.sns.models import Subscription
from moto.sqs.models import sqs_backends

from sandbox import kms
from sandbox.iam import Call, Ledger, Request, judge, resources_of
from sandbox.policy import PolicyError, Principal, evaluate, request_context
from sandbox.policy import Request as PolicyRequest
from sandbox.policy_check import delivery_decision

SNS_NAMESPACE = "AWS/SNS"
FAILED_METRIC = "NumberOfNotificationsFailed"
DELIVERED_METRIC = "NumberOfNotificationsDelivered"
REDRIVEN_METRIC = "NumberOfNotificationsRedrivenToDlq"
FAILED_TO_REDRIVE_METRIC = "NumberOfNotificationsFailedToRedriveToDlq"
FAILURE_FEEDBACK_ATTRIBUTE = "SQSFailureFeedbackRoleArn"  # the topic's delivery status logging for SQS
SNS_PRINCIPAL = "sns.amazonaws.com"
DELIVERY_STATUS_SESSION = "sns-delivery-status"  # the sandbox's name for SNS's session with the role

log = logging.getLogger("sandbox.sns")

_original_publish = Subscription.publish
_ledgers: list[Ledger] = []  # where SNS's calls with a delivery status role are recorded (install): one or none


@dataclass(frozen=True)
class DeliveryFailure:
    """What SQS answered SNS, as SNS's delivery status log reports it."""

    status_code: int
    error_code: str
    error_message: str


def delivery_failure_log_group(topic_arn: str) -> str:
    """Where SNS writes failed deliveries of a topic with delivery status logging ("Amazon SNS message
    delivery status")."""
    _, _, _, region, account, topic = topic_arn.split(":")
    return f"sns/{region}/{account}/{topic}/Failure"


def _parts(queue_arn: str) -> tuple[str, str, str]:
    """(account, region, queue name) of a queue ARN."""
    _, _, _, region, account, name = queue_arn.split(":")
    return account, region, name


def _queue_url(queue_arn: str) -> str:
    account, region, name = _parts(queue_arn)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def refusal(queue_arn: str, topic_arn: str) -> DeliveryFailure | None:
    """Why SQS would refuse SNS's SendMessage from `topic_arn` to `queue_arn` now, or None if it accepts it."""
    account, region, name = _parts(queue_arn)
    queue = sqs_backends[account][region].queues.get(name)
    if queue is None:
        return DeliveryFailure(
            400,
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist or you do not have access to it.",
        )
    if not delivery_decision([queue.policy] if queue.policy else [], topic_arn, queue_arn).allowed:
        return DeliveryFailure(403, "AccessDenied", f"Access to the resource {_queue_url(queue_arn)} is denied.")
    return _key_refusal(getattr(queue, "kms_master_key_id", None), topic_arn, account, region)


def _key_refusal(key_id: str | None, topic_arn: str, account: str, region: str) -> DeliveryFailure | None:
    """Why the queue's KMS key refuses SNS (kms:GenerateDataKey, kms:Decrypt), or None (no key, or it allows)."""
    if not key_id:
        return None
    key = kms.find_key(str(key_id), account, region)
    if key is None:
        return DeliveryFailure(400, "KMS.NotFoundException", f"Key '{key_id}' does not exist")
    refused = kms.refusal(
        key, Principal.of_service(SNS_PRINCIPAL), ("kms:GenerateDataKey", "kms:Decrypt"), via_service="sqs",
        region=region, source_arn=topic_arn, source_account=topic_arn.split(":")[4],
    )  # fmt: skip
    return DeliveryFailure(400, refused.code, refused.message) if refused is not None else None


def _count(account: str, region: str, topic_arn: str, metric: str) -> None:
    datum = {
        "MetricName": metric,
        "Value": 1,
        "Unit": "Count",
        "Dimensions": [{"Name": "TopicName", "Value": topic_arn.rsplit(":", 1)[-1]}],
    }
    cloudwatch_backends[account][region].put_metric_data(SNS_NAMESPACE, [datum])


def _sns_may_assume(trust: str, topic_arn: str, account: str) -> bool:
    """Whether the role's trust policy lets SNS, for this topic, assume it (the evaluator: an explicit Deny
    wins; SNS's AssumeRole carries aws:SourceArn = the topic and aws:SourceAccount)."""
    sns = Principal.of_service(SNS_PRINCIPAL)
    role = "arn:aws:iam::" + account + ":role/*"
    context = request_context(sns, region=topic_arn.split(":")[3], source_arn=topic_arn, source_account=account)
    try:
        return evaluate(PolicyRequest(sns, "sts:AssumeRole", role, context), (), [trust]).allowed
    except PolicyError:
        return False


def _delivery_status_role(role_arn: str, topic_arn: str) -> tuple[str, list[Any]] | None:
    """(session ARN, the role's policies) when SNS can assume the role for this topic; None, with the reason
    logged, when it cannot."""
    _, partition, _, _, account, _ = topic_arn.split(":")
    backend = iam_backends[account][partition]
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException:
        log.warning("SNS keeps no delivery status log for %s: its role %s does not exist", topic_arn, role_arn)
        return None
    if not _sns_may_assume(role.assume_role_policy_document, topic_arn, account):
        log.warning(
            "SNS keeps no delivery status log for %s: the role %s does not let %s assume it",
            topic_arn, role_arn, SNS_PRINCIPAL,
        )  # fmt: skip
        return None
    policies: list[Any] = [
        backend.get_role_policy(role.name, name)[1] for name in backend.list_role_policies(role.name)
    ]
    policies += backend.list_attached_role_policies(role.name)[0]
    return f"arn:{partition}:sts::{account}:assumed-role/{role.name}/{DELIVERY_STATUS_SESSION}", policies


def _log_failure(subscription: Subscription, message: str, message_id: str, failure: DeliveryFailure) -> None:
    """SNS's delivery status record of a failed SQS delivery, if the topic logs them, written as its role."""
    # moto keeps a topic attribute set through SetTopicAttributes under its snake_case name
    role_arn = getattr(subscription.topic, camelcase_to_underscores(FAILURE_FEEDBACK_ATTRIBUTE), None)
    if not role_arn:
        return
    role = _delivery_status_role(str(role_arn), subscription.topic_arn)
    if role is None:
        return
    principal, policies = role
    _, _, _, region, account, _ = subscription.topic_arn.split(":")
    logs = logs_backends[account][region]
    group = delivery_failure_log_group(subscription.topic_arn)
    stream = str(uuid.uuid4())
    calls = [("CreateLogGroup", {"logGroupName": group})] if group not in logs.groups else []
    calls += [(op, {"logGroupName": group, "logStreamName": stream}) for op in ("CreateLogStream", "PutLogEvents")]
    for operation, params in calls:
        action = f"logs:{operation}"
        [resource] = resources_of(Request("logs", operation, params, region, account))
        verdict = judge(policies, action, resource, principal=Principal.assumed_role(principal))
        for ledger in _ledgers:
            ledger.record(Call(principal, str(role_arn), action, resource, verdict.allowed, time.time()))
        if not verdict.allowed:
            log.warning(
                "SNS could not log the failed delivery of message %s from %s: its role %s may not %s on %s",
                message_id, subscription.topic_arn, role_arn, action, resource,
            )  # fmt: skip
            return
    if group not in logs.groups:
        logs.create_log_group(group, {})
    logs.create_log_stream(group, stream)
    now = int(time.time() * 1000)
    record = {
        "notification": {
            "messageMD5Sum": hashlib.md5(message.encode()).hexdigest(),
            "messageId": message_id,
            "topicArn": subscription.topic_arn,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) + f".{now % 1000:03d}",
        },
        "delivery": {
            "deliveryId": str(uuid.uuid4()),
            "destination": subscription.endpoint,
            "providerResponse": json.dumps(
                {
                    "ErrorCode": failure.error_code,
                    "ErrorMessage": failure.error_message,
                    "sqsRequestId": "Unrecoverable",
                }
            ),
            "dwellTimeMs": 0,
            "attempts": 1,
            "statusCode": failure.status_code,
        },
        "status": "FAILURE",
    }
    logs.put_log_events(group, stream, [{"timestamp": now, "message": json.dumps(record)}])


def _dead_letter(
    subscription: Subscription, message: str, message_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Moves an undeliverable message to the subscription's DLQ, or says loudly that it is lost."""
    redrive = json.loads(subscription.attributes.get("RedrivePolicy") or "{}")
    target = redrive.get("deadLetterTargetArn")
    _, region, _ = _parts(subscription.endpoint)
    if not target:
        return  # SNS discards it; NumberOfNotificationsFailed already counts it
    blocked = refusal(target, subscription.topic_arn)
    if blocked is not None:
        _count(subscription.account_id, region, subscription.topic_arn, FAILED_TO_REDRIVE_METRIC)
        log.error(
            "SNS message %s from %s LOST: it could not be delivered to %s, nor moved to the subscription's DLQ %s "
            "(%s: %s)",
            message_id, subscription.topic_arn, subscription.endpoint, target, blocked.error_code,
            blocked.error_message,
        )  # fmt: skip
        return
    # The DLQ gets what the subscription would have delivered: moto's own formatting, pointed at the DLQ.
    to_dlq = copy.copy(subscription)
    to_dlq.endpoint = target
    _original_publish(to_dlq, message, message_id, *args, **kwargs)
    _count(subscription.account_id, region, subscription.topic_arn, REDRIVEN_METRIC)


def _publish(self: Subscription, message: str, message_id: str, *args: Any, **kwargs: Any) -> None:
    if self.protocol != "sqs":
        _original_publish(self, message, message_id, *args, **kwargs)
        return
    _, region, _ = _parts(self.endpoint)
    failure = refusal(self.endpoint, self.topic_arn)
    if failure is None:
        _original_publish(self, message, message_id, *args, **kwargs)
        _count(self.account_id, region, self.topic_arn, DELIVERED_METRIC)
        return
    _count(self.account_id, region, self.topic_arn, FAILED_METRIC)  # nothing reaches the queue
    _log_failure(self, message, message_id, failure)
    _dead_letter(self, message, message_id, args, kwargs)


def install(ledger: Ledger | None = None) -> None:
    """From now on, in this process, moto's SNS delivers to a queue only what the queue's policy admits, and
    moves what it cannot deliver to the subscription's DLQ; its calls with a topic's delivery status role are
    recorded in `ledger`."""
    _ledgers[:] = [ledger] if ledger is not None else []
    Subscription.publish = _publish  # type: ignore[method-assign]


def uninstall() -> None:
    _ledgers.clear()
    Subscription.publish = _original_publish  # type: ignore[method-assign]
