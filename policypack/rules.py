"""The pipeline's guardrails as pure functions over a stack's resources.

The policy pack (`policies.py`) runs them as mandatory Pulumi policies on every preview and update;
the tests run them on the program's mocked resources and on broken variants. Each returns the
violations it finds, one sentence each. Properties are read through `Mapping` and `Sequence` only,
because the policy engine hands them over as read-only proxies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TABLE = "aws:dynamodb/table:Table"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"

PROTECTED_STACK_PREFIX = "prod"
PROCESSOR_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
PROCESSOR_QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
PROCESSOR_LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    """The Pulumi `protect` option (the policy engine's `opts.protect`)."""
    retain_on_delete: bool | None = None
    """The Pulumi `retainOnDelete` option; None where it is not known. The policy engine never knows it: the
    analyzer protocol (pulumi 3.272's `AnalyzerResourceOptions`) and pulumi-policy 1.21.0's
    `PolicyResourceOptions` do not carry it. The program's recorded options (`ProgramRun.goals`) do."""

    @property
    def stack(self) -> str:
        return self.urn.split("::")[0].removeprefix("urn:pulumi:")

    def get(self, key: str, default: Any = None) -> Any:
        return self.props.get(key, default)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def document(value: Any) -> Mapping[str, Any]:
    """A policy document, whether the resource holds it as JSON text or as an object."""
    if isinstance(value, str):
        parsed = json.loads(value) if value else {}
        return parsed if isinstance(parsed, Mapping) else {}
    return value if isinstance(value, Mapping) else {}


def statements(value: Any) -> list[Mapping[str, Any]]:
    return [s for s in as_list(document(value).get("Statement")) if isinstance(s, Mapping)]


def _of_type(resources: Iterable[Resource], type_: str) -> list[Resource]:
    return [resource for resource in resources if resource.type == type_]


# Rules on one resource


def iam_no_wildcards(resource: Resource) -> list[str]:
    """No Allow statement grants every action of a service, every resource, or all-but-some (Not*)."""
    if resource.type in (ROLE_POLICY, POLICY):
        documents = [resource.get("policy")]
    elif resource.type == ROLE:
        documents = [inline.get("policy") for inline in as_list(resource.get("inlinePolicies")) if inline]
    else:
        return []
    found = []
    for statement in (s for d in documents for s in statements(d)):
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "a statement")
        if "NotAction" in statement or "NotResource" in statement:
            found.append(f"{resource.name}: {sid} uses NotAction/NotResource, which grants all but what it names")
        for action in as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                found.append(f"{resource.name}: {sid} allows the wildcard action {action!r}")
        for target in as_list(statement.get("Resource")):
            if target == "*":
                found.append(f"{resource.name}: {sid} allows its actions on every resource ('*')")
    return found


def tables_encrypted(resource: Resource) -> list[str]:
    if resource.type == TABLE and (resource.get("serverSideEncryption") or {}).get("enabled") is not True:
        return [f"{resource.name}: the table is not encrypted with KMS (serverSideEncryption.enabled)"]
    return []


def queues_encrypted(resource: Resource) -> list[str]:
    if resource.type == QUEUE and not (resource.get("sqsManagedSseEnabled") or resource.get("kmsMasterKeyId")):
        return [f"{resource.name}: the queue is not encrypted (sqsManagedSseEnabled or kmsMasterKeyId)"]
    return []


def log_groups_retain(resource: Resource) -> list[str]:
    if resource.type == LOG_GROUP and not resource.get("retentionInDays"):
        return [f"{resource.name}: the log group keeps logs forever (set retentionInDays)"]
    return []


def protected_stack_tables(resource: Resource) -> list[str]:
    """In a prod stack, a table can neither be deleted by accident nor lose its history."""
    if resource.type != TABLE or not resource.stack.startswith(PROTECTED_STACK_PREFIX):
        return []
    found = []
    if resource.get("deletionProtectionEnabled") is not True:
        found.append(f"{resource.name}: stack {resource.stack} needs deletion protection on the table")
    if (resource.get("pointInTimeRecovery") or {}).get("enabled") is not True:
        found.append(f"{resource.name}: stack {resource.stack} needs point-in-time recovery on the table")
    return found


