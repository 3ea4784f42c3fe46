"""The workflows as written: fork pull requests skip the preview visibly, prod deploys only from main, the
stack comes from repository variables (fully qualified names too), preflight runs before preview and up, and
a missing stack is one line (dev is created, prod never). The stack script runs for real, against a stand-in
`pulumi` that answers `pulumi stack select` as the CLI does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
STACK_SCRIPT = ROOT / ".github" / "scripts" / "stack.sh"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"
ON_MAIN = "github.ref == 'refs/heads/main'"


def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def step_index(steps: list[dict[str, Any]], predicate: Any) -> int:
    [index] = [i for i, step in enumerate(steps) if predicate(step)]
    return index


def pulumi_command_step(steps: list[dict[str, Any]], command: str) -> int:
    return step_index(
        steps, lambda s: str(s.get("uses", "")).startswith("pulumi/actions@") and s["with"].get("command") == command
    )


def test_fork_pull_requests_skip_the_preview_with_a_notice() -> None:
    jobs = workflow("pull-request.yml")["jobs"]
    assert jobs["preview"]["if"] == SAME_REPO
    assert jobs["preview"]["permissions"]["id-token"] == "write"
    [notice_job] = [job for job in jobs.values() if job.get("if") == FORK]
    assert "needs" not in notice_job  # shown even when the tests fail
    assert any("::notice::" in step.get("run", "") for step in notice_job["steps"])
    assert "permissions" not in notice_job  # it needs nothing: no token asked for


def test_prod_deploys_only_from_main() -> None:
    flow = workflow("deploy.yml")
    triggers = flow[True]  # type: ignore[index]  # PyYAML reads the key `on` as the boolean true
    assert triggers["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert jobs["up"]["if"] == ON_MAIN
    assert jobs["up"]["needs"] == "test"
    assert "workflow_dispatch' && 'production'" in jobs["up"]["environment"]
    refusal = jobs["refuse-outside-main"]
    assert refusal["if"] == "github.ref != 'refs/heads/main'"
    assert "::error::" in refusal["steps"][0]["run"]
    assert "exit 1" in refusal["steps"][0]["run"]


@pytest.mark.parametrize(
    ("name", "job", "command"), [("pull-request.yml", "preview", "preview"), ("deploy.yml", "up", "up")]
)
def test_preflight_runs_on_the_short_stack_name_before_pulumi(name: str, job: str, command: str) -> None:
    flow = workflow(name)
    steps = flow["jobs"][job]["steps"]
    short = step_index(steps, lambda s: s.get("id") == "stack")
    preflight = step_index(steps, lambda s: "orderctl preflight" in s.get("run", ""))
    exists = step_index(steps, lambda s: "stack.sh exists" in s.get("run", ""))
    run = pulumi_command_step(steps, command)
    assert short < preflight < exists < run
    assert steps[short]["run"] == '.github/scripts/stack.sh short "$STACK"'
    assert '--stack "${{ steps.stack.outputs.short }}"' in steps[preflight]["run"]
    pulumi = steps[run]["with"]
    assert pulumi["stack-name"] == "${{ env.STACK }}"
    assert pulumi["upsert"] == "${{ steps.stack.outputs.short == 'dev' }}"
    assert pulumi["policyPacks"] == "policypack"
    assert "vars.PULUMI_" in flow["env"]["STACK"]


def test_stack_names_come_from_repository_variables() -> None:
    assert workflow("pull-request.yml")["env"]["STACK"] == "${{ vars.PULUMI_PREVIEW_STACK || 'dev' }}"
    deploy_stack = workflow("deploy.yml")["env"]["STACK"]
    assert "(vars.PULUMI_PROD_STACK || 'prod')" in deploy_stack
    assert "(vars.PULUMI_DEV_STACK || 'dev')" in deploy_stack


def run_script(*args: str, tmp_path: Path, pulumi_says: str | None = None) -> tuple[int, str, str]:
    """Runs stack.sh; `pulumi_says` is what the stand-in `pulumi stack select` prints on stderr before it exits 255
    (the CLI's exit code for an error); None: it succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "pulumi"
    body = "exit 0" if pulumi_says is None else f"echo {pulumi_says!r} >&2; exit 255"
    stand_in.write_text(f'#!/bin/sh\n[ "$1 $2" = "stack select" ] || exit 3\n{body}\n')
    stand_in.chmod(0o755)
    output_file = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output_file)}
    done = subprocess.run(["bash", str(STACK_SCRIPT), *args], capture_output=True, text=True, env=env, check=False)
    outputs = output_file.read_text() if output_file.exists() else ""
    return done.returncode, done.stdout + done.stderr, outputs


@pytest.mark.parametrize(
    ("stack", "short"), [("dev", "dev"), ("acme/order-pipeline/prod", "prod"), ("acme/dev", "dev")]
)
def test_a_fully_qualified_stack_gives_the_short_name_preflight_reads(tmp_path: Path, stack: str, short: str) -> None:
    code, _, outputs = run_script("short", stack, tmp_path=tmp_path)
    assert (code, outputs) == (0, f"short={short}\n")


MISSING = "error: no stack named 'acme/order-pipeline/{}' found"


def test_an_existing_stack_passes(tmp_path: Path) -> None:
    assert run_script("exists", "acme/order-pipeline/prod", tmp_path=tmp_path)[:2] == (0, "")


def test_a_missing_dev_stack_is_created_with_a_notice(tmp_path: Path) -> None:
    code, printed, _ = run_script(
        "exists", "acme/order-pipeline/dev", tmp_path=tmp_path, pulumi_says=MISSING.format("dev")
    )
    assert code == 0
    assert printed.splitlines() == [
        "::notice::stack acme/order-pipeline/dev does not exist yet: this run creates it (dev only)"
    ]


def test_a_missing_prod_stack_is_one_error_line_and_never_created(tmp_path: Path) -> None:
    stack = "acme/order-pipeline/prod"
    code, printed, _ = run_script("exists", stack, tmp_path=tmp_path, pulumi_says=MISSING.format("prod"))
    assert code == 1
    [line] = printed.splitlines()
    assert line.startswith(
        f"::error::stack {stack} does not exist yet; create it once with 'pulumi stack init {stack}'"
    )


def test_any_other_failure_is_reported_as_is(tmp_path: Path) -> None:
    says = "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"
    code, printed, _ = run_script("exists", "dev", tmp_path=tmp_path, pulumi_says=says)
    assert code == 1
    assert printed.splitlines() == [f"::error::pulumi stack select dev failed: {says} "]
