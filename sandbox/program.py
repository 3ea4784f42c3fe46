"""Runs a Pulumi program under mocks, with a stack's config resolved the way the Pulumi CLI does.

The config comes from sandbox.pulumi_cli_config, the one model of the CLI's config rules. The program
is executed from its project folder (`__main__.py`), never imported, so this module works for any
program and the tests and the sandbox exercise the real entry point.
"""

from __future__ import annotations

import logging
import runpy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from sandbox.pulumi_cli_config import Project, StackConfigError, resolve
from sandbox.pulumi_engine import AliasSpec, Goal, new_urn

__all__ = [
    "PreviewCheck",
    "ProgramRun",
    "Project",
    "StackConfigError",
    "preview_check",
    "program_problems",
    "run_program",
    "stack_config",
]


def stack_config(project: Project, stack: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The map `pulumi up --stack STACK --config k=v` hands the program (sandbox.pulumi_cli_config's rules),
    or StackConfigError with the CLI's message."""
    return resolve(project, stack, overrides).program_config()


@dataclass(frozen=True)
class ProgramRun:
    outputs: dict[str, Any]  # stack outputs, resolved
    urns: list[str]  # every registered resource, components included, in registration order
    dependencies: dict[str, set[str]]  # URN -> URNs it depends on (depends_on and input references)
    goals: dict[str, Goal]  # URN -> the resource as the engine receives it: its engine URN, aliases and options


class _RecordingMonitor(MockMonitor):
    """The mock engine, with the real engine's URNs, also noting each resource's dependencies, aliases and
    options as the real engine receives them."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, set[str]] = {}
        self.goals: dict[str, Goal] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # MockMonitor qualifies a type by its parent's last type and keeps the root stack's; the engine
        # qualifies it by the parent's whole chain, without the root stack (sandbox.pulumi_engine.new_urn).
        return new_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        goal = Goal(
            type=request.type,
            name=request.name,
            parent=request.parent,
            aliases=tuple(self._alias(alias) for alias in request.aliases),
            urn=self.make_urn(request.parent, request.type, request.name),
            custom=bool(request.custom),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            replace_on_changes=tuple(request.replaceOnChanges),
            ignore_changes=tuple(request.ignoreChanges),
        )
        # Mocks that model the engine (sandbox.plan_capture) need the options, which MockResourceArgs lacks.
        register_goal = getattr(self.mocks, "register_goal", None)
        if register_goal is not None:
            register_goal(goal)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        found = set(request.dependencies)
        for property_dependencies in request.propertyDependencies.values():
            found.update(property_dependencies.urns)
        self.dependencies[response.urn] = found
        self.goals[response.urn] = goal
        return response

    @staticmethod
    def _alias(alias: Any) -> AliasSpec:
        if alias.urn:
            return AliasSpec(urn=alias.urn)
        spec = alias.spec
        return AliasSpec(
            name=spec.name,
            type=spec.type,
            parent_urn=spec.parentUrn,
            no_parent=spec.noParent,
            project=spec.project,
            stack=spec.stack,
        )


def run_program(
    project: Project,
    stack: str,
    config: Mapping[str, str],
    mocks: pulumi.runtime.Mocks,
    *,
    preview: bool = False,
    logger: logging.Logger | None = None,
    secret_keys: Sequence[str] = (),
) -> ProgramRun:
    """Runs `__main__.py` under `mocks`; raises what the program raises (a bad config, a failed create).

    `logger` receives what the program logs through `pulumi.log` (its warnings, say)."""
    settings.ROOT.set(None)  # a fresh root stack per run, so outputs of an earlier run never leak in
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    monitor = _RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project.name, stack=stack, preview=preview, monitor=monitor, logger=logger)
    program = project.directory / "__main__.py"
    added_to_path = str(project.directory) not in sys.path
    if added_to_path:
        sys.path.insert(0, str(project.directory))
    try:

        def run() -> None:
            runpy.run_path(str(program), run_name="__pulumi_program__")

        _sync_await(run_pulumi_func(run))
    finally:
        if added_to_path:
            sys.path.remove(str(project.directory))
    root = settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {})
    outputs = {name: _sync_await(pulumi.Output.from_input(value).future()) for name, value in exported.items()}
    return ProgramRun(
        outputs=outputs,
        urns=list(monitor.get_registered_resources()),
        dependencies=monitor.dependencies,
        goals=monitor.goals,
    )


def program_problems(error: BaseException) -> list[str]:
    """One line per problem in a program's refusal: its `problems` if it lists them, else the message's
    lines after a header ending in ':' (the format infra/config.py's ConfigError documents)."""
    listed = getattr(error, "problems", None)
    if isinstance(listed, (list, tuple)) and all(isinstance(item, str) for item in listed):
        return list(listed)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1:]
    return [" ".join(lines)]


class _PreviewMocks(pulumi.runtime.Mocks):
    """The least an engine does in a preview: every resource exists with its inputs as state."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        return f"{args.name}-preview-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@dataclass(frozen=True)
class PreviewCheck:
    problems: list[str]  # the program's refusal, one line per problem (empty: it ran through)
    warnings: list[str]  # what it logged at warning level or above


def preview_check(project: Project, stack: str, config: Mapping[str, str]) -> PreviewCheck:
    """Runs the program once in preview mode under mocks, for its own config rules: the checks a program
    makes before declaring resources, as `pulumi preview` would show them."""
    records: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append(" ".join(record.getMessage().split()))

    logger = logging.getLogger(f"sandbox.preview.{id(records)}")
    logger.propagate = False
    logger.addHandler(_Collect())
    try:
        run_program(project, stack, config, _PreviewMocks(), preview=True, logger=logger)
    except pulumi.RunError as error:
        return PreviewCheck(problems=program_problems(error), warnings=records)
    return PreviewCheck(problems=[], warnings=records)
