"""A statement's Condition block, evaluated against the request context as IAM evaluates it.

Sources (AWS IAM User Guide):

- "IAM JSON policy elements: Condition operators": the operators (String*, Numeric*, Date*, Bool, BinaryEquals,
  IpAddress / NotIpAddress, Arn*, Null) and the ...IfExists suffix. Its rule for a missing key: "If the key that
  you specify in a policy condition is not present in the request context, the values do not match and the
  condition is false. If the policy condition requires that the key is not matched, such as StringNotLike or
  ArnNotLike, and the right key is not present, the condition is true. This logic applies to all condition
  operators except ...IfExists and Null check." ...IfExists: "If the policy key is present in the context of
  the request, process the key as specified in the policy. If the key is not present, evaluate the condition
  element as true." Null: `true` holds when the key is absent, `false` when it is present.
  StringLike / ArnLike take `*` and `?` anywhere; ArnEquals and ArnLike both compare "each of the six
  colon-delimited components of the ARN ... separately", each with wildcards, case-sensitively. Bool's and
  Null's values may be JSON booleans or the strings "true" / "false".
- "Conditions with multiple context keys or values": several operators in a block, and several keys under one
  operator, are ANDed; several values for one key are ORed; for a negated operator (StringNotEquals, ...) the
  key must match none of them.
- "Single-valued vs multivalued context keys" (set operators): `ForAllValues:` holds when every value of the
  key matches some policy value, and also "if there are no context keys in the request, or if the context key
  value resolves to a null dataset"; `ForAnyValue:` holds when at least one value does, and is false for a
  missing key.

An operator AWS does not document makes the condition false (IAM would reject such a policy at write time).
This module imports nothing of the sandbox.
"""

from __future__ import annotations

import base64
import datetime as _dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from sandbox.policy.context import RequestContext


@lru_cache(maxsize=2048)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """`*` (any run of characters) and `?` (one character), everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's `*` and `?` wildcards (no character classes: `[` is literal)."""
    return _wildcard(pattern, ignore_case).match(value) is not None


def _arn_match(pattern: str, value: str) -> bool:
    """ArnEquals / ArnLike: six colon-delimited components, each matched with wildcards, case-sensitively."""
    wanted, given = pattern.split(":", 5), value.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(wildcard_match(w, g) for w, g in zip(wanted, given, strict=True))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> _dt.datetime | None:
    """ISO 8601 (`2026-01-01T00:00:00Z`, a date alone) or epoch seconds, as AWS accepts for Date operators."""
    try:
        return _dt.datetime.fromtimestamp(float(text), _dt.UTC)
    except ValueError:
        pass
    try:
        moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


