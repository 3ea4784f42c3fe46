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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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