def subscriptions_to_queues_have_dlq(resource: Resource) -> list[str]:
    """A subscription that delivers to a queue has a dead-letter queue: without a redrive policy SNS
    discards an order it could not deliver once its retries run out (serverless-rules rates it an error)."""
    if resource.type != SUBSCRIPTION or resource.get("protocol") != "sqs":
        return []
    if not document(resource.get("redrivePolicy")).get("deadLetterTargetArn"):
        return [
            f"{resource.name}: the subscription delivers to a queue without a dead-letter queue "
            "(redrivePolicy.deadLetterTargetArn), so SNS discards an order it cannot deliver"
        ]
    return []


def _trusts_lambda(role: Resource) -> bool:
    return any(
        statement.get("Effect") == "Allow"
        and "lambda.amazonaws.com" in as_list((statement.get("Principal") or {}).get("Service"))
        for statement in statements(role.get("assumeRolePolicy"))
    )


def lambda_roles_no_managed_policies(resource: Resource) -> list[str]:
    """A role Lambda may assume lists no managed policy of its own (`managedPolicyArns`): its grants are the
    exact inline ones. Read from the role's own inputs, so it holds on a first preview as well."""
    if resource.type != ROLE or not _trusts_lambda(resource):
        return []
    return [
        f"{resource.name}: a Lambda role declares the managed policy {arn} (managedPolicyArns); grants must be exact"
        for arn in as_list(resource.get("managedPolicyArns"))
    ]


# Rules across the stack


def _function_for(resources: list[Resource], name_or_arn: str) -> Resource | None:
    return next((f for f in _of_type(resources, FUNCTION) if name_or_arn in (f.get("arn"), f.get("name"))), None)


def _grants(resources: list[Resource], role: Resource) -> set[tuple[str, str]]:
    """(action, resource) pairs the role's inline policies allow."""
    role_names = {role.get("name"), role.get("id"), role.name}
    documents = [p.get("policy") for p in _of_type(resources, ROLE_POLICY) if p.get("role") in role_names]
    documents += [(inline or {}).get("policy") for inline in as_list(role.get("inlinePolicies"))]
    found: set[tuple[str, str]] = set()
    for statement in (s for d in documents for s in statements(d)):
        if statement.get("Effect") == "Allow":
            for action in as_list(statement.get("Action")):
                found.update((str(action), str(target)) for target in as_list(statement.get("Resource")))
    return found


def processor_grants_exact(resources: list[Resource]) -> list[str]:
    """A queue-fed function's role may do exactly this: read and write its table, consume its queue,
    write its own log group. Nothing more, nothing attached."""
    found = []
    for mapping in _of_type(resources, MAPPING):
        function = _function_for(resources, str(mapping.get("functionName")))
        if function is None:
            continue
        role = next((r for r in _of_type(resources, ROLE) if r.get("arn") == function.get("role")), None)
        if role is None:
            found.append(f"{function.name}: its role is not declared in this stack, so its grants cannot be checked")
            continue
        variables = (function.get("environment") or {}).get("variables") or {}
        table = next((t for t in _of_type(resources, TABLE) if t.get("name") == variables.get("TABLE_NAME")), None)
        log_group_name = (function.get("loggingConfig") or {}).get("logGroup") or f"/aws/lambda/{function.get('name')}"
        log_group = next((g for g in _of_type(resources, LOG_GROUP) if g.get("name") == log_group_name), None)
        expected = {(action, str(mapping.get("eventSourceArn"))) for action in PROCESSOR_QUEUE_ACTIONS}
        if table is not None:
            expected |= {(action, str(table.get("arn"))) for action in PROCESSOR_TABLE_ACTIONS}
        if log_group is not None:
            expected |= {(action, f"{log_group.get('arn')}:*") for action in PROCESSOR_LOG_ACTIONS}
        granted = _grants(resources, role)
        found += [
            f"{role.name}: grants {action} on {target}, beyond what the processor needs"
            for action, target in sorted(granted - expected)
        ]
        found += [
            f"{role.name}: lacks {action} on {target}, which the processor needs"
            for action, target in sorted(expected - granted)
        ]
        role_names = {role.get("name"), role.get("id"), role.name}
        found += [
            f"{role.name}: has the managed policy {attachment.get('policyArn')} attached; grants must be exact"
            for attachment in _of_type(resources, ATTACHMENT)
            if attachment.get("role") in role_names
        ]
        # The role's own list (an input, and the provider's record of it in the state).
        found += [
            f"{role.name}: has the managed policy {arn} attached; grants must be exact"
            for arn in as_list(role.get("managedPolicyArns"))
        ]
    return found


def _queue_at(resources: list[Resource], url: Any) -> Resource | None:
    return next((q for q in _of_type(resources, QUEUE) if url in (q.get("url"), q.get("id"))), None)


