"""The one policy evaluator: identity-based, resource-based (queue, topic, key) and trust policies, decided as
AWS decides a request within one account.

Sources (AWS IAM User Guide):

- "Policy evaluation logic" > "How AWS enforcement code logic evaluates requests to allow or deny access":
  every request is implicitly denied; "An explicit deny overrides an explicit allow"; the enforcement code
  first looks for a Deny in every applicable policy, then for an Allow.
- "Policy evaluation for requests within a single account": "If either the identity-based policy or the
  resource-based policy within the same account allows the request and the other doesn't, the request is
  still allowed." (`evaluate` combines them so; cross-account requests, which need both, are not modelled.)
- "IAM JSON policy elements: Action": action names are case-insensitive ("the name of the action is not case
  sensitive"), and take `*` and `?` wildcards. "NotAction": the statement applies to every action but those.
- "IAM JSON policy elements: Resource": ARNs with `*` and `?` wildcards, matched case-sensitively (resource
  ARNs are case-sensitive). "NotResource": every resource but those; with Deny it denies everything not listed
  and never allows anything. A statement without Resource (a role's trust policy) applies to the resource
  the policy is attached to.
- "IAM JSON policy elements: Principal": `"*"` and `{"AWS": "*"}` are equivalent and name every principal;
  `{"Service": "sns.amazonaws.com"}` names a service; a role ARN names the role's sessions; an account
  (`123456789012` or `arn:aws:iam::123456789012:root`) "delegates authority to the account": an Allow for it
  lets the account's identities in only as far as their identity-based policies allow (so it grants them
  nothing by itself), while a Deny for it applies to them all. "NotPrincipal": every principal but those.
- AWS KMS Developer Guide, "Key policies in AWS KMS": "Unless the key policy explicitly allows it, you cannot
  use IAM policies to allow access to a KMS key"; the key policy statement that allows the account principal is
  what lets IAM policies grant access (`evaluate_key_access`).

A document is a dict or its JSON text (URL-encoded JSON, as IAM returns a trust policy, is accepted).
This module imports nothing of the sandbox but its own package.
"""

from __future__ import annotations

import enum
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.policy.conditions import conditions_hold, wildcard_match
from sandbox.policy.context import Principal, Request

PolicyDocument = str | Mapping[str, Any]


class Effect(enum.Enum):
    ALLOW = "Allow"
    IMPLICIT_DENY = "ImplicitDeny"
    EXPLICIT_DENY = "ExplicitDeny"


class PolicyKind(enum.Enum):
    IDENTITY = "identity-based"
    RESOURCE = "resource-based"


@dataclass(frozen=True)
class Decision:
    """The verdict and the statement that decided it (None for an implicit deny)."""

    effect: Effect
    statement: Mapping[str, Any] | None = None
    kind: PolicyKind | None = None  # which kind of policy held the deciding statement

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW

    @property
    def explicit_deny(self) -> bool:
        return self.effect is Effect.EXPLICIT_DENY


class PolicyError(ValueError):
    """A document that is not a policy."""


