"""`orderctl sandbox up` in its own process, answering boto3 and the orderctl commands from others."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from orderctl.samples import SEED_ORDER
from sandbox.emulator import free_port
from tests.e2e.conftest import E2E_OVERRIDES, PROJECT_DIR, eventually

ORDERCTL = [sys.executable, "-m", "orderctl.cli"]


@dataclass
class Result:
    code: int
    out: str
    err: str


def orderctl(*args: str, cwd: Path = PROJECT_DIR) -> Result:
    wide = {**os.environ, "COLUMNS": "400"}  # tables unwrapped, so a test can read a row
    finished = subprocess.run(
        [*ORDERCTL, *args], cwd=cwd, env=wide, capture_output=True, text=True, timeout=120, check=False
    )
    return Result(finished.returncode, finished.stdout, finished.stderr)


@dataclass
class Served:
    process: subprocess.Popen[str]
    state_dir: Path
    endpoint: str
    outputs: dict[str, str]

    def args(self) -> list[str]:
        return ["--sandbox", str(self.state_dir)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    state_dir = tmp_path_factory.mktemp("sandbox-state")
    config = [arg for key, value in E2E_OVERRIDES.items() for arg in ("--config", f"{key}={value}")]
    process = subprocess.Popen(
        [*ORDERCTL, "sandbox", "up", "--port", str(free_port()), "--state-dir", str(state_dir), *config],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready = ""
    for line in process.stdout:
        if line.startswith("ready "):
            ready = line
            break
    assert ready, f"sandbox up ended before it was ready: {process.stderr.read() if process.stderr else ''}"
    outputs = json.loads((state_dir / "outputs.json").read_text())
    endpoint = outputs.pop("endpoint")
    assert ready.split()[1] == endpoint
    yield Served(process, state_dir, endpoint, outputs)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_sandbox_up_answers_a_boto3_client_in_another_process(served: Served) -> None:
    assert set(served.outputs) >= {"tableName", "topicArn", "queueUrl", "deadLetterQueueUrl", "logGroupName"}
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    sns = session.client("sns", endpoint_url=served.endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=served.endpoint)
    order = {**SEED_ORDER, "orderId": "from-another-process"}
    sns.publish(TopicArn=served.outputs["topicArn"], Message=json.dumps(order))
    item = eventually(
        lambda: dynamodb.get_item(TableName=served.outputs["tableName"], Key={"orderId": {"S": order["orderId"]}}).get(
            "Item"
        )
    )
    assert item["quantity"] == {"N": "2"}


def test_publish_then_get_and_list(served: Served) -> None:
    order = {**SEED_ORDER, "orderId": "cli-1"}
    published = orderctl("publish", "--order", json.dumps(order), *served.args())
    assert published.code == 0, published.err
    assert "published 1 order(s)" in published.out
    got = eventually(lambda: (r := orderctl("orders", "get", "cli-1", *served.args())).code == 0 and r)
    stored = json.loads(got.out)
    assert (stored["orderId"], stored["quantity"], stored["_pipeline"]["deliveredVia"]) == ("cli-1", 2, "sns-envelope")
    samples = orderctl("publish", "--sample", "5", *served.args())
    assert samples.code == 0, samples.err
    listed = eventually(
        lambda: (r := orderctl("orders", "list", "--limit", "50", *served.args())).out.count("ord-") >= 5 and r
    )
    assert "cli-1" in listed.out


def test_an_invalid_order_is_refused_with_the_reason_unless_raw(served: Served) -> None:
    refused = orderctl("publish", "--order", '{"orderId": "cli-bad", "quantity": 0}', *served.args())
    assert refused.code == 1
    assert refused.err.strip().count("\n") == 0
    assert "quantity: must be an integer of at least 1" in refused.err
    assert "--raw" in refused.err
    not_json = orderctl("publish", "--order", "{nope", *served.args())
    assert (not_json.code, "body: is not JSON" in not_json.err) == (1, True)

    forced = orderctl("publish", "--raw", "--order", '{"orderId": "cli-bad", "quantity": 0}', *served.args())
    assert forced.code == 0, forced.err


def test_dlq_list_redrive_and_purge(served: Served) -> None:
    orderctl("publish", "--raw", "--order", '{"orderId": "cli-dlq", "quantity": 0}', *served.args())
    listed = eventually(lambda: (r := orderctl("dlq", "list", *served.args())).out.count("cli-dlq") and r, timeout=40)
    assert "quantity: must be an integer of at least 1" in listed.out
    for _ in range(2):  # listing receives the messages: the count reported must not grow with it
        as_json = json.loads(orderctl("dlq", "list", "--json", *served.args()).out)
        [letter] = [letter for letter in as_json if "cli-dlq" in letter["order"]]
        assert [attempt["attempt"] for attempt in letter["attempts"]] == [1, 2, 3]
        assert letter["receiveCount"] == 3
        assert letter["reason"].startswith("invalid order: quantity")

    no = orderctl("dlq", "purge", *served.args())
    assert (no.code, "--yes" in no.err) == (1, True)

    redriven = orderctl("dlq", "redrive", "--max", "1", *served.args())
    assert redriven.code == 0, redriven.err
    assert "moved 1 message(s) back to the order queue (receive, send, delete)" in redriven.out

    purged = orderctl("dlq", "purge", "--yes", *served.args())
    assert purged.code == 0, purged.err
    status = orderctl("status", *served.args())
    assert status.code == 0, status.err
    assert "dead-letter queue" in status.out
    assert "alarm orders-dlq-depth-" in status.out  # auto-named: the logical name and a random suffix


def test_a_second_sandbox_up_on_the_same_state_dir_is_refused_and_the_first_keeps_serving(served: Served) -> None:
    second = orderctl("sandbox", "up", "--port", str(free_port()), "--state-dir", str(served.state_dir))
    assert second.code == 1
    assert second.err.strip().count("\n") == 0, second.err
    assert f"another sandbox (pid {served.process.pid}) is running with state dir {served.state_dir}" in second.err
    assert json.loads((served.state_dir / "outputs.json").read_text())["endpoint"] == served.endpoint
    assert orderctl("status", *served.args()).code == 0


def test_sandbox_down_stops_it_cleanly_and_says_so_when_none_runs(served: Served) -> None:
    down = orderctl("sandbox", "down", "--state-dir", str(served.state_dir))
    assert down.code == 0, down.err
    assert f"stopped the sandbox (pid {served.process.pid})" in down.out
    assert served.process.wait(timeout=30) == 0  # SIGTERM: a clean stop
    assert not (served.state_dir / "outputs.json").exists()
    stopped = orderctl("status", *served.args())
    assert stopped.code == 1
    assert stopped.err.startswith("orderctl: no sandbox is running with state dir")
    again = orderctl("sandbox", "down", "--state-dir", str(served.state_dir))
    assert (again.code, again.err.strip()) == (1, f"orderctl: no sandbox is running with state dir {served.state_dir}")


def test_ctrl_c_during_the_deploy_stops_promptly_with_130_and_leaves_nothing_running(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*ORDERCTL, "sandbox", "up", "--port", str(port), "--state-dir", str(tmp_path)],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("deploying stack dev"), first
    eventually((tmp_path / "sandbox.lock").exists, timeout=30)  # the start is under way
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 130, err[-2000:]
    assert "ready" not in out
    assert not (tmp_path / "outputs.json").exists()
    with socket.socket() as probe:  # the emulator is gone with it
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    down = orderctl("sandbox", "down", "--state-dir", str(tmp_path))  # and the state dir is free
    assert "no sandbox is running" in down.err


def test_an_unusable_state_dir_is_refused_before_anything_is_deployed(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = orderctl("sandbox", "up", "--port", str(free_port()), "--state-dir", str(blocker / "state"))
    assert result.code == 1
    assert (
        result.err.strip()
        == f"orderctl: cannot use state dir {blocker / 'state'}: Not a directory; choose another with --state-dir"
    )
    assert "ready" not in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--outputs", "/nonexistent/outputs.json"], "cannot read outputs file /nonexistent/outputs.json"),
        (["status", "--sandbox", "/nonexistent"], "no sandbox is running with state dir /nonexistent"),
        (["orders", "get", "x", "--stack", "dev"], "the Pulumi CLI is not installed"),
        (["sandbox", "up", "--stack", "nope", "--port", "1"], "unknown stack 'nope'"),
        (["publish", "--sample", "0"], "Invalid value for '--sample'"),
        (["nonsense"], "No such command 'nonsense'"),
        (["publish", "--sandbox", "/nonexistent"], "give exactly one of --order JSON, --file FILE, --sample N"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_non_zero_exit(args: list[str], message: str, tmp_path: Path) -> None:
    environment_path = os.environ.get("PATH", "")
    result = subprocess.run(
        [*ORDERCTL, *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": ":".join(p for p in environment_path.split(":") if not Path(p, "pulumi").exists())},
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
