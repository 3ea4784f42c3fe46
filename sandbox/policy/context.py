"""The request as IAM sees it: who asks (the principal), what (action), on what (resource), and the request
context's keys.

AWS, "Policy evaluation logic" > "Processing the request context": a request carries its actions, resources,
principal, environment data and resource data; policies are evaluated against that context. Context key names
are case-insensitive ("IAM JSON policy elements: Condition": "Context key names are not case-sensitive"), so
keys are stored lower-cased; values keep their case, since whether they match case-sensitively is the
operator's business.

The global keys the sandbox knows ("AWS global condition context keys"):

- aws:PrincipalArn: for a role session, the ARN of the role, not of the session ("For an IAM role, the request
  context returns the ARN of the role"); absent for a service principal.
- aws:PrincipalAccount: the principal's account; aws:PrincipalServiceName: the service principal
  (`sns.amazonaws.com`), present only when a service makes the call with its own identity.
- aws:SourceArn, aws:SourceAccount: present only when a service calls another on behalf of a resource
  (SNS delivering a topic's message to a queue).
- aws:SecureTransport: whether the request came over TLS; aws:RequestedRegion: the region called;
  aws:CurrentTime (ISO 8601) and aws:EpochTime.

Any other key (aws:SourceVpc, aws:SourceIp, aws:PrincipalTag/...) is absent, as it would be absent on AWS
for a request that carries no such information; the condition operators decide what an absent key means.
This module imports nothing of the sandbox.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ContextValue = str | bool | int | float | bytes | Sequence[str]


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an IAM identity (a role session, a role, the account's root) or a service."""

    arn: str = ""  # the caller's own ARN: a session's `arn:aws:sts::A:assumed-role/R/S`, a role's, a user's
    account: str = ""
    role_arn: str = ""  # for a role session, the role's ARN: what a policy's {"AWS": ...} names
    service: str = ""  # a service principal, such as `sns.amazonaws.com`

    @classmethod
    def assumed_role(cls, session_arn: str) -> Principal:
        """A role session, from its STS ARN `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`."""
        _, partition, _, _, account, rest = session_arn.split(":", 5)
        kind, _, tail = rest.partition("/")
        if kind != "assumed-role":
            return cls(arn=session_arn, account=account)
        role_name = tail.rsplit("/", 1)[0]
        return cls(
            arn=session_arn,
            account=account,
            role_arn=f"arn:{partition}:iam::{account}:role/{role_name}",
        )

    @classmethod
    def role(cls, role_arn: str) -> Principal:
        """A role by its ARN (a session of it whose name does not matter)."""
        return cls(arn=role_arn, account=role_arn.split(":")[4], role_arn=role_arn)

    @classmethod
    def of_service(cls, service: str) -> Principal:
        """A service principal acting with its own identity (SNS delivering, Lambda assuming a role)."""
        return cls(service=service)


@dataclass(frozen=True)
class RequestContext:
    """The request context's keys, by lower-cased name."""

    keys: Mapping[str, ContextValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", {name.lower(): value for name, value in self.keys.items()})

    def values(self, key: str) -> tuple[str, ...] | None:
        """The key's values as strings (booleans as `true` / `false`), or None if the context lacks it."""
        value = self.keys.get(key.lower())
        if value is None:
            return None
        if isinstance(value, bool):
            return ("true" if value else "false",)
        if isinstance(value, (str, bytes, int, float)):
            return (value.decode("latin-1") if isinstance(value, bytes) else str(value),)
        return tuple(str(v) for v in value)

    def raw(self, key: str) -> ContextValue | None:
        return self.keys.get(key.lower())

    def with_keys(self, **extra: ContextValue) -> RequestContext:
        return RequestContext({**self.keys, **extra})


def request_context(
    principal: Principal,
    *,
    region: str | None = None,
    source_arn: str | None = None,
    source_account: str | None = None,
    secure_transport: bool | None = True,
    now: _dt.datetime | None = None,
    extra: Mapping[str, ContextValue] | None = None,
) -> RequestContext:
    """The context of a request the sandbox sees, with the global keys it knows (see the module's docstring).
    A key given as None is left out, as AWS leaves out what a request does not carry."""
    moment = (now or _dt.datetime.now(_dt.UTC)).astimezone(_dt.UTC)
    keys: dict[str, ContextValue] = {
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(moment.timestamp())),
    }
    if principal.service:
        keys["aws:PrincipalServiceName"] = principal.service
    else:
        if principal.role_arn or principal.arn:
            keys["aws:PrincipalArn"] = principal.role_arn or principal.arn
        if principal.account:
            keys["aws:PrincipalAccount"] = principal.account
    if region is not None:
        keys["aws:RequestedRegion"] = region
    if source_arn is not None:
        keys["aws:SourceArn"] = source_arn
    if source_account is not None:
        keys["aws:SourceAccount"] = source_account
    if secure_transport is not None:
        keys["aws:SecureTransport"] = secure_transport
    keys.update(extra or {})
    return RequestContext(keys)


@dataclass(frozen=True)
class Request:
    """One authorization question: may `principal` perform `action` on `resource`, in `context`?"""

    principal: Principal
    action: str
    resource: str
    context: RequestContext = field(default_factory=RequestContext)
