"""The guardrails (`rules.py`) as mandatory Pulumi policies. Built without the engine, so tests can run them.

Each resource reaches a rule with its `protect` option from `PolicyResourceOptions`; `retainOnDelete` stays
unknown (None), since neither pulumi-policy 1.21.0 nor the engine's analyzer protocol carries it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policypack.rules import RESOURCE_RULES, STACK_RULES, Resource, ResourceRule, StackRule

PACK_NAME = "order-pipeline-guardrails"


def _resource(type_: str, name: str, urn: str, props: Mapping[str, Any], opts: PolicyResourceOptions) -> Resource:
    return Resource(type=type_, name=name, urn=urn, props=props, protect=bool(opts.protect), retain_on_delete=None)


def _resource_validation(rule: ResourceRule) -> Any:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for violation in rule(_resource(args.resource_type, args.name, args.urn, args.props, args.opts)):
            report_violation(violation, args.urn)

    return validate


def _stack_validation(rule: StackRule) -> Any:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [_resource(r.resource_type, r.name, r.urn, r.props, r.opts) for r in args.resources]
        for violation in rule(resources):
            report_violation(violation, None)

    return validate


POLICIES: list[Policy] = [
    *(
        ResourceValidationPolicy(
            name=name,
            description=description,
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=_resource_validation(rule),
        )
        for name, (description, rule) in RESOURCE_RULES.items()
    ),
    *(
        StackValidationPolicy(
            name=name,
            description=description,
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=_stack_validation(rule),
        )
        for name, (description, rule) in STACK_RULES.items()
    ),
]
