"""`orderctl sandbox up` in its own process, answering boto3 and the orderctl commands from others."""

from __future__ import annotations

import json
import os
import signal
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
    [row] = [line for line in listed.out.splitlines() if "cli-dlq" in line]
    assert "quantity: must be an integer of at least 1" in row
    as_json = json.loads(orderctl("dlq", "list", "--json", *served.args()).out)
    [letter] = [letter for letter in as_json if "cli-dlq" in letter["order"]]
    assert [attempt["attempt"] for attempt in letter["attempts"]] == [1, 2, 3]
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
    assert "alarm orders-dev-dlq-depth" in status.out


def test_sigterm_shuts_the_sandbox_down_cleanly(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0
    assert not (served.state_dir / "outputs.json").exists()
    stopped = orderctl("status", *served.args())
    assert stopped.code == 1
    assert stopped.err.startswith("orderctl: no sandbox is running with state dir")


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