def _source_arns(condition: Mapping[str, Any]) -> list[str] | None:
    """The topic ARNs an ArnEquals / ArnLike (without wildcards) aws:SourceArn condition admits."""
    for operator in ("ArnEquals", "ArnLike"):
        for key, value in (condition.get(operator) or {}).items():
            if key.lower() == "aws:sourcearn":
                arns = [str(arn) for arn in as_list(value)]
                return None if any("*" in arn or "?" in arn for arn in arns) else arns
    return None


def queue_policies_admit_only_subscribed_topics(resources: list[Resource]) -> list[str]:
    """A queue policy lets in sns.amazonaws.com, to send, only from the topics whose subscriptions deliver to
    that queue or dead-letter into it (a subscription's redrivePolicy: SNS itself moves the order there)."""
    found = []
    for policy in _of_type(resources, QUEUE_POLICY):
        queue = _queue_at(resources, policy.get("queueUrl"))
        queue_arn = queue.get("arn") if queue else None
        topics = {
            s.get("topic")
            for s in _of_type(resources, SUBSCRIPTION)
            if (s.get("protocol") == "sqs" and s.get("endpoint") == queue_arn)
            or document(s.get("redrivePolicy")).get("deadLetterTargetArn") == queue_arn
        }
        for statement in statements(policy.get("policy")):
            if statement.get("Effect") != "Allow":
                continue
            sid = statement.get("Sid", "a statement")
            if statement.get("Principal") != {"Service": "sns.amazonaws.com"}:
                found.append(f"{policy.name}: {sid} admits {statement.get('Principal')!r}, not only SNS")
            if set(as_list(statement.get("Action"))) != {"sqs:SendMessage"}:
                found.append(f"{policy.name}: {sid} allows {as_list(statement.get('Action'))}, not only SendMessage")
            if as_list(statement.get("Resource")) != [queue_arn]:
                found.append(f"{policy.name}: {sid} is not scoped to its own queue")
            sources = _source_arns(statement.get("Condition") or {})
            if not sources or not set(sources) <= topics:
                found.append(f"{policy.name}: {sid} admits sources {sources} besides the topics subscribed here")
    return found


def _denies_plain_http(statement: Mapping[str, Any], queue_arn: Any) -> bool:
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and bool({"sqs:*", "*"} & set(as_list(statement.get("Action"))))
        and queue_arn in as_list(statement.get("Resource"))
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    )


def queues_deny_plain_http(resources: list[Resource]) -> list[str]:
    found = []
    for queue in _of_type(resources, QUEUE):
        policies = [
            p for p in _of_type(resources, QUEUE_POLICY) if p.get("queueUrl") in (queue.get("url"), queue.get("id"))
        ]
        if not any(_denies_plain_http(s, queue.get("arn")) for p in policies for s in statements(p.get("policy"))):
            found.append(f"{queue.name}: no queue policy denies requests without TLS (aws:SecureTransport false)")
    return found


def order_topics_encrypted(resources: list[Resource]) -> list[str]:
    """A topic that delivers to a queue carries orders, so it is encrypted. (An alarm topic may not be:
    CloudWatch cannot publish to one under alias/aws/sns.)"""
    delivering = {s.get("topic") for s in _of_type(resources, SUBSCRIPTION) if s.get("protocol") == "sqs"}
    return [
        f"{topic.name}: the topic delivers orders to a queue but is not encrypted (kmsMasterKeyId)"
        for topic in _of_type(resources, TOPIC)
        if topic.get("arn") in delivering and not topic.get("kmsMasterKeyId")
    ]


def dead_letter_queues_accept_only_their_sources(resources: list[Resource]) -> list[str]:
    """A DLQ's redrive-allow policy names exactly the queues that dead-letter into it."""
    sources: dict[str, set[str]] = {}
    for queue in _of_type(resources, QUEUE):
        target = document(queue.get("redrivePolicy")).get("deadLetterTargetArn")
        if target:
            sources.setdefault(str(target), set()).add(str(queue.get("arn")))
    found = []
    for dlq_arn, expected in sources.items():
        dlq = next((q for q in _of_type(resources, QUEUE) if q.get("arn") == dlq_arn), None)
        if dlq is None:
            continue
        allow_policies = [document(dlq.get("redriveAllowPolicy"))] if dlq.get("redriveAllowPolicy") else []
        allow_policies += [
            document(p.get("redriveAllowPolicy"))
            for p in _of_type(resources, REDRIVE_ALLOW)
            if p.get("queueUrl") in (dlq.get("url"), dlq.get("id"))
        ]
        if not allow_policies:
            found.append(f"{dlq.name}: no redrive-allow policy, so any queue may dead-letter into it")
        for allow in allow_policies:
            sources_named = {str(arn) for arn in as_list(allow.get("sourceQueueArns"))}
            if allow.get("redrivePermission") != "byQueue" or sources_named != expected:
                found.append(
                    f"{dlq.name}: its redrive-allow policy ({allow.get('redrivePermission')}, {sorted(sources_named)}) "
                    f"admits other than its source queues {sorted(expected)}"
                )
    return found


