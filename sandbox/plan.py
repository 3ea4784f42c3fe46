"""`pulumi preview` offline: the steps an update from one version of the program to another would take.

The old version (a git ref) is deployed under mocks into a state, as `pulumi up` would have left it; the new
version (a project folder, usually the working tree) is then planned against that state with the engine's
rules (sandbox.pulumi_engine) and the provider's (sandbox.provider_schema). Each version runs in a process
of its own (sandbox.plan_capture), so each imports its own `infra`.

What this does not model: a provider's Check defaults and its Diff of outputs against the cloud (drift),
which the real preview reads through the provider; `pulumi refresh`; `--target`; provider upgrades. The
diff is of the program's inputs, old against new.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import resource_types
from sandbox.pulumi_engine import Op, ResourceState, Step

# Resources whose replacement or deletion loses what they hold: the orders, and the messages in a queue.
STATEFUL_TYPES = frozenset({resource_types.TABLE, resource_types.QUEUE})


class PlanError(Exception):
    """The plan cannot be made: a ref that does not exist, a program that fails to run."""


@dataclass(frozen=True)
class Preview:
    stack: str
    base: str  # the commit the old state was deployed from
    steps: list[Step]
    olds: dict[str, ResourceState]  # by URN
    old_outputs: dict[str, Any]  # the old version's stack outputs

    @property
    def changes(self) -> list[Step]:
        return [step for step in self.steps if step.op != Op.SAME and not step.type.startswith("pulumi:pulumi:")]

    @property
    def refused(self) -> list[Step]:
        return [step for step in self.steps if step.refused]

    @property
    def data_loss(self) -> list[Step]:
        """Replacing or deleting a table or queue that is not protected: what it holds is gone."""
        return [step for step in self.changes if step.type in STATEFUL_TYPES and step.destroys and not step.refused]

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(str(step.op) for step in self.steps if not step.type.startswith("pulumi:pulumi:"))
        return {str(op): counted.get(str(op), 0) for op in Op}

    @property
    def exit_code(self) -> int:
        return 1 if self.refused or self.data_loss else 0

    def output_of(self, urn: str) -> str | None:
        """The old stack output that names this resource (tableName, queueUrl, ...), if one does."""
        old = self.olds.get(urn)
        if old is None:
            return None
        mine = {old.outputs.get("name"), old.outputs.get("url"), old.outputs.get("arn")} - {None}
        return next((key for key, value in self.old_outputs.items() if value in mine), None)


def _capture(tree: Path, stack: str, overrides: Mapping[str, str], olds: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "sandbox.plan_capture", str(tree), stack, "--config", json.dumps(dict(overrides))]
    if olds is not None:
        command += ["--olds", str(olds)]
    root = Path(__file__).resolve().parents[1]  # where `sandbox` is importable from
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise PlanError(f"the program at {tree} failed to run: {lines[-1] if lines else 'no output'}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def merge_base(project_dir: Path, branch: str = "main") -> str:
    return _git(project_dir, "merge-base", "HEAD", branch).strip()


def _git(project_dir: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlanError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


@contextmanager
def tree_at(project_dir: Path, ref: str) -> Iterator[tuple[Path, str]]:
    """The project as it stood at `ref`, in a temporary folder, and the commit it is."""
    commit = _git(project_dir, "rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    archive = subprocess.run(["git", "archive", commit], cwd=project_dir, capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory(prefix="orderctl-preview-") as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory), commit


def preview(project_dir: Path, stack: str, base_ref: str, overrides: Mapping[str, str] | None = None) -> Preview:
    """The steps from the program at `base_ref` (deployed with the stack's config there) to the program in
    `project_dir` (with `overrides` on top of its stack config)."""
    with tree_at(project_dir, base_ref) as (base_tree, commit):
        return plan_trees(base_tree, project_dir, stack, overrides, base=commit)


def plan_trees(
    base_tree: Path, new_tree: Path, stack: str, overrides: Mapping[str, str] | None = None, base: str = ""
) -> Preview:
    """The steps from the program in `base_tree`, deployed, to the one in `new_tree` (with `overrides`)."""
    old = _capture(base_tree, stack, {})
    return plan_against(new_tree, stack, overrides or {}, old, base or str(base_tree))


def plan_against(
    new_tree: Path, stack: str, overrides: Mapping[str, str], old: Mapping[str, Any], base: str
) -> Preview:
    """The steps from a deployed state (`resources` and `outputs` as sandbox.plan_capture writes them; the
    running sandbox keeps one too) to the program in `new_tree` with `overrides`."""
    with tempfile.TemporaryDirectory(prefix="orderctl-preview-") as scratch:
        old_file = Path(scratch) / "olds.json"
        old_file.write_text(json.dumps(old, default=str))
        new = _capture(new_tree, stack, overrides, old_file)
    olds = {resource["urn"]: _state(resource) for resource in old["resources"]}
    steps = [step_from_json(step) for step in new["steps"]]
    return Preview(stack=stack, base=base, steps=steps, olds=olds, old_outputs=dict(old["outputs"]))


def _state(resource: Mapping[str, Any]) -> ResourceState:
    return ResourceState(**{**resource, "dependencies": tuple(resource["dependencies"])})


def step_from_json(step: Mapping[str, Any]) -> Step:
    return Step(
        **{
            **step,
            "op": Op(step["op"]),
            "diff": tuple(step["diff"]),
            "replace_keys": tuple(step["replace_keys"]),
        }
    )
