"""Runs a Pulumi program under mocks, with a stack's config resolved the way the Pulumi CLI does.

The program is executed from its project folder (`__main__.py`), never imported, so this module
works for any program and the tests and the sandbox exercise the real entry point.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await


class StackConfigError(Exception):
    """The stack cannot be resolved from the project's files."""


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    declared: Mapping[str, Any]  # the Pulumi.yaml `config:` block

    @classmethod
    def load(cls, directory: Path) -> Project:
        path = directory / "Pulumi.yaml"
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as error:
            raise StackConfigError(f"cannot read {path}: {error.strerror}") from error
        return cls(directory=directory, name=document["name"], declared=document.get("config") or {})

    def stacks(self) -> list[str]:
        return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in self.directory.glob("Pulumi.*.yaml"))

    def qualify(self, key: str) -> str:
        return key if ":" in key else f"{self.name}:{key}"

    def stack_config(self, stack: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Project defaults, then `Pulumi.<stack>.yaml`, then overrides: what the CLI hands the program."""
        values = {
            self.qualify(key): _config_string(declaration["default"])
            for key, declaration in self.declared.items()
            if isinstance(declaration, dict) and "default" in declaration
        }
        path = self.directory / f"Pulumi.{stack}.yaml"
        if not path.is_file():
            known = ", ".join(self.stacks()) or "none"
            raise StackConfigError(f"unknown stack '{stack}': no {path.name} in {self.directory} (stacks: {known})")
        for key, value in ((yaml.safe_load(path.read_text()) or {}).get("config") or {}).items():
            if isinstance(value, dict) and "secure" in value:
                raise StackConfigError(f"{path.name}: {key} is a secret, which only the Pulumi CLI can decrypt")
            values[self.qualify(key)] = _config_string(value)
        for key, value in (overrides or {}).items():
            values[self.qualify(key)] = value
        return values


def _config_string(value: Any) -> str:
    """Config values reach a program as strings; structured ones as JSON, as the CLI passes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass(frozen=True)
class ProgramRun:
    outputs: dict[str, Any]  # stack outputs, resolved
    urns: list[str]  # every registered resource, components included, in registration order
    dependencies: dict[str, set[str]]  # URN -> URNs it depends on (depends_on and input references)


class _RecordingMonitor(MockMonitor):
    """The mock engine, also noting each resource's dependencies as the real engine would see them."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, set[str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        found = set(request.dependencies)
        for property_dependencies in request.propertyDependencies.values():
            found.update(property_dependencies.urns)
        self.dependencies[response.urn] = found
        return response


def run_program(
    project: Project,
    stack: str,
    config: Mapping[str, str],
    mocks: pulumi.runtime.Mocks,
    *,
    preview: bool = False,
    logger: logging.Logger | None = None,
) -> ProgramRun:
    """Runs `__main__.py` under `mocks`; raises what the program raises (a bad config, a failed create).

    `logger` receives what the program logs through `pulumi.log` (its warnings, say)."""
    settings.ROOT.set(None)  # a fresh root stack per run, so outputs of an earlier run never leak in
    pulumi.runtime.set_all_config(dict(config))
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
    return ProgramRun(outputs=outputs, urns=list(monitor.get_registered_resources()), dependencies=monitor.dependencies)
