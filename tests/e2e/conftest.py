from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orderctl.pipeline import Pipeline
from orderctl.target import Target
from sandbox.iam import fetch_ledger, report
from sandbox.runner import Sandbox

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Short timeouts so retries take seconds: a transient failure comes back after 3 s.
E2E_OVERRIDES = {"functionTimeoutSeconds": "2", "visibilityTimeoutSeconds": "3"}


def eventually(condition: Callable[[], Any], timeout: float = 30, interval: float = 0.2) -> Any:
    """Waits for `condition()` to be truthy and returns it; fails the test with what it last saw."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, f"not true within {timeout} s: {condition.__doc__ or condition}"
            return value
        time.sleep(interval)


class Running:
    """The sandbox under test and the operations on it."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.outputs = sandbox.outputs
        self.pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
        self.faults = sandbox.faults

    def publish(self, *orders: dict[str, Any] | str) -> list[str]:
        return self.pipeline.publish(order if isinstance(order, str) else json.dumps(order) for order in orders)

    def stored(self, order_id: str) -> dict[str, Any] | None:
        return self.pipeline.order(order_id)

    def dead_letter(self, marker: str) -> Any:
        """The DLQ message whose order text contains `marker`, once it is there."""
        return next((d for d in self.pipeline.dead_letters() if marker in d.order_text), None)

    def log_lines(self, **match: Any) -> list[dict[str, Any]]:
        self.sandbox.flush_logs()
        events = self.sandbox.client("logs").filter_log_events(logGroupName=self.outputs["logGroupName"])["events"]
        lines = [json.loads(event["message"]) for event in events]
        return [line for line in lines if all(line.get(key) == value for key, value in match.items())]


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as sandbox:
        yield Running(sandbox)


@pytest.fixture(autouse=True)
def _no_faults_left_over(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "running" in request.fixturenames:
        request.getfixturevalue("running").faults.clear()


def role_of(running: Running) -> tuple[str, str]:
    deployment = running.sandbox.deployment
    assert deployment is not None
    [function] = deployment.functions.values()
    return function.role_arn, function.role_arn.rsplit("/", 1)[-1]


@contextmanager
def without_grant(running: Running, action: str) -> Iterator[None]:
    """The role's inline policy with `action` taken out, as a variant of the program would deploy it; put
    back afterwards."""
    _, role_name = role_of(running)
    iam = running.sandbox.client("iam")
    [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    granted = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    without = json.loads(json.dumps(granted))
    for statement in without["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action]
    assert without != granted, f"the role does not grant {action}"
    iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(without))
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=role_name, PolicyName=policy_name, PolicyDocument=json.dumps(granted))


def expected_denial(role_name: str, action: str, resource: str) -> str:
    """AWS's denial for the function's session, up to its reason; spelled out here, not taken from sandbox.iam."""
    return (
        f"User: arn:aws:sts::123456789012:assumed-role/{role_name}/sandbox-lambda is not authorized to perform: "
        f"{action} on resource: {resource}"
    )


def denied_calls(running: Running, since: float) -> list[tuple[str, str]]:
    """The role's distinct denied calls since `since` (the ledger's clock: time.time())."""
    role_arn, _ = role_of(running)
    calls = [call for call in fetch_ledger(running.sandbox.endpoint.url) if call.at >= since]
    return [(call.action, call.resource) for call in report(role_arn, [], calls).denied]