def _compare_numbers(test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(given: str, wanted: str) -> bool:
        a, b = _number(given), _number(wanted)
        return a is not None and b is not None and test(a, b)

    return match


def _compare_dates(test: Callable[[_dt.datetime, _dt.datetime], bool]) -> Callable[[str, str], bool]:
    def match(given: str, wanted: str) -> bool:
        a, b = _date(given), _date(wanted)
        return a is not None and b is not None and test(a, b)

    return match


def _ip_in(given: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_address(given) in ipaddress.ip_network(wanted, strict=False)
    except ValueError:
        return False


def _binary_equals(given: str, wanted: str) -> bool:
    """The policy holds base64; the context a value whose bytes are compared with it."""
    try:
        return base64.b64decode(wanted, validate=True) == given.encode("latin-1")
    except ValueError:
        return False


def _bool_equals(given: str, wanted: str) -> bool:
    return given.lower() == wanted.lower()


# Each base operator: (matches one context value against one policy value, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "stringequals": (lambda g, w: g == w, False),
    "stringnotequals": (lambda g, w: g == w, True),
    "stringequalsignorecase": (lambda g, w: g.lower() == w.lower(), False),
    "stringnotequalsignorecase": (lambda g, w: g.lower() == w.lower(), True),
    "stringlike": (lambda g, w: wildcard_match(w, g), False),
    "stringnotlike": (lambda g, w: wildcard_match(w, g), True),
    "numericequals": (_compare_numbers(lambda a, b: a == b), False),
    "numericnotequals": (_compare_numbers(lambda a, b: a == b), True),
    "numericlessthan": (_compare_numbers(lambda a, b: a < b), False),
    "numericlessthanequals": (_compare_numbers(lambda a, b: a <= b), False),
    "numericgreaterthan": (_compare_numbers(lambda a, b: a > b), False),
    "numericgreaterthanequals": (_compare_numbers(lambda a, b: a >= b), False),
    "dateequals": (_compare_dates(lambda a, b: a == b), False),
    "datenotequals": (_compare_dates(lambda a, b: a == b), True),
    "datelessthan": (_compare_dates(lambda a, b: a < b), False),
    "datelessthanequals": (_compare_dates(lambda a, b: a <= b), False),
    "dategreaterthan": (_compare_dates(lambda a, b: a > b), False),
    "dategreaterthanequals": (_compare_dates(lambda a, b: a >= b), False),
    "bool": (_bool_equals, False),
    "binaryequals": (_binary_equals, False),
    "ipaddress": (_ip_in, False),
    "notipaddress": (_ip_in, True),
    "arnequals": (lambda g, w: _arn_match(w, g), False),
    "arnlike": (lambda g, w: _arn_match(w, g), False),
    "arnnotequals": (lambda g, w: _arn_match(w, g), True),
    "arnnotlike": (lambda g, w: _arn_match(w, g), True),
}

KNOWN_OPERATORS = frozenset(_OPERATORS) | {"null"}


def _policy_values(value: Any) -> list[str]:
    """A condition's value(s) as strings: JSON booleans as `true` / `false`, numbers as written."""
    items = value if isinstance(value, list) else [value]
    return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in items]


def _one_value(match: Callable[[str, str], bool], negated: bool, given: str, wanted: list[str]) -> bool:
    """One context value against the policy's values: ORed, or for a negated operator, matching none."""
    hit = any(match(given, w) for w in wanted)
    return not hit if negated else hit


def _missing_key_holds(*, if_exists: bool, qualifier: str, negated: bool) -> bool:
    """A key the context lacks: ...IfExists and ForAllValues hold, ForAnyValue does not; otherwise "the values
    do not match", so a negated operator holds and any other does not."""
    if if_exists or qualifier == "forallvalues":
        return True
    if qualifier == "foranyvalue":
        return False
    return negated


def operator_holds(operator: str, key: str, wanted_value: Any, context: RequestContext) -> bool:
    """Whether `"operator": {"key": wanted_value}` holds in `context`."""
    qualifier, _, name = operator.rpartition(":")
    qualifier, name = qualifier.lower(), name.lower()
    if qualifier not in ("", "forallvalues", "foranyvalue"):
        return False
    wanted = _policy_values(wanted_value)
    given = context.values(key)
    if name == "null":  # key absent: `true` holds; key present: `false` holds
        absent = given is None or (qualifier == "" and given == ())
        return any((w.lower() == "true") == absent for w in wanted)
    if_exists = name.endswith("ifexists")
    base = name.removesuffix("ifexists")
    if base not in _OPERATORS:
        return False
    match, negated = _OPERATORS[base]
    if given is None:
        return _missing_key_holds(if_exists=if_exists, qualifier=qualifier, negated=negated)
    if qualifier == "forallvalues":
        return all(_one_value(match, negated, g, wanted) for g in given)
    # ForAnyValue, and a plain operator over a (single- or multi-valued) key: some value must match
    return any(_one_value(match, negated, g, wanted) for g in given)


def conditions_hold(condition: Mapping[str, Any] | None, context: RequestContext) -> bool:
    """Every operator, and every key under it, must hold (AND); a statement without Condition always holds."""
    if not condition:
        return True
    for operator, tests in condition.items():
        if not isinstance(tests, Mapping):
            return False
        if not all(operator_holds(operator, key, wanted, context) for key, wanted in tests.items()):
            return False
    return True
