"""Which pipeline a command talks to: a running sandbox, a stack's outputs through the Pulumi CLI, or a file."""

from __future__ import annotations

import json
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


def stack_target(stack: str) -> Target:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OrderctlError(
            "the Pulumi CLI is not installed, and --stack reads outputs through it; "
            "install it, or save `pulumi stack output --json` to a file and pass --outputs FILE"
        )
    finished = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        reason = (finished.stderr.strip().splitlines() or ["no message"])[-1]
        raise OrderctlError(f"pulumi stack output failed for stack {stack!r}: {reason}")
    try:
        outputs = json.loads(finished.stdout)
    except ValueError:
        raise OrderctlError(f"pulumi stack output for {stack!r} was not JSON") from None
    return Target(f"stack {stack}", outputs, None)


def outputs_target(path: Path) -> Target:
    outputs = _read_outputs(path, "outputs file")
    endpoint = outputs.pop("endpoint", None)
    return Target(f"outputs {path}", outputs, endpoint if isinstance(endpoint, str) else None)


def resolve(sandbox: Path | None, stack: str | None, outputs: Path | None) -> Target:
    chosen = [name for name, value in (("--sandbox", sandbox), ("--stack", stack), ("--outputs", outputs)) if value]
    if len(chosen) > 1:
        raise OrderctlError(f"choose one target, not {' and '.join(chosen)}")
    if stack:
        return stack_target(stack)
    if outputs:
        return outputs_target(outputs)
    return sandbox_target(sandbox or DEFAULT_STATE_DIR)
