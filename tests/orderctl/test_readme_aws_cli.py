"""The README's AWS CLI example, run as written with the AWS CLI v1 against moto's server."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

README = Path(__file__).resolve().parents[2] / "README.md"
AWS = Path(sys.executable).with_name("aws")


def readme_aws_command() -> tuple[dict[str, str], list[str]]:
    """The `aws ...` command of the README's example and the variables set before it."""
    section = README.read_text().split("Any AWS client can use a running sandbox")[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's AWS CLI example is gone"
    command = next(line for line in block.group(1).replace("\\\n", " ").splitlines() if " aws " in f" {line}")
    words = shlex.split(command)
    assignments = [word for word in words if re.fullmatch(r"[A-Z_]+=.*", word)]
    return dict(word.split("=", 1) for word in assignments), words[len(assignments) :]


@pytest.fixture
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_readme_aws_cli_example_works_with_aws_cli_v1(moto_server: str, tmp_path: Path) -> None:
    variables, command = readme_aws_command()
    assert command[0] == "aws"
    command = [str(AWS), *(word.replace("http://127.0.0.1:4566", moto_server) for word in command[1:])]
    boto3.client(
        "sqs", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    ).create_queue(QueueName="orders-dev-queue")
    # Only what the example sets: no AWS_* of this machine, no ~/.aws of the user.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {"HOME": str(tmp_path), **variables}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"{moto_server}/123456789012/orders-dev-queue" in finished.stdout
    assert "aws-cli/1." in subprocess.run([str(AWS), "--version"], capture_output=True, text=True, check=True).stdout
