"""The engine's step rules (sandbox/pulumi_engine.py), one case per rule, each as Pulumi's own engine tests or
the provider's schema state it; the provider rules are pulumi-aws's (sandbox/provider_schema.py).

Upstream cases these follow (pulumi/pulumi):
- pkg/engine/lifecycletest/alias_test.go: a resource renamed, re-typed or re-parented with an alias is kept
  (`same`); without one it is created and the old one deleted.
- pkg/engine/lifecycletest/protect_test.go (TestProtect...): replacing or deleting a protected resource fails
  with "unable to replace/delete resource ... as it is currently marked for protection".
- pkg/engine/lifecycletest/retain_on_delete_test.go: a deleted resource with retainOnDelete is dropped from
  the state and left in the cloud.
- pkg/engine/lifecycletest/delete_before_replace_test.go: the option, and the provider's request, delete the
  old resource before creating its replacement.
- ignoreChanges and replaceOnChanges: step_generator.go's processIgnoreChanges and applyReplaceOnChanges.
"""

from __future__ import annotations

from typing import Any

from sandbox import provider_schema
from sandbox.pulumi_engine import (
    AliasSpec,
    Goal,
    Op,
    Planner,
    ProviderRules,
    ResourceState,
    Step,
    new_urn,
)

PROVIDER = ProviderRules(provider_schema.replaces, provider_schema.delete_before_replace)
STACK_URN = "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
COMPONENT = "orders:index:Thing"


def goal(type_: str, name: str, parent: str = STACK_URN, **options: Any) -> Goal:
    return Goal(type_, name, parent, urn=new_urn("dev", "p", parent, type_, name), **options)


def old(type_: str, name: str, inputs: dict[str, Any], parent: str = STACK_URN, **options: Any) -> ResourceState:
    return ResourceState(new_urn("dev", "p", parent, type_, name), type_, True, inputs, {}, parent, **options)


def plan(olds: list[ResourceState], news: list[tuple[Goal, dict[str, Any]]]) -> list[Step]:
    planner = Planner("dev", "p", olds, PROVIDER)
    for new_goal, inputs in news:
        planner.register(new_goal, inputs)
    return planner.finish()


def ops(steps: list[Step]) -> list[tuple[str, str]]:
    return [(str(step.op), step.urn.rsplit("::", 1)[1]) for step in steps]


def test_unchanged_inputs_are_same_and_a_changed_one_updates_in_place() -> None:
    inputs = {"hashKey": "orderId", "billingMode": "PAY_PER_REQUEST"}
    assert ops(plan([old(TABLE, "t", inputs)], [(goal(TABLE, "t"), inputs)])) == [("same", "t")]
    [step] = plan([old(TABLE, "t", inputs)], [(goal(TABLE, "t"), {**inputs, "billingMode": "PROVISIONED"})])
    assert (step.op, step.diff, step.replace_keys) == (Op.UPDATE, ("billingMode",), ())


def test_a_force_new_change_replaces_one_per_stateful_type() -> None:
    # terraform-provider-aws: dynamodb/table.go hash_key, sqs/queue.go fifo_queue,
    # sns/topic_subscription.go endpoint, lambda/event_source_mapping.go event_source_arn (all ForceNew).
    cases: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
        (TABLE, {"hashKey": "orderId"}, {"hashKey": "id"}, "hashKey"),
        (QUEUE, {"fifoQueue": False}, {"fifoQueue": True}, "fifoQueue"),
        (SUBSCRIPTION, {"endpoint": "arn:q1"}, {"endpoint": "arn:q2"}, "endpoint"),
        (MAPPING, {"eventSourceArn": "arn:q1"}, {"eventSourceArn": "arn:q2"}, "eventSourceArn"),
    ]
    for type_, before, after, key in cases:
        [step] = plan([old(type_, "r", before)], [(goal(type_, "r"), after)])
        assert (step.op, step.replace_keys, step.delete_before_replace) == (Op.REPLACE, (key,), False), type_


def test_an_explicit_name_makes_a_replacement_delete_first() -> None:
    # pulumi-terraform-bridge provider.go Diff: nameRequiresDeleteBeforeReplace for a name the program set.
    before = {"name": "orders-dev-processor", "packageType": "Zip"}
    [step] = plan([old(FUNCTION, "f", before)], [(goal(FUNCTION, "f"), {**before, "packageType": "Image"})])
    assert (step.op, step.delete_before_replace) == (Op.REPLACE, True)
    [auto] = plan([old(QUEUE, "q", {"fifoQueue": False})], [(goal(QUEUE, "q"), {"fifoQueue": True})])
    assert auto.delete_before_replace is False  # auto-named: the replacement gets a new name beside the old


def test_delete_before_replace_option_forces_it_for_an_auto_named_resource() -> None:
    [step] = plan(
        [old(QUEUE, "q", {"fifoQueue": False})], [(goal(QUEUE, "q", delete_before_replace=True), {"fifoQueue": True})]
    )
    assert (step.op, step.delete_before_replace) == (Op.REPLACE, True)


