"""Day 2: an existing stack's resources survive the program's own changes, and a protected stack's data
survives `pulumi destroy`. The engine's matching of old to new resources is sandbox.pulumi_engine's model
of step_generator.go; the old stacks are the URNs the program of commit 57cb147 (the last before the
pipeline's name was fixed) registers, written by `python -m tests.infra.legacy 57cb147`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from contract import resource_types as types
from sandbox.pulumi_engine import AliasSpec, Goal, match_olds, new_urn, parents_first
from tests.infra.conftest import MockedStack, deploy

LEGACY = Path(__file__).parent / "legacy"
PROJECT = "order-pipeline"
STATEFUL = (types.TABLE, types.QUEUE)


def legacy_urns(stack: str) -> set[str]:
    return set((LEGACY / f"57cb147-{stack}.urns").read_text().split())


def continued(deployment: MockedStack, goals: list[Goal]) -> dict[str, str | None]:
    return match_olds(deployment.stack, PROJECT, goals, legacy_urns(deployment.stack))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_of_an_existing_stack_is_continued_so_the_update_deletes_nothing(stack: str) -> None:
    deployment = deploy(stack)
    matched = continued(deployment, parents_first(deployment.run.goals))
    olds = legacy_urns(stack)
    assert olds - set(matched.values()) == set(), "old resources no new one continues: the update deletes them"
    created = {urn.rsplit("::", 1)[1] for urn, old in matched.items() if old is None}
    # What was added since, and nothing else: the subscription's DLQ, its policy and the two new alarms; the
    # topic's delivery status role and its policy (the topic itself is updated in place: SetTopicAttributes).
    assert created == {
        "orders-subscription-dlq",
        "orders-subscription-dlq-policy",
        "orders-subscription-dlq-depth",
        "orders-backlog-age",
        "orders-topic-delivery-status-role",
        "orders-topic-delivery-status-policy",
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_without_the_alias_the_table_and_queues_would_be_created_anew_and_the_old_ones_deleted(stack: str) -> None:
    deployment = deploy(stack)
    unaliased = [dataclasses.replace(goal, aliases=()) for goal in parents_first(deployment.run.goals)]
    matched = continued(deployment, unaliased)
    stateful = [goal.urn for goal in unaliased if goal.type in STATEFUL]
    assert len(stateful) == 4
    assert all(matched[urn] is None for urn in stateful)


def test_the_stateful_urns_are_the_same_for_any_stack_name() -> None:
    def stateful(stack: str) -> set[str]:
        goals = deploy(stack).run.goals.values()
        return {goal.urn.split("::", 2)[2] for goal in goals if goal.type in STATEFUL}

    assert stateful("dev") == stateful("prod")
    assert {urn.rsplit("::", 1)[1] for urn in stateful("dev")} == {
        "orders-table",
        "orders-queue",
        "orders-dlq",
        "orders-subscription-dlq",
    }


def test_a_protected_stack_protects_its_table_queues_and_dlqs_and_retains_the_table(
    dev: MockedStack, prod: MockedStack
) -> None:
    def options(deployment: MockedStack) -> dict[str, tuple[bool, bool]]:
        return {
            goal.name: (goal.protect, goal.retain_on_delete)
            for goal in deployment.run.goals.values()
            if goal.type in STATEFUL
        }

    assert options(prod) == {
        "orders-table": (True, True),
        "orders-queue": (True, False),
        "orders-dlq": (True, False),
        "orders-subscription-dlq": (True, False),
    }
    assert set(options(dev).values()) == {(False, False)}
    assert prod.one(types.TABLE).inputs["deletionProtectionEnabled"] is True
    # Nothing else is protected: a protected component would pass `protect` on to every child.
    protected = {goal.name for goal in prod.run.goals.values() if goal.protect}
    assert protected == set(options(prod))


# The engine's alias rules, case by case, as pulumi/pulumi's tests/integration/aliases/python/rename_component
# exercises them: step 1 deploys ComponentThree "comp3" with children "comp3-child" and "otherchild"; step 2
# renames it "newcomp3" with Alias(name="comp3") and changes nothing else. The update must be all `same`.
COMPONENT, CHILD = "my:module:ComponentThree", "my:module:Resource"
STACK_URN = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"


def component_goals(name: str, aliases: tuple[AliasSpec, ...]) -> list[Goal]:
    component = Goal(COMPONENT, name, STACK_URN, aliases)
    parent = new_urn("s", "p", STACK_URN, COMPONENT, name)
    return [component, Goal(CHILD, f"{name}-child", parent), Goal(CHILD, "otherchild", parent)]


def urns(goals: list[Goal]) -> list[str]:
    return [new_urn("s", "p", goal.parent, goal.type, goal.name) for goal in goals]


def test_a_renamed_component_with_an_alias_keeps_itself_and_both_kinds_of_children() -> None:
    old = urns(component_goals("comp3", ()))
    matched = match_olds("s", "p", component_goals("newcomp3", (AliasSpec(name="comp3"),)), old)
    assert list(matched.values()) == old


def test_a_renamed_component_without_an_alias_loses_itself_and_the_children_named_after_it() -> None:
    old = urns(component_goals("comp3", ()))
    matched = match_olds("s", "p", component_goals("newcomp3", ()), old)
    # A URN holds the parents' types, not their names: "otherchild" keeps its URN; "newcomp3-child" is new.
    assert list(matched.values()) == [None, None, old[2]]


def test_an_alias_naming_a_former_parent_moves_a_child_between_components() -> None:
    # A resource that was a child of the root stack, now parented to a component, with
    # Alias(parent=ROOT_STACK_RESOURCE) (collapseAliasToUrn: the root stack as parent means no parent).
    old = [new_urn("s", "p", STACK_URN, CHILD, "res")]
    parent = new_urn("s", "p", STACK_URN, COMPONENT, "comp")
    goals = [
        Goal(COMPONENT, "comp", STACK_URN),
        Goal(CHILD, "res", parent, (AliasSpec(parent_urn=STACK_URN),)),
    ]
    assert list(match_olds("s", "p", goals, old).values()) == [None, old[0]]
    assert list(match_olds("s", "p", [goals[0], dataclasses.replace(goals[1], aliases=())], old).values()) == [
        None,
        None,
    ]
