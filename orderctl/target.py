"""Which pipeline a command talks to: a running sandbox, a stack's outputs through the Pulumi CLI, or a file."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from orderctl.errors import OrderctlError

DEFAULT_STATE_DIR = Path(".sandbox")
_SANDBOX_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class Target:
    description: str
    outputs: dict[str, Any]
    endpoint: str | None  # None: AWS itself, with the credentials of the environment

    @property
    def region(self) -> str:
        for value in self.outputs.values():
            if isinstance(value, str) and value.startswith("arn:aws"):
                return value.split(":")[3]
        raise OrderctlError(f"{self.description}: no ARN in the outputs to tell the region from")

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not isinstance(value, str) or not value:
            raise OrderctlError(f"{self.description}: the outputs have no {key} (are they this project's stack?)")
        return value

    def client(self, service: str, **config: Any) -> Any:
        credentials = _SANDBOX_CREDENTIALS if self.endpoint else {}
        session = boto3.Session(
            region_name=self.region,
            aws_access_key_id=credentials.get("aws_access_key_id"),
            aws_secret_access_key=credentials.get("aws_secret_access_key"),
        )
        merged = _CONFIG.merge(Config(**config)) if config else _CONFIG
        make_client: Callable[..., Any] = session.client  # the service is chosen at run time, not a literal
        return make_client(service, endpoint_url=self.endpoint, config=merged)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _read_outputs(path: Path, what: str) -> dict[str, Any]:
    try:
        outputs = json.loads(path.read_text())
    except OSError as error:
        raise OrderctlError(f"cannot read {what} {path}: {error.strerror}") from None
    except ValueError as error:
        raise OrderctlError(f"cannot read {what} {path}: not JSON ({error})") from None
    if not isinstance(outputs, dict):
        raise OrderctlError(f"cannot read {what} {path}: expected a JSON object of stack outputs")
    return outputs


def sandbox_target(state_dir: Path) -> Target:
    outputs_file = state_dir / "outputs.json"
    if not outputs_file.exists():
        raise OrderctlError(f"no sandbox is running with state dir {state_dir} (start one: orderctl sandbox up)")
    outputs = _read_outputs(outputs_file, "sandbox outputs")
    endpoint = outputs.pop("endpoint", None)
    if not isinstance(endpoint, str) or not _reachable(endpoint):
        raise OrderctlError(f"the sandbox at {endpoint} is not running ({outputs_file} is stale: orderctl sandbox up)")
    return Target(f"sandbox {endpoint}", outputs, endpoint)


STACK_OUTPUT_TIMEOUT_SECONDS = 60
# What the Pulumi CLI prints (pulumi/pulumi pkg/cmd/pulumi and pkg/backend): each cause as one line here.
_CLI_FAILURES = (
    (
        "must be set for login during non-interactive CLI sessions",
        "the Pulumi CLI is not logged in: run `pulumi login` (Pulumi Cloud, `--local`, or s3://BUCKET), "
        "or set PULUMI_ACCESS_TOKEN",
    ),
    ("no stack named", "stack {stack!r} does not exist in the current backend (`pulumi stack ls` lists them)"),
    ("unable to open bucket", "the Pulumi backend cannot be opened: {reason}"),
    ("unable to open state directory", "the Pulumi backend cannot be opened: {reason}"),
    ("could not log in", "the Pulumi backend cannot be reached: {reason}"),
    ("problem logging in", "the Pulumi backend cannot be reached: {reason}"),
)


def stack_target(stack: str, project_dir: Path) -> Target:
    """`pulumi stack output --json --stack NAME` in the project directory, never waiting on a prompt."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OrderctlError(
            "the Pulumi CLI is not installed, and --stack reads outputs through it; "
            "install it, or save `pulumi stack output --json` to a file and pass --outputs FILE"
        )
    environment = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        finished = subprocess.run(
            [pulumi, "stack", "output", "--json", "--non-interactive", "--stack", stack],
            cwd=project_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=STACK_OUTPUT_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise OrderctlError(
            f"pulumi stack output for stack {stack!r} gave no answer in {STACK_OUTPUT_TIMEOUT_SECONDS} s "
            "(is the backend reachable?)"
        ) from None
    if finished.returncode != 0:
        raise OrderctlError(_cli_failure(stack, finished.stderr or finished.stdout))
    try:
        outputs = json.loads(finished.stdout)
    except ValueError:
        raise OrderctlError(f"pulumi stack output for {stack!r} was not JSON") from None
    if not isinstance(outputs, dict):
        raise OrderctlError(f"pulumi stack output for {stack!r} was not a JSON object of outputs")
    return Target(f"stack {stack}", outputs, None)


def _cli_failure(stack: str, text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    reason = (errors or lines or ["no message"])[-1]
    for marker, message in _CLI_FAILURES:
        if marker in reason:
            return message.format(stack=stack, reason=reason)
    return f"pulumi stack output failed for stack {stack!r}: {reason}"


def outputs_target(path: Path) -> Target:
    outputs = _read_outputs(path, "outputs file")
    endpoint = outputs.pop("endpoint", None)
    return Target(f"outputs {path}", outputs, endpoint if isinstance(endpoint, str) else None)


def resolve(sandbox: Path | None, stack: str | None, outputs: Path | None, project_dir: Path | None = None) -> Target:
    chosen = [name for name, value in (("--sandbox", sandbox), ("--stack", stack), ("--outputs", outputs)) if value]
    if len(chosen) > 1:
        raise OrderctlError(f"choose one target, not {' and '.join(chosen)}")
    if stack:
        return stack_target(stack, project_dir or Path(__file__).resolve().parents[1])
    if outputs:
        return outputs_target(outputs)
    return sandbox_target(sandbox or DEFAULT_STATE_DIR)
