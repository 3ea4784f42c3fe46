"""Runs one version of a Pulumi program under mocks and writes what the engine would know of it, as JSON:
each resource's inputs, outputs and options, and, against an older deployment's state, each resource's step.

It runs in a process of its own (`python -m sandbox.plan_capture`), so that a program checked out at
another git ref imports its own `infra` and `contract` packages: this module imports nothing of the project
but the sandbox's Pulumi model (sandbox.program, sandbox.pulumi_engine, sandbox.provider_schema).

State mode (no olds): every resource is created, with outputs as the provider would report them: the
explicit name or an auto-name, and ARN, URL and id derived from it. Plan mode (olds given): the engine's
step for each resource (sandbox.pulumi_engine.Planner); a resource that is kept passes on its old outputs,
and one that is created or replaced passes on none of its computed outputs, which its dependents then see
as unknown, as in a real preview.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.output import Unknown

from sandbox import provider_schema
from sandbox.program import Project, run_program, stack_config
from sandbox.pulumi_engine import UNKNOWN, Goal, Planner, ProviderRules, ResourceState, Step

ACCOUNT = "123456789012"
PROVIDER = ProviderRules(provider_schema.replaces, provider_schema.delete_before_replace)


def plain(value: Any) -> Any:
    """An input as JSON: unknowns marked, assets and archives by the digest of their contents."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return {"__asset__": _digest(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def _digest(value: pulumi.Asset | pulumi.Archive) -> str:
    digest = hashlib.sha256()
    if isinstance(value, pulumi.AssetArchive):
        for path in sorted(value.assets):
            digest.update(f"{path}\0{_digest(value.assets[path])}\0".encode())
    elif isinstance(value, pulumi.FileArchive) and Path(str(value.path)).is_dir():
        root = Path(str(value.path))
        for file in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{file.relative_to(root)}\0".encode() + file.read_bytes())
    elif isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        digest.update(Path(str(value.path)).read_bytes())
    elif isinstance(value, pulumi.StringAsset):
        digest.update(str(value.text).encode())
    else:
        digest.update(repr(value).encode())
    return "sha256:" + digest.hexdigest()


def known(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs whose values the program knows now (a resource's state echoes its inputs)."""
    return {key: value for key, value in inputs.items() if not isinstance(value, Unknown)}


def provider_outputs(stack: str, region: str, goal: Goal, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A created resource's computed outputs: its name (explicit, else auto-named per stack, as Pulumi's random
    suffix is) and the ARN, URL and id built from it. Only equality between runs matters here."""
    name = inputs.get("name") or f"{goal.name}-{hashlib.sha256(f'{stack}/{goal.urn}'.encode()).hexdigest()[:7]}"
    service = goal.type.split(":")[1].split("/")[0]
    kind = goal.type.rsplit(":", 1)[1].lower()
    return {
        "id": name,
        "name": name,
        "arn": f"arn:aws:{service}:{region}:{ACCOUNT}:{kind}/{name}",
        "url": f"https://{service}.{region}.amazonaws.com/{ACCOUNT}/{name}",
    }


class CaptureMocks(pulumi.runtime.Mocks):
    """Answers the program as the engine and provider would, recording each resource's state (and step)."""

    def __init__(self, stack: str, region: str, planner: Planner | None) -> None:
        self.stack = stack
        self.region = region
        self.planner = planner
        self.goals: dict[tuple[str, str], Goal] = {}  # by (type, name): what MockResourceArgs identifies
        self.lock = threading.Lock()  # the SDK registers resources from several threads
        self.states: dict[str, ResourceState] = {}
        self.steps: dict[str, Step] = {}

    def register_goal(self, goal: Goal) -> None:
        """Called by the recording monitor before each resource is created (the mocks do not see options)."""
        with self.lock:
            assert (goal.type, goal.name) not in self.goals, f"two resources {goal.type} named {goal.name}"
            self.goals[goal.type, goal.name] = goal
        if goal.type == "pulumi:pulumi:Stack":  # the monitor creates no mock resource for the stack
            self._record(goal, {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        with self.lock:
            goal = self.goals[args.typ, args.name]
        outputs = self._record(goal, dict(args.inputs))
        return str(outputs.get("id", f"{args.name}-id")), outputs

    def _record(self, goal: Goal, raw: dict[str, Any]) -> dict[str, Any]:
        """Records the resource; returns its state for the program (the raw inputs it knows, and outputs)."""
        inputs = plain(raw)
        computed = provider_outputs(self.stack, self.region, goal, inputs)
        if self.planner is not None:
            with self.lock:
                step, old = self.planner.register(goal, inputs)
            self.steps[goal.urn] = step
            if old is not None and step.op in ("same", "update"):
                computed = {key: value for key, value in old.outputs.items() if key not in raw}
            else:  # created or replaced: its computed outputs are unknown until it exists
                computed = {}
        outputs = {**computed, **known(raw)} if goal.custom else {}
        self.states[goal.urn] = ResourceState(
            urn=goal.urn,
            type=goal.type,
            custom=goal.custom,
            inputs=inputs,
            outputs=plain(outputs),
            parent=goal.parent,
            protect=goal.protect,
            retain_on_delete=goal.retain_on_delete,
        )
        return outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


def state_of(resource: Mapping[str, Any]) -> ResourceState:
    return ResourceState(**{**resource, "dependencies": tuple(resource["dependencies"])})


def capture(tree: Path, stack: str, overrides: Mapping[str, str], olds: list[ResourceState] | None) -> dict[str, Any]:
    project = Project.load(tree)
    config = stack_config(project, stack, overrides)
    planner = None if olds is None else Planner(stack, project.name, olds, PROVIDER)
    mocks = CaptureMocks(stack, config.get("aws:region", "us-east-1"), planner)
    run = run_program(project, stack, config, mocks, preview=planner is not None)
    resources = [
        dataclasses.replace(mocks.states[goal.urn], dependencies=tuple(sorted(run.dependencies.get(urn, ()))))
        for urn, goal in run.goals.items()
        if goal.urn in mocks.states
    ]
    steps = planner.finish() if planner is not None else []
    return {
        "project": project.name,
        "stack": stack,
        "resources": [dataclasses.asdict(resource) for resource in resources],
        "outputs": plain(run.outputs),
        "steps": [dataclasses.asdict(step) for step in steps],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.plan_capture")
    parser.add_argument("tree", type=Path)
    parser.add_argument("stack")
    parser.add_argument("--config", default="{}", help="JSON object of --config overrides")
    parser.add_argument("--olds", type=Path, help="a state this module wrote: plan against it")
    args = parser.parse_args(argv)
    olds = None
    if args.olds:
        olds = [
            ResourceState(**{**r, "dependencies": tuple(r["dependencies"])})
            for r in json.loads(args.olds.read_text())["resources"]
        ]
    json.dump(capture(args.tree, args.stack, json.loads(args.config), olds), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
