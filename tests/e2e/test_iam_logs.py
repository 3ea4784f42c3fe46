"""Lambda writes a function's logs with its execution role: a role without the log grants loses the lines,
and the function works on. Each case needs a sandbox of its own, whose role loses the grant before the first
environment creates its log stream (one sandbox per process, so not beside test_iam.py's)."""

from __future__ import annotations

import pytest

from contract.permissions import LOG_ACTIONS
from orderctl.samples import SEED_ORDER
from sandbox.runner import Sandbox
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, Running, denied_calls, eventually, without_grant


@pytest.mark.parametrize("action", LOG_ACTIONS)
def test_without_a_log_permission_the_function_still_stores_but_its_lines_are_lost(action: str) -> None:
    # A sandbox of its own: the role loses the action before the first environment creates its stream.
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as sandbox:
        fresh = Running(sandbox)
        with without_grant(fresh, action):
            fresh.publish({**SEED_ORDER, "orderId": "iam-no-logs"})
            eventually(lambda: fresh.stored("iam-no-logs"))
            sandbox.flush_logs()
            events = sandbox.client("logs").filter_log_events(logGroupName=fresh.outputs["logGroupName"])["events"]
            assert events == []
        denied = denied_calls(fresh, 0)
        assert {called for called, _ in denied} == {action}, denied
        group_arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{fresh.outputs['logGroupName']}:log-stream:"
        assert all(resource.startswith(group_arn) for _, resource in denied), denied