def _protected_because(resources: list[Resource]) -> list[str]:
    """Why the stack is a protected one: its name, or a table with deletion protection (the program's
    `deletionProtection` config). Both, so a prod stack that turned deletion protection off is still one."""
    reasons = []
    stacks = sorted({r.stack for r in resources if r.stack.startswith(PROTECTED_STACK_PREFIX)})
    reasons += [f"the stack name {stack} starts with {PROTECTED_STACK_PREFIX!r}" for stack in stacks]
    reasons += [
        f"{table.name} has deletion protection"
        for table in _of_type(resources, TABLE)
        if table.get("deletionProtectionEnabled") is True
    ]
    return reasons


def protected_stack_resources_protected(resources: list[Resource]) -> list[str]:
    """On a protected stack, no update can delete or replace a table or a queue (Pulumi `protect`), and
    leaving the stack keeps the table (`retainOnDelete`, checked where it is known; see `Resource`)."""
    reasons = _protected_because(resources)
    if not reasons:
        return []
    why = "; ".join(reasons)
    found = []
    for resource in resources:
        kind = {TABLE: "table", QUEUE: "queue"}.get(resource.type)
        if kind is None:
            continue
        if not resource.protect:
            found.append(f"{resource.name}: the stack is protected ({why}), but the {kind} lacks the protect option")
        if kind == "table" and resource.retain_on_delete is False:
            found.append(
                f"{resource.name}: the stack is protected ({why}), but the table lacks the retainOnDelete option"
            )
    return found


ResourceRule = Callable[[Resource], list[str]]
StackRule = Callable[[list[Resource]], list[str]]

RESOURCE_RULES: dict[str, tuple[str, ResourceRule]] = {
    "iam-no-wildcards": ("IAM statements grant no wildcard action or resource", iam_no_wildcards),
    "table-encrypted": ("DynamoDB tables are encrypted with KMS", tables_encrypted),
    "queues-encrypted": ("SQS queues, DLQs included, are encrypted", queues_encrypted),
    "log-groups-retain": ("log groups have a retention period", log_groups_retain),
    "prod-tables-protected": (
        "prod tables have deletion protection and point-in-time recovery",
        protected_stack_tables,
    ),
    "lambda-role-no-managed-policies": (
        "a role Lambda assumes declares no managed policies (managedPolicyArns)",
        lambda_roles_no_managed_policies,
    ),
    "sqs-subscription-has-dlq": (
        "a subscription that delivers to a queue has a dead-letter queue (redrivePolicy)",
        subscriptions_to_queues_have_dlq,
    ),
}
STACK_RULES: dict[str, tuple[str, StackRule]] = {
    "processor-grants-exact": ("a queue-fed function's role grants exactly what it uses", processor_grants_exact),
    "queue-policy-sns-only": (
        "queue policies admit only SNS, sending, from the topics subscribed to the queue or dead-lettering into it",
        queue_policies_admit_only_subscribed_topics,
    ),
    "queues-tls-only": ("every queue denies requests without TLS", queues_deny_plain_http),
    "order-topic-encrypted": ("a topic that delivers to a queue is encrypted", order_topics_encrypted),
    "dlq-redrive-allow-sources-only": (
        "a DLQ accepts dead letters only from its source queues",
        dead_letter_queues_accept_only_their_sources,
    ),
    "protected-stack-resources-protected": (
        "on a protected stack (prod*, or a table with deletion protection) tables and queues have the protect "
        "option (and tables retainOnDelete where the engine reports it)",
        protected_stack_resources_protected,
    ),
}


def violations(resources: list[Resource]) -> dict[str, list[str]]:
    """Every rule's violations on a stack (empty lists for the rules it passes)."""
    found = {name: [v for r in resources for v in rule(r)] for name, (_, rule) in RESOURCE_RULES.items()}
    found.update({name: rule(resources) for name, (_, rule) in STACK_RULES.items()})
    return found
