"""What the sandbox refuses: a program SNS could not deliver through, and a second sandbox in one process.

Kept apart from the other e2e tests, whose module shares one running sandbox."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.deploy import DeployError
from sandbox.emulator import Endpoint
from sandbox.runner import Sandbox, SandboxBusy, StartCancelled
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR


def test_a_program_whose_queue_lacks_the_sns_policy_is_refused_at_deploy() -> None:
    program = Path(__file__).parent / "programs" / "missing_queue_policy"
    with pytest.raises(DeployError) as refused:
        Sandbox(program, "dev").start()
    message = str(refused.value)
    assert "subscription 'orders-subscription'" in message
    assert "no queue policy on orders-queue-" in message
    assert "SNS would drop every delivery silently" in message


def test_a_second_sandbox_in_the_same_process_is_refused_and_the_first_keeps_working() -> None:
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as first:
        with pytest.raises(SandboxBusy, match="already running in this process"):
            Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES).start()
        table = first.outputs["tableName"]
        assert first.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as after:  # once stopped, another may start
        assert after.outputs["tableName"]


def test_a_taken_port_fails_the_start_at_once_and_leaves_the_process_free() -> None:
    with socket.socket() as holder:  # bound, not listening: a connect probe finds the port free, a bind does not
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        outcomes: list[BaseException] = []

        def start() -> None:
            try:
                Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES, port=port).start()
            except BaseException as error:  # noqa: BLE001 (the outcome is the test's subject)
                outcomes.append(error)

        for _ in range(2):  # the second start must meet the port, not a "busy" process
            attempt = threading.Thread(target=start, daemon=True)
            attempt.start()
            attempt.join(timeout=30)
            assert not attempt.is_alive(), "the start waited forever on a port it could not bind"
        assert [type(error) for error in outcomes] == [OSError, OSError]
        assert f"port {port} on 127.0.0.1 is not available" in str(outcomes[-1])


POLL_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
ROLE_WITHOUT_POLL = Path(__file__).parent / "programs" / "role_without_poll"


@pytest.mark.parametrize("action", POLL_ACTIONS)
def test_a_role_that_cannot_poll_the_queue_gets_no_event_source_mapping(action: str) -> None:
    granted = ",".join(a for a in POLL_ACTIONS if a != action)
    with pytest.raises(DeployError) as refused:
        Sandbox(ROLE_WITHOUT_POLL, "dev", {"grantedActions": granted}).start()
    name = action.split(":")[1]
    assert f"The function execution role does not have permissions to call {name} on SQS" in str(refused.value)


def test_a_role_that_can_poll_the_queue_gets_its_mapping() -> None:
    with Sandbox(ROLE_WITHOUT_POLL, "dev") as sandbox:
        assert sandbox.deployment is not None
        assert len(sandbox.deployment.mappings) == 1


def test_a_cancelled_start_abandons_the_deploy_undoes_itself_and_leaves_the_process_free() -> None:
    with socket.socket() as finder:
        finder.bind(("127.0.0.1", 0))
        port = finder.getsockname()[1]
    cancel = threading.Event()
    sandbox = Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES, port=port, cancel=cancel)
    admin = Endpoint(f"http://127.0.0.1:{port}", sandbox.region).client("dynamodb")

    def cancel_once_the_deploy_is_under_way() -> None:  # as Ctrl-C does: from outside the start, at any time
        while not cancel.is_set():
            with suppress(BotoCoreError, ClientError):  # until the emulator answers
                if admin.list_tables()["TableNames"]:
                    cancel.set()
            time.sleep(0.01)

    canceller = threading.Thread(target=cancel_once_the_deploy_is_under_way, daemon=True)
    canceller.start()
    with pytest.raises(StartCancelled, match="the start was cancelled"):
        sandbox.start()
    canceller.join(timeout=10)
    assert sandbox.deployment is None, "the deploy ran to its end"
    with socket.socket() as probe:  # the emulator is stopped
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with Sandbox(PROJECT_DIR, "dev", E2E_OVERRIDES) as after:  # and the process is free for another
        assert after.outputs["tableName"]


def test_a_function_whose_role_lambda_cannot_assume_is_refused_as_create_function_refuses_it() -> None:
    # Issue 17, finding 1: the role's trust policy was never read. AWS Lambda API reference, CreateFunction:
    # InvalidParameterValueException, "The role defined for the function cannot be assumed by Lambda."
    with pytest.raises(ClientError, match="The role defined for the function cannot be assumed by Lambda") as refused:
        Sandbox(ROLE_WITHOUT_POLL, "dev", {"trustedService": "ec2.amazonaws.com"}).start()
    assert "InvalidParameterValueException" in str(refused.value)
