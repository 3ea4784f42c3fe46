"""Security over the declared resources: every stack passes every guardrail, and each guardrail rejects a
deliberately broken variant. The same rules are the policy pack's, tested here through pulumi-policy too."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policypack.policies import POLICIES
from policypack.rules import (
    ATTACHMENT,
    LOG_GROUP,
    QUEUE,
    QUEUE_POLICY,
    REDRIVE_ALLOW,
    RESOURCE_RULES,
    ROLE,
    ROLE_POLICY,
    STACK_RULES,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    Resource,
    violations,
)
from tests.infra.conftest import deploy
from tests.security.engine import declared


def test_every_stack_passes_every_guardrail(stacks: dict[str, list[Resource]]) -> None:
    assert set(stacks) >= {"dev", "prod"}
    for stack, resources in stacks.items():
        assert violations(resources) == {name: [] for name in [*RESOURCE_RULES, *STACK_RULES]}, stack


# Broken variants: each edits a copy of the dev (or prod) stack to break exactly one thing.

Edit = Callable[[list[Resource]], None]


def one(resources: list[Resource], type_: str, suffix: str = "") -> Resource:
    [found] = [r for r in resources if r.type == type_ and r.name.endswith(suffix)]
    return found


def set_prop(type_: str, suffix: str, key: str, value: Any) -> Edit:
    def edit(resources: list[Resource]) -> None:
        props = one(resources, type_, suffix).props
        assert isinstance(props, dict)
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value

    return edit


def edit_statements(
    type_: str, suffix: str, change: Callable[[list[dict[str, Any]]], None], key: str = "policy"
) -> Edit:
    def edit(resources: list[Resource]) -> None:
        props = one(resources, type_, suffix).props
        assert isinstance(props, dict)
        document = json.loads(props[key])
        change(document["Statement"])
        props[key] = json.dumps(document)

    return edit


def statement(sid: str, change: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], None]:
    def apply(statements: list[dict[str, Any]]) -> None:
        [found] = [s for s in statements if s.get("Sid") == sid]
        change(found)

    return apply


def drop(type_: str, suffix: str) -> Edit:
    def edit(resources: list[Resource]) -> None:
        resources.remove(one(resources, type_, suffix))

    return edit


def attach_managed_policy(resources: list[Resource]) -> None:
    role = one(resources, ROLE, "-processor-role")
    policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    resources.append(Resource(ATTACHMENT, "basic", role.urn, {"role": role.props["name"], "policyArn": policy_arn}))


ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
manage_role_with_administrator_access = set_prop(ROLE, "-processor-role", "managedPolicyArns", [ADMINISTRATOR_ACCESS])


def set_options(types: tuple[str, ...], change: Callable[[Resource], Resource], suffix: str = "") -> Edit:
    """Changes the resource options (`protect`, `retain_on_delete`) of every resource of those types."""

    def edit(resources: list[Resource]) -> None:
        matched = [i for i, r in enumerate(resources) if r.type in types and r.name.endswith(suffix)]
        assert matched
        for i in matched:
            resources[i] = change(resources[i])

    return edit


def unprotected(resource: Resource) -> Resource:
    return dataclasses.replace(resource, protect=False)


def not_retained(resource: Resource) -> Resource:
    return dataclasses.replace(resource, retain_on_delete=False)


strip_protect = set_options((TABLE, QUEUE), unprotected)


def redrive_allow(change: Callable[[dict[str, Any]], None]) -> Edit:
    def edit(resources: list[Resource]) -> None:
        props = one(resources, REDRIVE_ALLOW).props
        assert isinstance(props, dict)
        allow = json.loads(props["redriveAllowPolicy"])
        change(allow)
        props["redriveAllowPolicy"] = json.dumps(allow)

    return edit


def other_queue_too(allow: dict[str, Any]) -> None:
    allow["sourceQueueArns"].append("arn:aws:sqs:us-east-1:123456789012:someone-elses-queue")


def alarm_topic_as_source(resources: list[Resource]) -> None:
    alarm_topic = one(resources, TOPIC, "-alarms").props["arn"]
    edit_statements(
        QUEUE_POLICY,
        "-queue-policy",
        statement(
            "AllowOrderTopicDelivery", lambda s: s.update(Condition={"ArnEquals": {"aws:SourceArn": alarm_topic}})
        ),
    )(resources)


@dataclass(frozen=True)
class Broken:
    rule: str
    what: str
    edit: Edit
    expected: str  # a fragment of the violation the rule must report
    stack: str = "dev"


def role_policy(sid: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    return edit_statements(ROLE_POLICY, "-processor-policy", statement(sid, change))


def delivery_status_policy(sid: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    return edit_statements(ROLE_POLICY, "-topic-delivery-status-policy", statement(sid, change))


def order_queue_policy(change: Callable[[list[dict[str, Any]]], None]) -> Edit:
    return edit_statements(QUEUE_POLICY, "-queue-policy", change)


def partner_may_send(statements: list[dict[str, Any]]) -> None:
    partner = {"AWS": "arn:aws:iam::999999999999:root"}
    statements.append(
        {"Sid": "Partner", "Effect": "Allow", "Principal": partner, "Action": "sqs:SendMessage", "Resource": "*"}
    )


BROKEN = [
    Broken(
        "iam-no-wildcards",
        "service-wide action",
        role_policy("WriteOrders", lambda s: s.update(Action=["dynamodb:*"])),
        "wildcard action 'dynamodb:*'",
    ),
    Broken(
        "iam-no-wildcards",
        "every resource",
        role_policy("ConsumeOrderQueue", lambda s: s.update(Resource="*")),
        "on every resource",
    ),
    Broken(
        "iam-no-wildcards",
        "delivery status role on every log group",
        delivery_status_policy("WriteDeliveryFailureLog", lambda s: s.update(Resource="*")),
        "orders-topic-delivery-status-policy: WriteDeliveryFailureLog allows its actions on every resource",
    ),
    Broken(
        "iam-no-wildcards",
        "delivery status role with every logs action",
        delivery_status_policy("WriteDeliveryFailureLog", lambda s: s.update(Action=["logs:*"])),
        "wildcard action 'logs:*'",
    ),
    Broken(
        "iam-no-wildcards",
        "NotAction",
        role_policy("WriteOrders", lambda s: s.update(NotAction=["iam:*"])),
        "NotAction",
    ),
    Broken(
        "processor-grants-exact",
        "an extra action",
        role_policy("WriteOrders", lambda s: s["Action"].append("dynamodb:Scan")),
        "grants dynamodb:Scan",
    ),
    Broken(
        "processor-grants-exact",
        "a missing action",
        role_policy("WriteOrders", lambda s: s["Action"].remove("dynamodb:GetItem")),
        "lacks dynamodb:GetItem",
    ),
    Broken(
        "processor-grants-exact",
        "the wrong queue",
        role_policy("ConsumeOrderQueue", lambda s: s.update(Resource="arn:aws:sqs:us-east-1:123456789012:other")),
        "beyond what the processor needs",
    ),
    Broken("processor-grants-exact", "a managed policy", attach_managed_policy, "AWSLambdaBasicExecutionRole attached"),
    Broken(
        "processor-grants-exact",
        "managedPolicyArns on the role",
        manage_role_with_administrator_access,
        "AdministratorAccess attached",
    ),
    Broken(
        "lambda-role-no-managed-policies",
        "AdministratorAccess in managedPolicyArns",
        manage_role_with_administrator_access,
        "declares the managed policy arn:aws:iam::aws:policy/AdministratorAccess",
    ),
    Broken(
        "queue-policy-sns-only",
        "any principal",
        order_queue_policy(statement("AllowOrderTopicDelivery", lambda s: s.update(Principal="*"))),
        "admits '*', not only SNS",
    ),
    Broken("queue-policy-sns-only", "another topic", alarm_topic_as_source, "besides the topics subscribed here"),
    Broken(
        "queue-policy-sns-only",
        "no source condition",
        order_queue_policy(statement("AllowOrderTopicDelivery", lambda s: s.pop("Condition"))),
        "admits sources None",
    ),
    Broken("queue-policy-sns-only", "an account may send", order_queue_policy(partner_may_send), "Partner admits"),
    Broken(
        "queues-tls-only",
        "queue without TLS denial",
        order_queue_policy(lambda statements: statements.__delitem__(-1)),
        "-queue: no queue policy denies requests without TLS",
    ),
    Broken(
        "queues-tls-only",
        "DLQ without a policy",
        drop(QUEUE_POLICY, "orders-dlq-policy"),
        "-dlq: no queue policy denies",
    ),
    Broken(
        "table-encrypted",
        "table SSE off",
        set_prop(TABLE, "", "serverSideEncryption", {"enabled": False}),
        "not encrypted with KMS",
    ),
    Broken(
        "queues-encrypted",
        "queue SSE off",
        set_prop(QUEUE, "-queue", "sqsManagedSseEnabled", False),
        "-queue: the queue is not encrypted",
    ),
    Broken(
        "queues-encrypted",
        "DLQ SSE off",
        set_prop(QUEUE, "orders-dlq", "sqsManagedSseEnabled", False),
        "-dlq: the queue is not encrypted",
    ),
    Broken(
        "order-topic-encrypted",
        "order topic in clear",
        set_prop(TOPIC, "-topic", "kmsMasterKeyId", None),
        "delivers orders to a queue but is not encrypted",
    ),
    Broken("log-groups-retain", "no retention", set_prop(LOG_GROUP, "", "retentionInDays", None), "keeps logs forever"),
    Broken(
        "dlq-redrive-allow-sources-only",
        "allowAll",
        redrive_allow(lambda allow: allow.update(redrivePermission="allowAll")),
        "admits other than its source queues",
    ),
    Broken("dlq-redrive-allow-sources-only", "another source", redrive_allow(other_queue_too), "someone-elses-queue"),
    Broken(
        "dlq-redrive-allow-sources-only",
        "no redrive-allow policy",
        drop(REDRIVE_ALLOW, ""),
        "any queue may dead-letter into it",
    ),
    Broken(
        "prod-tables-protected",
        "no deletion protection",
        set_prop(TABLE, "", "deletionProtectionEnabled", False),
        "stack prod needs deletion protection",
        stack="prod",
    ),
    Broken(
        "prod-tables-protected",
        "no point-in-time recovery",
        set_prop(TABLE, "", "pointInTimeRecovery", {"enabled": False}),
        "stack prod needs point-in-time recovery",
        stack="prod",
    ),
    Broken(
        "sqs-subscription-has-dlq",
        "no redrive policy",
        set_prop(SUBSCRIPTION, "", "redrivePolicy", None),
        "orders-subscription: the subscription delivers to a queue without a dead-letter queue",
    ),
    Broken(
        "protected-stack-resources-protected",
        "prod without protect",
        strip_protect,
        "orders-queue: the stack is protected (the stack name prod starts with 'prod'; orders-table has deletion "
        "protection), but the queue lacks the protect option",
        stack="prod",
    ),
    Broken(
        "protected-stack-resources-protected",
        "deletion protection on a dev table, nothing protected",
        set_prop(TABLE, "", "deletionProtectionEnabled", True),
        "orders-dlq: the stack is protected (orders-table has deletion protection), but the queue lacks the protect "
        "option",
    ),
]


def broken(stacks: dict[str, list[Resource]], stack: str, edit: Edit) -> list[Resource]:
    resources = [dataclasses.replace(r, props=copy.deepcopy(dict(r.props))) for r in stacks[stack]]
    edit(resources)
    return resources


@pytest.mark.parametrize("case", BROKEN, ids=[f"{case.rule}:{case.what}" for case in BROKEN])
def test_each_rule_rejects_its_broken_variant(stacks: dict[str, list[Resource]], case: Broken) -> None:
    found = violations(broken(stacks, case.stack, case.edit))[case.rule]
    assert any(case.expected in violation for violation in found), found


def test_every_rule_has_a_broken_variant() -> None:
    assert {case.rule for case in BROKEN} == set(RESOURCE_RULES) | set(STACK_RULES)


def test_unprotected_tables_are_fine_outside_prod(stacks: dict[str, list[Resource]]) -> None:
    dev = broken(stacks, "dev", set_prop(TABLE, "", "pointInTimeRecovery", {"enabled": False}))
    assert violations(dev)["prod-tables-protected"] == []


# Protected stacks: the exact sentences, on the program's own resources and options.

PROTECTED_RULE = "protected-stack-resources-protected"
PROD_WHY = "the stack name prod starts with 'prod'; orders-table has deletion protection"


def test_the_protected_stacks_resources_carry_protect_and_the_table_retain_on_delete(
    stacks: dict[str, list[Resource]],
) -> None:
    """What the rule passes on prod is really there: the options as the program registered them."""
    stateful = {r.name: (r.protect, r.retain_on_delete) for r in stacks["prod"] if r.type in (TABLE, QUEUE)}
    assert stateful == {
        "orders-table": (True, True),
        "orders-queue": (True, False),
        "orders-dlq": (True, False),
        "orders-subscription-dlq": (True, False),
    }
    assert not any(r.protect for r in stacks["dev"])


def test_prod_without_protect_is_refused_with_one_sentence_per_resource(stacks: dict[str, list[Resource]]) -> None:
    found = violations(broken(stacks, "prod", strip_protect))[PROTECTED_RULE]
    assert sorted(found) == sorted(
        [
            f"orders-table: the stack is protected ({PROD_WHY}), but the table lacks the protect option",
            f"orders-queue: the stack is protected ({PROD_WHY}), but the queue lacks the protect option",
            f"orders-dlq: the stack is protected ({PROD_WHY}), but the queue lacks the protect option",
            f"orders-subscription-dlq: the stack is protected ({PROD_WHY}), but the queue lacks the protect option",
        ]
    )


def test_prod_table_without_retain_on_delete_is_refused_where_the_option_is_known(
    stacks: dict[str, list[Resource]],
) -> None:
    found = violations(broken(stacks, "prod", set_options((TABLE,), not_retained)))[PROTECTED_RULE]
    sentence = f"orders-table: the stack is protected ({PROD_WHY}), but the table lacks the retainOnDelete option"
    assert found == [sentence]


def test_a_prod_stack_that_turned_deletion_protection_off_is_still_protected() -> None:
    resources = declared(deploy("prod", deletionProtection="false"))
    why = "the stack name prod starts with 'prod'"
    assert sorted(violations(resources)[PROTECTED_RULE]) == sorted(
        [
            f"orders-table: the stack is protected ({why}), but the table lacks the protect option",
            f"orders-table: the stack is protected ({why}), but the table lacks the retainOnDelete option",
            f"orders-queue: the stack is protected ({why}), but the queue lacks the protect option",
            f"orders-dlq: the stack is protected ({why}), but the queue lacks the protect option",
            f"orders-subscription-dlq: the stack is protected ({why}), but the queue lacks the protect option",
        ]
    )


def protected_dev_with_an_unprotected_queue() -> list[Resource]:
    """dev deployed with `deletionProtection: true`, then its order queue's `protect` dropped."""
    resources = declared(deploy("dev", deletionProtection="true"))
    set_options((QUEUE,), unprotected, "orders-queue")(resources)
    return resources


