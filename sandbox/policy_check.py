"""Would SNS be allowed to deliver? moto never enforces queue policies, so the sandbox asks its one policy
evaluator (sandbox/policy) the question SQS asks when SNS sends.

A subscription from a topic to a queue whose policy does not let that topic send is the most common
failure of this architecture: on AWS, SNS drops every delivery silently.

SNS's SendMessage, as SQS judges it: the principal is the service principal `sns.amazonaws.com`, the
request context carries aws:SourceArn = the topic's ARN and aws:SourceAccount = its owner (AWS IAM User
Guide, "AWS global condition context keys": both are set when a service calls another on behalf of a
resource; Amazon SNS Developer Guide, "Fanout to Amazon SQS queues": the queue policy's condition on
aws:SourceArn), and aws:SecureTransport = true (SNS reaches SQS over HTTPS). A queue with no policy admits
no service principal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from contract.resource_types import QUEUE, QUEUE_POLICY
from contract.resource_types import TOPIC_SUBSCRIPTION as SUBSCRIPTION
from sandbox.policy import Decision, PolicyDocument, Principal, Request, evaluate, request_context

if TYPE_CHECKING:
    from sandbox.deploy import Declared

SNS_PRINCIPAL = "sns.amazonaws.com"


def sns_delivery(topic_arn: str, queue_arn: str) -> Request:
    """SNS's SendMessage of a `topic_arn` message to `queue_arn`, as SQS sees it."""
    sns = Principal.of_service(SNS_PRINCIPAL)
    account = topic_arn.split(":")[4]
    context = request_context(sns, region=queue_arn.split(":")[3], source_arn=topic_arn, source_account=account)
    return Request(sns, "sqs:SendMessage", queue_arn, context)


def delivery_decision(policies: list[PolicyDocument], topic_arn: str, queue_arn: str) -> Decision:
    """The evaluator's decision on SNS's delivery under the queue's policies."""
    return evaluate(sns_delivery(topic_arn, queue_arn), (), policies)


def allows_topic(policy: dict[str, Any] | str, topic_arn: str, queue_arn: str) -> bool:
    """Does the queue policy let SNS send `topic_arn`'s messages to `queue_arn` (some Allow, no Deny)?"""
    return delivery_decision([policy], topic_arn, queue_arn).allowed


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
        if not delivery_decision(list(policies.get(target, [])), topic_arn, target).allowed:
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
        if not delivery_decision(list(queue_policies), topic_arn, queue_arn).allowed:
            queue_name = queue_arn.rsplit(":", 1)[-1]
            problems.append(
                f"subscription '{subscription.name}' sends topic {topic_arn} to queue {queue_name}, but no queue "
                f"policy on {queue_name} lets sns.amazonaws.com sqs:SendMessage from that topic, so SNS would drop "
                "every delivery silently; add an aws.sqs.QueuePolicy allowing it (with aws:SourceArn = the topic)"
            )
    return problems
