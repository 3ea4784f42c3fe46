"""`orderctl preflight`, the sandbox and the mocks harness refuse what `pulumi preview` would, in its words."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orderctl.cli import cli
from sandbox.program import StackConfigError, preview_check, stack_config
from sandbox.pulumi_cli_config import StackValue, resolve
from sandbox.runner import Sandbox
from tests.infra.conftest import PROJECT, PROJECT_DIR

ORDERCTL = Path(sys.executable).parent / "orderctl"


def preflight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERCTL), "preflight", *args], capture_output=True, text=True, check=False, cwd=PROJECT_DIR, timeout=120
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stacks_pass_and_show_each_source(stack: str) -> None:
    finished = preflight("--stack", stack)
    assert finished.returncode == 0, finished.stderr
    assert f"preflight passed: stack {stack}" in finished.stdout
    assert "project default" in finished.stdout
    assert "stack file" in finished.stdout


def test_a_new_stack_holding_only_a_region_passes_the_cli_and_the_program() -> None:
    resolved = resolve(PROJECT, "fresh", stack_values={"aws:region": StackValue("eu-west-1")})
    config = resolved.program_config()
    assert config["order-pipeline:visibilityTimeoutSeconds"] == "0"  # 0: derive 6 x timeout + window
    assert preview_check(PROJECT, "fresh", config).problems == []


def test_the_old_pulumi_yaml_is_refused_as_the_cli_refused_it(tmp_path: Path) -> None:
    """Before: visibilityTimeoutSeconds typed with no default, so the CLI required it in every stack."""
    old = (
        (PROJECT_DIR / "Pulumi.yaml")
        .read_text()
        .replace("    default: 0\n    description: Order queue visibility", "    description: Order queue visibility")
    )
    assert old != (PROJECT_DIR / "Pulumi.yaml").read_text()
    (tmp_path / "Pulumi.yaml").write_text(old)
    shutil.copy(PROJECT_DIR / "Pulumi.dev.yaml", tmp_path)
    finished = preflight("--project-dir", str(tmp_path))
    assert finished.returncode == 1
    assert finished.stderr.strip() == (
        "orderctl preflight: Pulumi CLI: Stack 'dev' is missing configuration value 'visibilityTimeoutSeconds'"
    )
    # The sandbox refuses it with the same words, before any emulator starts.
    with pytest.raises(
        StackConfigError, match=r"^Stack 'dev' is missing configuration value 'visibilityTimeoutSeconds'$"
    ):
        Sandbox(tmp_path, "dev")


def test_cli_rules_come_first_one_line_each() -> None:
    result = CliRunner().invoke(cli, ["preflight", "--config", "batchSize=ten", "--config", "pointInTimeRecovery=yes"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "orderctl preflight: Pulumi CLI: Stack 'dev' with configuration key 'batchSize' must be of type 'integer'",
        "orderctl preflight: Pulumi CLI: Stack 'dev' with configuration key 'pointInTimeRecovery' must be of type "
        "'boolean'",
    ]


def test_program_rules_one_line_per_problem() -> None:
    result = CliRunner().invoke(
        cli, ["preflight", "--stack", "prod", "--config", "batchSize=20", "--config", "maximumConcurrency=1"]
    )
    assert result.exit_code == 1
    lines = sorted(result.stderr.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith("orderctl preflight: program: order-pipeline:batchingWindowSeconds = 0 is invalid")
    assert "1..300 when batchSize (20) is above 10" in lines[0]
    assert lines[1].startswith("orderctl preflight: program: order-pipeline:maximumConcurrency = 1 is invalid")


def test_program_warnings_are_notes_not_failures() -> None:
    result = CliRunner().invoke(cli, ["preflight", "--config", "visibilityTimeoutSeconds=60"])
    assert result.exit_code == 0
    assert "note: order-pipeline:visibilityTimeoutSeconds = 60 is below AWS's recommended 180" in result.stdout


def test_unknown_override_is_refused_naming_the_known_keys() -> None:
    result = CliRunner().invoke(cli, ["preflight", "--config", "fooBar=1"])
    assert result.exit_code == 1
    assert "override: --config fooBar: 'fooBar' is not a config key of project 'order-pipeline'" in result.stderr
    assert "known keys: alarmEmails, backlogAgeAlarmSeconds, batchSize," in result.stderr


def test_sandbox_and_mocks_harness_refuse_an_unknown_override() -> None:
    with pytest.raises(StackConfigError, match=r"'fooBar' is not a config key of project 'order-pipeline'"):
        Sandbox(PROJECT_DIR, "dev", {"fooBar": "1"})
    with pytest.raises(StackConfigError, match=r"must be of type 'integer'"):
        stack_config(PROJECT, "dev", {"batchSize": "ten"})


def test_sandbox_up_refuses_an_unknown_override_in_one_line(tmp_path: Path) -> None:
    """issue 9 point 15: `orderctl sandbox up --config fooBar=1` was silently ignored."""
    finished = subprocess.run(
        [str(ORDERCTL), "sandbox", "up", "--state-dir", str(tmp_path), "--config", "fooBar=1"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
        timeout=120,
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith("orderctl: --config fooBar: 'fooBar' is not a config key of project")
    assert len(finished.stderr.splitlines()) == 1
    assert not (tmp_path / "outputs.json").exists()


def test_a_protected_stack_without_an_alarm_subscriber_is_named_at_preflight() -> None:
    result = CliRunner().invoke(cli, ["preflight", "--stack", "prod"])
    assert result.exit_code == 0
    assert "note: order-pipeline:alarmEmails is empty on a protected stack" in result.stdout
    assert "notify nobody" in result.stdout