def test_replace_on_changes_turns_an_update_into_a_replacement() -> None:
    before = {"visibilityTimeoutSeconds": 180}
    after = {"visibilityTimeoutSeconds": 60}
    [update] = plan([old(QUEUE, "q", before)], [(goal(QUEUE, "q"), after)])
    assert update.op == Op.UPDATE
    [step] = plan(
        [old(QUEUE, "q", before)], [(goal(QUEUE, "q", replace_on_changes=("visibilityTimeoutSeconds",)), after)]
    )
    assert (step.op, step.replace_keys) == (Op.REPLACE, ("visibilityTimeoutSeconds",))


def test_ignore_changes_keeps_the_old_value() -> None:
    before = {"hashKey": "orderId", "tags": {"a": "1"}}
    after = {"hashKey": "id", "tags": {"a": "2"}}
    [step] = plan([old(TABLE, "t", before)], [(goal(TABLE, "t", ignore_changes=("hashKey", "tags.a")), after)])
    assert step.op == Op.SAME


def test_an_unknown_input_counts_as_changed_and_replaces_through_a_force_new_field() -> None:
    # A replaced queue's ARN is unknown in the preview: the mapping (eventSourceArn ForceNew) is replaced,
    # a policy naming the ARN is updated.
    unknown = {"__unknown__": True}
    steps = plan(
        [
            old(MAPPING, "m", {"eventSourceArn": "arn:q1", "batchSize": 10}),
            old("aws:iam/rolePolicy:RolePolicy", "p", {"policy": "x"}),
        ],
        [
            (goal(MAPPING, "m"), {"eventSourceArn": unknown, "batchSize": 10}),
            (goal("aws:iam/rolePolicy:RolePolicy", "p"), {"policy": unknown}),
        ],
    )
    assert [(step.op, step.diff) for step in steps] == [(Op.REPLACE, ("eventSourceArn",)), (Op.UPDATE, ("policy",))]


def test_a_protected_resource_cannot_be_replaced_or_deleted() -> None:
    before = old(TABLE, "t", {"hashKey": "orderId"}, protect=True)
    [replace] = plan([before], [(goal(TABLE, "t", protect=True), {"hashKey": "id"})])
    assert replace.refused.startswith(
        f'unable to replace resource "{before.urn}"\nas it is currently marked for protection'
    )
    # Unprotecting and replacing in one update is allowed: the engine checks new.Protect && old.Protect.
    [unprotected] = plan([before], [(goal(TABLE, "t", protect=False), {"hashKey": "id"})])
    assert (unprotected.op, unprotected.refused) == (Op.REPLACE, "")
    [delete] = plan([before], [])
    assert delete.op == Op.DELETE
    assert delete.refused.endswith(f"`pulumi state unprotect {before.urn}`")


def test_retain_on_delete_leaves_the_resource_in_the_cloud() -> None:
    [step] = plan([old(TABLE, "t", {"hashKey": "orderId"}, retain_on_delete=True)], [])
    assert (step.op, step.retain, step.destroys) == (Op.DELETE, True, False)
    [plain] = plan([old(TABLE, "t", {"hashKey": "orderId"})], [])
    assert plain.destroys


def test_aliases_by_name_and_by_parent_continue_the_old_resource() -> None:
    parent = new_urn("dev", "p", STACK_URN, COMPONENT, "c")
    olds = [
        ResourceState(parent, COMPONENT, False, {}, {}, STACK_URN),
        old(TABLE, "old-name", {"hashKey": "orderId"}, parent),
        old(QUEUE, "q", {}),  # a root-level queue, later moved under the component
    ]
    news = [
        (goal(COMPONENT, "c", custom=False), {}),
        (goal(TABLE, "new-name", parent, aliases=(AliasSpec(name="old-name"),)), {"hashKey": "orderId"}),
        (goal(QUEUE, "q", parent, aliases=(AliasSpec(parent_urn=STACK_URN),)), {}),
    ]
    assert ops(plan(olds, news)) == [("same", "c"), ("same", "new-name"), ("same", "q")]
    unaliased = [(g if not g.aliases else Goal(g.type, g.name, g.parent, (), g.urn), i) for g, i in news]
    assert sorted(ops(plan(olds, unaliased))) == sorted(
        [("same", "c"), ("create", "new-name"), ("create", "q"), ("delete", "q"), ("delete", "old-name")]
    )


def test_deletes_come_last_in_reverse_order_of_the_old_state() -> None:
    olds = [old(QUEUE, "a", {}), old(QUEUE, "b", {}), old(QUEUE, "c", {})]
    assert ops(plan(olds, [(goal(QUEUE, "b"), {})])) == [("same", "b"), ("delete", "c"), ("delete", "a")]
