"""The policy pack through pulumi-policy's own analyzer servicer: which rules a first preview of a new stack
skips as advisory (they read values not known yet), and that every rule enforces on `up`. The table in
docs/policy.md is the claim; these tests hold it."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from policypack.rules import RESOURCE_RULES, STACK_RULES, TABLE, Resource
from tests.security.engine import Diagnostic, analyze, first_preview
from tests.security.test_guardrails import (
    BROKEN,
    DEV_QUEUE_UNPROTECTED,
    PROD_WHY,
    PROTECTED_RULE,
    Broken,
    broken,
    not_retained,
    protected_dev_with_an_unprotected_queue,
    set_options,
    strip_protect,
    unprotected,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
ALL_RULES = set(RESOURCE_RULES) | set(STACK_RULES)


def _table() -> dict[str, tuple[str, str]]:
    """rule -> (first preview, up) as docs/policy.md states them."""
    rows = re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \| ([^|]+) \|", DOC.read_text(), flags=re.MULTILINE)
    return {rule: (preview.strip(), up.strip()) for rule, preview, up in rows}


PREVIEW_ENFORCED = {rule for rule, (preview, _) in _table().items() if preview == "enforced"}


@pytest.fixture(scope="module")
def previews() -> dict[str, list[Resource]]:
    return {stack: first_preview(stack) for stack in ("dev", "prod")}


def test_the_doc_names_every_rule_once_and_every_rule_enforces_at_up() -> None:
    table = _table()
    assert set(table) == ALL_RULES
    assert {up for _, up in table.values()} == {"enforced"}
    assert {preview for preview, _ in table.values()} == {"enforced", "advisory: skipped"}


def test_first_preview_really_has_unknowns(previews: dict[str, list[Resource]]) -> None:
    role_policies = [r for r in previews["dev"] if r.type == "aws:iam/rolePolicy:RolePolicy"]
    [role_policy] = [r for r in role_policies if r.name.endswith("-processor-policy")]
    [delivery_status_policy] = [r for r in role_policies if r.name.endswith("-topic-delivery-status-policy")]
    [queue] = [r for r in previews["dev"] if r.name.endswith("-queue") and r.type == "aws:sqs/queue:Queue"]
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert role_policy.props["policy"] == unknown
    assert delivery_status_policy.props["policy"] == unknown  # built from the topic's ARN
    assert (queue.props["arn"], queue.props["url"]) == (unknown, unknown)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_first_preview_skips_exactly_the_rules_the_doc_says(previews: dict[str, list[Resource]], stack: str) -> None:
    diagnostics = analyze(previews[stack])
    assert all(d.level == "advisory" and "can't run policy" in d.message for d in diagnostics), diagnostics
    assert {d.policy for d in diagnostics} == ALL_RULES - PREVIEW_ENFORCED


def _refused(diagnostics: list[Diagnostic], case: Broken) -> bool:
    return any(d.policy == case.rule and d.level == "mandatory" and case.expected in d.message for d in diagnostics)


PREVIEW_CASES = [case for case in BROKEN if case.rule in PREVIEW_ENFORCED]


@pytest.mark.parametrize("case", PREVIEW_CASES, ids=[f"{c.rule}:{c.what}" for c in PREVIEW_CASES])
def test_first_preview_refuses_what_it_can_know(previews: dict[str, list[Resource]], case: Broken) -> None:
    assert _refused(analyze(broken(previews, case.stack, case.edit)), case)


def test_every_rule_has_a_broken_variant_a_first_preview_refuses_or_the_doc_says_it_cannot() -> None:
    assert {case.rule for case in PREVIEW_CASES} == PREVIEW_ENFORCED


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_up_runs_every_rule_and_the_stacks_pass(stacks: dict[str, list[Resource]], stack: str) -> None:
    assert analyze(copy.deepcopy(stacks[stack])) == []


@pytest.mark.parametrize("case", BROKEN, ids=[f"{c.rule}:{c.what}" for c in BROKEN])
def test_up_refuses_every_broken_variant(stacks: dict[str, list[Resource]], case: Broken) -> None:
    """On `up` every value is known: each rule's variant is a mandatory violation, never an advisory."""
    diagnostics = analyze(broken(stacks, case.stack, case.edit))
    assert _refused(diagnostics, case), diagnostics
    assert not [d for d in diagnostics if d.level == "advisory"]


# Resource options through the engine: `protect` reaches the pack (AnalyzerResourceOptions), `retainOnDelete` does not.


def protected_rule_refuses(sentence: str) -> Diagnostic:
    """The diagnostic the engine receives: pulumi-policy puts the policy's description before the sentence."""
    return Diagnostic(PROTECTED_RULE, "mandatory", f"{STACK_RULES[PROTECTED_RULE][0]}\n{sentence}")


def test_up_refuses_prod_without_protect_in_the_exact_sentences(stacks: dict[str, list[Resource]]) -> None:
    diagnostics = analyze(broken(stacks, "prod", strip_protect))
    stateful = [("orders-dlq", "queue"), ("orders-queue", "queue"), ("orders-subscription-dlq", "queue")]
    expected = [
        f"{name}: the stack is protected ({PROD_WHY}), but the {kind} lacks the protect option"
        for name, kind in [*stateful, ("orders-table", "table")]
    ]
    assert sorted(diagnostics, key=lambda d: d.message) == [protected_rule_refuses(message) for message in expected]


def test_first_preview_refuses_a_protected_stack_whose_queue_lacks_protect() -> None:
    """`protect`, types, names and deletionProtectionEnabled are all known before anything exists."""
    preview = first_preview("dev", deletionProtection="true")
    assert [d for d in analyze(preview) if d.policy == PROTECTED_RULE] == []
    set_options(("aws:sqs/queue:Queue",), unprotected, "orders-queue")(preview)
    assert [d for d in analyze(preview) if d.policy == PROTECTED_RULE] == [
        protected_rule_refuses(DEV_QUEUE_UNPROTECTED)
    ]


def test_up_refuses_a_protected_stack_whose_queue_lacks_protect() -> None:
    assert analyze(protected_dev_with_an_unprotected_queue()) == [protected_rule_refuses(DEV_QUEUE_UNPROTECTED)]


def test_the_pack_cannot_see_retain_on_delete(stacks: dict[str, list[Resource]]) -> None:
    """The analyzer protocol has no retainOnDelete field: a table without it passes the pack (docs/policy.md);
    the rule refuses it only where the option is known (tests/security/test_guardrails.py)."""
    assert TABLE in {r.type for r in stacks["prod"]}
    assert analyze(broken(stacks, "prod", set_options((TABLE,), not_retained))) == []