DEV_QUEUE_UNPROTECTED = (
    "orders-queue: the stack is protected (orders-table has deletion protection), but the queue lacks the protect "
    "option"
)


def test_a_stack_with_deletion_protection_is_protected_whatever_its_name() -> None:
    assert violations(declared(deploy("dev", deletionProtection="true")))[PROTECTED_RULE] == []
    assert violations(protected_dev_with_an_unprotected_queue())[PROTECTED_RULE] == [DEV_QUEUE_UNPROTECTED]


# The policy pack itself: each policy, through pulumi-policy's own argument objects and proxies.


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(resource.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _reported(policy: Any, resources: list[Resource]) -> list[str]:
    reports: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reports.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        for r in resources:
            props = unknown_checking_proxy(copy.deepcopy(dict(r.props)))
            policy.validate(ResourceValidationArgs(r.type, props, r.urn, r.name, _options(r), None), report)
    else:
        policy_resources = [
            PolicyResource(r.type, unknown_checking_proxy(copy.deepcopy(dict(r.props))), r.urn, r.name, _options(r),
                           None, None, [], {})
            for r in resources
        ]  # fmt: skip
        policy.validate(StackValidationArgs(policy_resources), report)
    return reports


@pytest.mark.parametrize("policy", POLICIES, ids=lambda policy: policy.name)
def test_each_pack_policy_is_mandatory_passes_the_stacks_and_rejects_its_broken_variants(
    stacks: dict[str, list[Resource]], policy: Any
) -> None:
    assert policy.enforcement_level == EnforcementLevel.MANDATORY
    for stack, resources in stacks.items():
        assert _reported(policy, resources) == [], stack
    variants = [case for case in BROKEN if case.rule == policy.name]
    assert variants
    for case in variants:
        reports = _reported(policy, broken(stacks, case.stack, case.edit))
        assert any(case.expected in report for report in reports), (case.what, reports)
