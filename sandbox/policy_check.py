"""Would SNS be allowed to deliver? moto never enforces queue policies, so the sandbox checks them itself.

A subscription from a topic to a queue whose policy does not let that topic send is the most common
failure of this architecture: on AWS, SNS drops every delivery silently.
"""

from __future__ import annotations

import fnmatch
import json
from typing import TYPE_CHECKING, Any

from contract.resource_types import QUEUE, QUEUE_POLICY
from contract.resource_types import TOPIC_SUBSCRIPTION as SUBSCRIPTION

if TYPE_CHECKING:
    from sandbox.deploy import Declared


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_is_sns(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(p in ("*", "sns.amazonaws.com") for p in _as_list(principal.get("Service", [])))
    return False


def _condition_admits_topic(condition: dict[str, Any], topic_arn: str) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key.lower() != "aws:sourcearn":
                continue
            patterns = _as_list(expected)
            if operator in ("ArnEquals", "StringEquals") and topic_arn not in patterns:
                return False
            if operator in ("ArnLike", "StringLike") and not any(fnmatch.fnmatchcase(topic_arn, p) for p in patterns):
                return False
    return True


def _denies_only_plain_http(statement: dict[str, Any]) -> bool:
    return statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}


def allows_topic(policy: dict[str, Any], topic_arn: str, queue_arn: str) -> bool:
    """Does some Allow statement let `topic_arn` send to `queue_arn`, with no Deny refusing it?"""
    allowed = False
    for statement in _as_list(policy.get("Statement", [])):
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", "*"))
        if not (
            _principal_is_sns(statement.get("Principal"))
            and any(fnmatch.fnmatchcase("sqs:SendMessage", action) for action in actions)
            and any(fnmatch.fnmatchcase(queue_arn, resource) for resource in resources)
            and _condition_admits_topic(statement.get("Condition", {}), topic_arn)
        ):
            continue
        if statement.get("Effect") == "Deny":
            if not _denies_only_plain_http(statement):  # SNS delivers over TLS
                return False
        else:
            allowed = True
    return allowed


def _policies_by_queue_arn(resources: list[Declared]) -> dict[str, list[dict[str, Any]]]:
    urls = {r.state["url"]: r.state["arn"] for r in resources if r.type == QUEUE}
    policies: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        if resource.type == QUEUE_POLICY and resource.inputs["queueUrl"] in urls:
            arn = urls[resource.inputs["queueUrl"]]
            policies.setdefault(arn, []).append(json.loads(resource.inputs["policy"]))
    return policies


def unredrivable_subscriptions(resources: list[Declared]) -> list[str]:
    """One line per SNS -> SQS subscription whose DLQ (RedrivePolicy) SNS could not send to: a delivery that
    fails would then be lost too (SNS counts it in NumberOfNotificationsFailedToRedriveToDlq)."""
    policies = _policies_by_queue_arn(resources)
    problems = []
    for subscription in (r for r in resources if r.type == SUBSCRIPTION and r.inputs.get("redrivePolicy")):
        topic_arn = subscription.inputs["topic"]
        target = json.loads(subscription.inputs["redrivePolicy"]).get("deadLetterTargetArn", "")
        if not any(allows_topic(policy, topic_arn, target) for policy in policies.get(target, [])):
            problems.append(
                f"subscription '{subscription.name}' dead-letters to {target.rsplit(':', 1)[-1]}, but no queue policy "
                f"there lets sns.amazonaws.com sqs:SendMessage from {topic_arn}: an order SNS cannot deliver would "
                "be lost instead of dead-lettered"
            )
    return problems


def undeliverable_subscriptions(resources: list[Declared]) -> list[str]:
    """One line per SNS -> SQS subscription whose queue's policy would make SNS drop the deliveries."""
    queues = {r.state["arn"]: r for r in resources if r.type == QUEUE}
    policies: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        if resource.type == QUEUE_POLICY:
            policies.setdefault(resource.inputs["queueUrl"], []).append(json.loads(resource.inputs["policy"]))
    problems = []
    for subscription in (r for r in resources if r.type == SUBSCRIPTION and r.inputs.get("protocol") == "sqs"):
        topic_arn, queue_arn = subscription.inputs["topic"], subscription.inputs["endpoint"]
        queue = queues.get(queue_arn)
        queue_policies = policies.get(queue.state["url"], []) if queue else []
        if not any(allows_topic(policy, topic_arn, queue_arn) for policy in queue_policies):
            queue_name = queue_arn.rsplit(":", 1)[-1]
            problems.append(
                f"subscription '{subscription.name}' sends topic {topic_arn} to queue {queue_name}, but no queue "
                f"policy on {queue_name} lets sns.amazonaws.com sqs:SendMessage from that topic, so SNS would drop "
                "every delivery silently; add an aws.sqs.QueuePolicy allowing it (with aws:SourceArn = the topic)"
            )
    return problems
