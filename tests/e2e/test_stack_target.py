"""`orderctl --stack NAME` reads outputs through `pulumi stack output`, each failure as one clear line.

The Pulumi CLI cannot be installed here, so each test puts a stand-in `pulumi` on PATH that prints what the
real CLI prints (messages from pulumi/pulumi: pkg/backend/httpstate/login.go "PULUMI_ACCESS_TOKEN must be set
for login during non-interactive CLI sessions", pkg/cmd/pulumi/stack.go "no stack named '%s' found",
pkg/backend/diy/backend.go "unable to open bucket %s: %w") on stderr prefixed `error: `, and exits 255 as
the CLI does on an error.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orderctl.errors import OrderctlError
from orderctl.target import stack_target

PROJECT_DIR = Path(__file__).resolve().parents[2]
ORDERCTL = Path(sys.executable).parent / "orderctl"
OUTPUTS = {"topicArn": "arn:aws:sns:eu-west-1:123456789012:orders", "tableName": "orders"}

# The stand-in answers only the exact command orderctl must run, non-interactively, from the project dir.
STAND_IN = """#!/bin/sh
if [ "$*" != "stack output --json --non-interactive --stack {stack}" ] || [ ! -f Pulumi.yaml ] \\
   || [ "$PULUMI_SKIP_UPDATE_CHECK" != "true" ]; then
  echo "error: unexpected call: $* in $(pwd)" >&2; exit 2
fi
if read -r _; then echo "error: stdin was not closed" >&2; exit 2; fi
{body}
"""


def pulumi_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, stack: str = "dev") -> None:
    script = tmp_path / "pulumi"
    script.write_text(STAND_IN.format(stack=stack, body=body))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_outputs_are_read_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pulumi_on_path(tmp_path, monkeypatch, f"echo '{json.dumps(OUTPUTS)}'")
    target = stack_target("dev", PROJECT_DIR)
    assert target.outputs == OUTPUTS
    assert target.region == "eu-west-1"


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        (
            "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions",
            "orderctl: the Pulumi CLI is not logged in: run `pulumi login` (Pulumi Cloud, `--local`, or "
            "s3://BUCKET), or set PULUMI_ACCESS_TOKEN",
        ),
        (
            "error: no stack named 'dev' found",
            "orderctl: stack 'dev' does not exist in the current backend (`pulumi stack ls` lists them)",
        ),
        (
            "error: unable to open bucket s3://no-such-bucket: NoSuchBucket: The specified bucket does not exist",
            "orderctl: the Pulumi backend cannot be opened: unable to open bucket s3://no-such-bucket: "
            "NoSuchBucket: The specified bucket does not exist",
        ),
    ],
    ids=["not-logged-in", "missing-stack", "missing-backend"],
)
def test_each_cli_failure_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printed: str, expected: str
) -> None:
    pulumi_on_path(tmp_path, monkeypatch, f'echo "{printed}" >&2; exit 255')
    finished = subprocess.run(
        [str(ORDERCTL), "status", "--stack", "dev"],
        cwd=tmp_path,  # orderctl runs the CLI in the project directory, wherever it is started
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert finished.returncode == 1
    assert finished.stderr.strip() == expected
    assert "Traceback" not in finished.stderr


def test_a_hanging_cli_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pulumi_on_path(tmp_path, monkeypatch, "sleep 5")
    monkeypatch.setattr("orderctl.target.STACK_OUTPUT_TIMEOUT_SECONDS", 0.5)
    with pytest.raises(OrderctlError, match=r"gave no answer in 0.5 s"):
        stack_target("dev", PROJECT_DIR)
