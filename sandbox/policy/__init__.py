"""The sandbox's one policy evaluator, pure: plain policy documents and a request in, a decision out.

It imports nothing of the rest of the sandbox (tests/test_architecture.py holds that), so every caller (the
emulator's enforcement of a role's calls, SNS delivery, the deploy's checks, KMS) asks the same question the
same way. Rules and their sources are in each module's docstring.
"""

from sandbox.policy.conditions import KNOWN_OPERATORS, conditions_hold, wildcard_match
from sandbox.policy.context import Principal, Request, RequestContext, request_context
from sandbox.policy.evaluate import (
    Decision,
    Effect,
    PolicyDocument,
    PolicyError,
    PolicyKind,
    evaluate,
    evaluate_key_access,
    parse,
)

__all__ = [
    "KNOWN_OPERATORS",
    "Decision",
    "Effect",
    "PolicyDocument",
    "PolicyError",
    "PolicyKind",
    "Principal",
    "Request",
    "RequestContext",
    "conditions_hold",
    "evaluate",
    "evaluate_key_access",
    "parse",
    "request_context",
    "wildcard_match",
]
