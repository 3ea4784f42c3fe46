"""The Pulumi engine's decisions about a program's resources, modelled from the engine's own source, since the
Pulumi CLI cannot be installed here. One module, so the sandbox, `orderctl` and the tests share one model.

Sources (pulumi/pulumi, the engine the pinned SDK, pulumi 3.272, talks to):

- URNs: `sdk/go/common/resource/urn.go` (NewURN, CreateURN): `urn:pulumi:<stack>::<project>::<qualified
  type>::<name>`, where the qualified type is the parent's qualified type, `$`, then the resource's own type,
  and a resource parented to the root stack (`pulumi:pulumi:Stack`) has no parent part.
- Aliases: `pkg/resource/deploy/step_generator.go`, `collapseAliasToUrn`, `inheritedChildAlias` and
  `generateAliases`. An alias spec fills what it leaves out from the resource itself (name, type, parent,
  project, stack); a parent given in the spec that was itself found under an alias is replaced by that old
  URN; `noParent` (or the root stack as parent) drops the parent. A child also inherits the alias its
  parent was *found under*: same type, parent replaced by the parent's old URN and, when the child's name
  starts with the parent's name, that prefix replaced by the parent's old name. `generateSteps` then looks
  an old resource up by the new URN first, then by each alias in order.
  Tested upstream by `tests/integration/aliases/python/rename_component` (a component renamed with
  `Alias(name=...)`, its children named `name + "-child"` and `"otherchild"` kept).
- Steps: `step_generator.go`, `generateSteps` and `generateStepsFromDiff`. No old resource: create. An old
  one: inputs named in `ignoreChanges` take their old values (`processIgnoreChanges`), then the provider's
  Diff; a change to a property the provider marks ForceNew (sandbox.provider_schema) or named in
  `replaceOnChanges` (`applyReplaceOnChanges`) replaces, any other change updates, none is `same`. In a
  preview an input the engine does not know yet (an output of a resource being created or replaced) counts
  as changed. A replacement creates the new resource first and deletes the old one after every other step
  unless the provider asks for delete-before-replace or the `deleteBeforeReplace` option says so, which
  wins either way. A replace where old and new are both `protect`ed fails ("unable to replace resource
  ..."); so does deleting a protected resource (`DeleteStep.Apply`, in step.go, in a preview too).
  `GenerateDeletes`: every old resource no new one continued is deleted, in reverse order of the old
  state; `retainOnDelete` keeps the cloud resource and only drops it from the stack (step.go, DeleteStep).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class AliasSpec:
    """One `pulumi.Alias` as the SDK sends it to the engine (alias.proto's Spec), or a whole old URN."""

    urn: str = ""
    name: str = ""
    type: str = ""
    parent_urn: str = ""
    no_parent: bool = False
    project: str = ""
    stack: str = ""


@dataclass(frozen=True)
class Goal:
    """A resource as the program registers it: the engine's `resource.Goal`."""

    type: str
    name: str
    parent: str  # the parent's engine URN; "" for the root stack itself
    aliases: tuple[AliasSpec, ...] = ()
    urn: str = ""  # its engine URN, where the recorder knows it
    custom: bool = True
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    replace_on_changes: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()


def urn_type(urn: str) -> str:
    """The qualified type of a URN (`a$b$c`)."""
    return urn.split("::")[2]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def new_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """`NewURN`/`CreateURN`: the parent's qualified type prefixes the type, unless the parent is the root stack."""
    qualified = type_
    if parent and urn_type(parent) != ROOT_STACK_TYPE:
        qualified = f"{urn_type(parent)}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


class AliasResolver:
    """Matches a program's resources to a previous deployment's, in registration order (parents first),
    as `generateSteps` does: by URN, then by each alias."""

    def __init__(self, stack: str, project: str, olds: Iterable[str]) -> None:
        self.stack = stack
        self.project = project
        self.olds = set(olds)
        self.found_under: dict[str, str] = {}  # new URN -> the old URN it was found under (`sg.aliases`)

    def urn(self, goal: Goal) -> str:
        return new_urn(self.stack, self.project, goal.parent, goal.type, goal.name)

    def collapse(self, goal: Goal, alias: AliasSpec) -> str:
        """`collapseAliasToUrn`."""
        if alias.urn:
            return alias.urn
        parent = alias.parent_urn or goal.parent
        if alias.parent_urn:
            parent = self.found_under.get(parent, parent)
        if alias.no_parent or (parent and urn_type(parent) == ROOT_STACK_TYPE):
            parent = ""
        return new_urn(
            alias.stack or self.stack,
            alias.project or self.project,
            parent,
            alias.type or goal.type,
            alias.name or goal.name,
        )

    def inherited(self, child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
        """`inheritedChildAlias`."""
        alias_name = child_name
        if child_name.startswith(parent_name):
            alias_name = urn_name(parent_alias) + child_name[len(parent_name) :]
        return f"urn:pulumi:{self.stack}::{self.project}::{urn_type(parent_alias)}${child_type}::{alias_name}"

    def aliases(self, goal: Goal) -> list[str]:
        """`generateAliases`: the resource's own aliases, then those inherited from its parent's old URN."""
        result: list[str] = []

        def add(urn: str) -> None:
            if urn not in result:
                result.append(urn)

        for alias in goal.aliases:
            add(self.collapse(goal, alias))
        parent_alias = self.found_under.get(goal.parent)
        if goal.parent and parent_alias:
            parent_name = urn_name(goal.parent)
            add(self.inherited(goal.type, goal.name, parent_name, parent_alias))
            for alias in goal.aliases:
                own = self.collapse(goal, alias)
                add(self.inherited(urn_type(own).split("$")[-1], urn_name(own), parent_name, parent_alias))
        return result

    def match(self, goal: Goal) -> str | None:
        """The old URN this resource continues, or None (a create). Records an alias match for its children."""
        urn = self.urn(goal)
        for candidate in [urn, *self.aliases(goal)]:
            if candidate in self.olds:
                if candidate != urn:
                    self.found_under[urn] = candidate
                return candidate
        return None


def match_olds(stack: str, project: str, goals: Sequence[Goal], olds: Iterable[str]) -> dict[str, str | None]:
    """Each goal's new URN -> the old URN it continues (None: created). Goals in registration order."""
    resolver = AliasResolver(stack, project, olds)
    return {resolver.urn(goal): resolver.match(goal) for goal in goals}


def engine_urns(stack: str, project: str, goals: Sequence[Goal]) -> list[str]:
    return [new_urn(stack, project, goal.parent, goal.type, goal.name) for goal in goals]


def parents_first(goals: Mapping[str, Goal]) -> list[Goal]:
    """Goals keyed by their URN, ordered so that a parent comes before its children (registration order
    guarantees it in the engine; a recording may interleave siblings)."""
    ordered: list[Goal] = []
    seen: set[str] = set()

    def visit(urn: str) -> None:
        if urn in seen or urn not in goals:
            return
        seen.add(urn)
        visit(goals[urn].parent)
        ordered.append(goals[urn])

    for urn in goals:
        visit(urn)
    return ordered


# --- steps

UNKNOWN: dict[str, bool] = {"__unknown__": True}
"""How a captured state writes a value the engine does not know during a preview."""


class Op(StrEnum):
    SAME = "same"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


@dataclass(frozen=True)
class ResourceState:
    """One resource of a deployment, as the checkpoint keeps it (`resource.State`)."""

    urn: str
    type: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    op: Op
    urn: str
    type: str
    old_urn: str | None = None  # the old resource it continues (an alias when it differs from urn)
    diff: tuple[str, ...] = ()  # the inputs that changed (or may change: unknown in the preview)
    replace_keys: tuple[str, ...] = ()  # the changed inputs that force the replacement
    delete_before_replace: bool = False
    retain: bool = False  # a delete (or the old half of a replace) that leaves the resource in the cloud
    refused: str = ""  # the engine's error: this plan cannot be applied

    @property
    def destroys(self) -> bool:
        """Deletes a cloud resource: a delete or a replacement, unless retained."""
        return self.op in (Op.DELETE, Op.REPLACE) and not self.retain


@dataclass(frozen=True)
class ProviderRules:
    """What the provider decides in its Diff: which changed inputs force a replacement, and whether it asks
    for delete-before-replace (sandbox.provider_schema holds them for pulumi-aws)."""

    replaces: Callable[[str, Iterable[str]], list[str]]
    delete_before_replace: Callable[[str, Mapping[str, Any]], bool]


def changed_inputs(olds: Mapping[str, Any], news: Mapping[str, Any], ignore_changes: Iterable[str] = ()) -> list[str]:
    """Top-level inputs whose values differ (an unknown new value, UNKNOWN, never equals a deployed one);
    `ignoreChanges` entries (top-level names, or paths whose first element is one) keep their old values."""
    ignored = {path.split(".")[0].split("[")[0] for path in ignore_changes}
    keys = (set(olds) | set(news)) - ignored
    return sorted(key for key in keys if olds.get(key) != news.get(key))


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(pattern in ("*", "**") or pattern.split(".")[0].split("[")[0] == key for pattern in patterns)


def step_for(goal: Goal, inputs: Mapping[str, Any], old: ResourceState | None, provider: ProviderRules) -> Step:
    """`generateSteps` for one resource the program registered."""
    if old is None:
        return Step(Op.CREATE, goal.urn, goal.type)
    diff = changed_inputs(old.inputs, inputs, goal.ignore_changes) if goal.custom else []
    if not diff:
        return Step(Op.SAME, goal.urn, goal.type, old.urn)
    forced = sorted(set(provider.replaces(goal.type, diff)) | {k for k in diff if _matches(k, goal.replace_on_changes)})
    if not forced:
        return Step(Op.UPDATE, goal.urn, goal.type, old.urn, tuple(diff))
    refused = ""
    if goal.protect and old.protect:
        refused = (
            f'unable to replace resource "{goal.urn}"\nas it is currently marked for protection. To unprotect the '
            "resource, remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`"
        )
    return Step(
        Op.REPLACE,
        goal.urn,
        goal.type,
        old.urn,
        tuple(diff),
        tuple(forced),
        delete_before_replace=goal.delete_before_replace or provider.delete_before_replace(goal.type, inputs),
        retain=old.retain_on_delete,
        refused=refused,
    )


def delete_step(old: ResourceState) -> Step:
    """`GenerateDeletes` for an old resource nothing continued, with `DeleteStep.Apply`'s refusal."""
    refused = ""
    if old.protect:
        refused = (
            f'unable to delete resource "{old.urn}"\nas it is currently marked for protection. To unprotect the '
            "resource, either remove the `protect` flag from the resource in your Pulumi program or use the "
            f"command:\n`pulumi state unprotect {old.urn}`"
        )
    return Step(Op.DELETE, old.urn, old.type, old.urn, retain=old.retain_on_delete, refused=refused)


@dataclass
class Planner:
    """Steps for a program's resources against an old deployment, resource by resource in registration order,
    then the deletes: what `pulumi preview` shows."""

    stack: str
    project: str
    olds: Sequence[ResourceState]
    provider: ProviderRules
    steps: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_urn = {old.urn: old for old in self.olds}
        self._resolver = AliasResolver(self.stack, self.project, self._by_urn)
        self._continued: set[str] = set()

    def register(self, goal: Goal, inputs: Mapping[str, Any]) -> tuple[Step, ResourceState | None]:
        """The step for one registered resource, and the old state it continues (None for a create)."""
        old_urn = self._resolver.match(goal)
        old = self._by_urn.get(old_urn) if old_urn else None
        if old_urn:
            self._continued.add(old_urn)
        step = step_for(goal, inputs, old, self.provider)
        self.steps.append(step)
        return step, old

    def finish(self) -> list[Step]:
        """Appends the deletes (old resources nothing continued), last registered first; returns every step."""
        for old in reversed(self.olds):
            if old.urn not in self._continued and old.type != ROOT_STACK_TYPE:
                self.steps.append(delete_step(old))
        return self.steps