def parse(document: PolicyDocument) -> list[Mapping[str, Any]]:
    """The statements of a policy document."""
    if isinstance(document, str):
        text = document.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = urllib.parse.unquote(text)
        try:
            document = json.loads(text)
        except ValueError as error:
            raise PolicyError(f"not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise PolicyError("a policy is a JSON object")
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    if not all(isinstance(s, Mapping) for s in statements):
        raise PolicyError("each statement is a JSON object")
    return list(statements)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def action_matches(pattern: str, action: str) -> bool:
    """`service:Name` against a pattern, case-insensitively, with `*` and `?`."""
    return pattern == "*" or wildcard_match(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """A resource ARN against a pattern, case-sensitively, with `*` and `?`."""
    return pattern == "*" or wildcard_match(pattern, resource)


def _account_of(value: str) -> str | None:
    """The account an {"AWS": ...} value names as a whole (`123456789012` or `arn:...:iam::ACCOUNT:root`)."""
    if value.isdigit() and len(value) == 12:
        return value
    parts = value.split(":")
    if len(parts) == 6 and parts[2] == "iam" and parts[5] == "root":
        return parts[4]
    return None


def _names(value: str, principal: Principal, *, for_deny: bool) -> bool:
    """Whether one {"AWS": value} names `principal`."""
    if value == "*":
        return True
    if principal.service:
        return False
    account = _account_of(value)
    if account is None:
        return value in (principal.arn, principal.role_arn)
    return principal.arn == f"arn:aws:iam::{account}:root" or (for_deny and principal.account == account)


def principal_matches(element: Any, principal: Principal, *, for_deny: bool) -> bool:
    """Whether a Principal element names `principal` (see the module's docstring for the account rule)."""
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    aws = any(_names(v, principal, for_deny=for_deny) for v in _as_list(element.get("AWS")))
    service = principal.service.lower()
    return aws or bool(service and any(v.lower() == service for v in _as_list(element.get("Service"))))


def _listed(statement: Mapping[str, Any], name: str, matches: Any) -> bool:
    """`name` (Action, Resource, Principal) or its `Not` form: whether the request falls under it. A statement
    without either applies to any value (a trust policy has no Resource); callers require Action and a
    principal element where AWS does."""
    if name in statement:
        return bool(matches(statement[name]))
    if f"Not{name}" in statement:
        return not matches(statement[f"Not{name}"])
    return True


def _principal_applies(statement: Mapping[str, Any], principal: Principal) -> bool:
    """A resource-based statement names its principals (Principal or NotPrincipal); one naming none is void."""
    if "Principal" in statement:
        return principal_matches(statement["Principal"], principal, for_deny=statement.get("Effect") == "Deny")
    if "NotPrincipal" in statement:
        return not principal_matches(statement["NotPrincipal"], principal, for_deny=True)
    return False


def statement_applies(statement: Mapping[str, Any], request: Request, kind: PolicyKind) -> bool:
    """Action, resource, principal (resource-based policies only) and conditions all match."""
    has_action = "Action" in statement or "NotAction" in statement
    return (
        has_action
        and _listed(statement, "Action", lambda v: any(action_matches(a, request.action) for a in _as_list(v)))
        and _listed(statement, "Resource", lambda v: any(resource_matches(r, request.resource) for r in _as_list(v)))
        and (kind is PolicyKind.IDENTITY or _principal_applies(statement, request.principal))
        and conditions_hold(statement.get("Condition"), request.context)
    )


def evaluate(
    request: Request,
    identity_policies: Iterable[PolicyDocument] = (),
    resource_policies: Iterable[PolicyDocument] = (),
) -> Decision:
    """AWS's decision for a request within one account: any applicable Deny wins; else any applicable Allow,
    in an identity-based or a resource-based policy; else an implicit deny."""
    found: list[tuple[PolicyKind, Mapping[str, Any]]] = []
    for kind, documents in ((PolicyKind.IDENTITY, identity_policies), (PolicyKind.RESOURCE, resource_policies)):
        for document in documents:
            found.extend((kind, s) for s in parse(document) if statement_applies(s, request, kind))
    for kind, statement in found:
        if statement.get("Effect") == "Deny":
            return Decision(Effect.EXPLICIT_DENY, statement, kind)
    for kind, statement in found:
        if statement.get("Effect") == "Allow":
            return Decision(Effect.ALLOW, statement, kind)
    return Decision(Effect.IMPLICIT_DENY)


def evaluate_key_access(
    request: Request, key_policy: PolicyDocument, identity_policies: Sequence[PolicyDocument] = ()
) -> Decision:
    """A KMS request: the key policy must allow it, or allow the key's account (the statement that lets IAM
    policies grant access), and then an identity-based policy may; an explicit Deny in either wins."""
    account = request.resource.split(":")[4] if request.resource.count(":") >= 5 else request.principal.account
    root = Principal(arn=f"arn:aws:iam::{account}:root", account=account)
    delegated = evaluate(Request(root, request.action, request.resource, request.context), (), [key_policy])
    identity = identity_policies if delegated.allowed and not request.principal.service else ()
    return evaluate(request, identity, [key_policy])
