"""`orderctl dlq list` names the reason for an order the function itself failed on: the handler never ran
(its module could not be imported), it ran past the timeout, or its process died.

On AWS nothing in SQS says why a message was dead-lettered, and the processor logs nothing when the
function fails before or around it; what does say is the function's log group. Lambda writes, per
invocation, its platform records (JSON format: `platform.start` and `platform.report`, whose `status` is
"error" or "timeout" and whose `errorType` names the error; Text: START, END and REPORT with `Status:`),
and the runtime writes its error record (`{"errorType": "Runtime.ImportModuleError", "errorMessage":
"Unable to import module ...", ...}`, at level ERROR). Sources: Lambda's "Using the Lambda JSON log
format" and "Log-level filtering" pages (platform records are system logs, filtered by the system log
level, not the application one) and the Telemetry API's schema reference (`platform.report`'s `status`
and `errorType`); the runtime's record is what awslambdaric's `log_error` writes.

Each case deploys a variant of the program whose handler fails one way, publishes the seeds' order, waits
for it in the DLQ, and reads `orderctl dlq list --json` in another process, at the application log levels
ERROR (which drops the processor's own lines below ERROR) and DEBUG.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from orderctl.samples import SEED_ORDER
from sandbox.cgroups import cgroups_unavailable
from sandbox.runner import Sandbox
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, eventually
from tests.e2e.test_orderctl import orderctl

# The program as shipped, with the handler package replaced by `app.py` (handler.app.lambda_handler).
_PROGRAM = """\
from pathlib import Path

import pulumi

from infra import PIPELINE_NAME, OrderPipeline, OrderPipelineArgs, load_config

pipeline = OrderPipeline(PIPELINE_NAME, OrderPipelineArgs(config=load_config(), project_dir=Path(__file__).parent))
for name, value in pipeline.stack_outputs.items():
    pulumi.export(name, value)
"""

MISSING_MODULE = "import moto  # not in the archive\n\n\ndef lambda_handler(event, context):\n    return None\n"
SLEEPS_PAST_THE_TIMEOUT = "import time\n\n\ndef lambda_handler(event, context):\n    time.sleep(30)\n"
EXITS = "import os\n\n\ndef lambda_handler(event, context):\n    os._exit(3)\n"
OUT_OF_MEMORY = textwrap.dedent(
    """\
    def lambda_handler(event, context):
        hoard = []
        while True:
            hoard.append(bytearray(16 * 2**20))
            hoard[-1][::4096] = b"x" * len(hoard[-1][::4096])  # touched, so it is resident
    """
)


def _variant(directory: Path, app: str) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_DIR / name, directory / name)
    (directory / "__main__.py").write_text(_PROGRAM)
    (directory / "handler").mkdir()
    (directory / "handler" / "__init__.py").write_text("")
    (directory / "handler" / "app.py").write_text(app)
    return directory


def _dead_lettered(tmp_path: Path, app: str, log_level: str, **overrides: str) -> dict[str, Any]:
    """The seeds' order, published to a variant whose handler is `app`, as `dlq list --json` shows it."""
    (tmp_path / "program").mkdir()
    program = _variant(tmp_path / "program", app)
    state = tmp_path / "state"
    config = {**E2E_OVERRIDES, "logLevel": log_level, **overrides}
    with Sandbox(program, "dev", config, state_dir=state) as sandbox:
        sandbox.client("sns").publish(TopicArn=sandbox.outputs["topicArn"], Message=json.dumps(SEED_ORDER))

        def listed() -> list[dict[str, Any]]:
            """the order in the DLQ"""
            result = orderctl("dlq", "list", "--json", "--sandbox", str(state))
            assert result.code == 0, result.err
            return [letter for letter in json.loads(result.out) if '"1001"' in letter["order"]]

        found: list[dict[str, Any]] = eventually(listed, timeout=90, interval=1)
        [letter] = found
        table = orderctl("dlq", "list", "--sandbox", str(state))
        assert table.code == 0, table.err
        letter["table"] = table.out
    return letter


LEVELS = ["ERROR", "DEBUG"]


@pytest.mark.parametrize("log_level", LEVELS)
def test_a_missing_module_is_the_reason(tmp_path: Path, log_level: str) -> None:
    letter = _dead_lettered(tmp_path, MISSING_MODULE, log_level)
    reason = "Runtime.ImportModuleError: Unable to import module 'handler.app': No module named 'moto'"
    assert letter["reason"] == reason
    assert [a["attempt"] for a in letter["attempts"]] == [1, 2, 3]  # maxReceiveCount: 3 receives
    assert {a["failure"] for a in letter["attempts"]} == {"function"}
    assert reason in letter["table"]


@pytest.mark.parametrize("log_level", LEVELS)
def test_a_timeout_is_the_reason(tmp_path: Path, log_level: str) -> None:
    letter = _dead_lettered(tmp_path, SLEEPS_PAST_THE_TIMEOUT, log_level)
    assert letter["reason"] == "Task timed out after 2.00 seconds"
    assert len(letter["attempts"]) == 3


@pytest.mark.parametrize("log_level", LEVELS)
def test_a_crash_is_the_reason(tmp_path: Path, log_level: str) -> None:
    letter = _dead_lettered(tmp_path, EXITS, log_level)
    assert letter["reason"] == "Runtime.ExitError: Runtime exited with error: exit status 3"
    assert len(letter["attempts"]) == 3


@pytest.mark.skipif(cgroups_unavailable() is not None, reason="no memory limit here: the function cannot run out")
def test_running_out_of_memory_is_the_reason(tmp_path: Path) -> None:
    # Lambda kills an environment over its memory size with SIGKILL and reports Runtime.ExitError with
    # "signal: killed" (Lambda's "Troubleshoot invocation issues": "Error: Runtime exited with error: signal: killed").
    letter = _dead_lettered(tmp_path, OUT_OF_MEMORY, "ERROR", functionMemoryMb="128")
    assert letter["reason"] == "Runtime.ExitError: Runtime exited with error: signal: killed"
