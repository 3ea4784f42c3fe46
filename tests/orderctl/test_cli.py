"""orderctl in-process through click's CliRunner: argument checks, one-line errors, --debug, publish."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from orderctl.cli import cli
from orderctl.samples import SEED_ORDER

REGION = "us-east-1"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    ("order_text", "rule"),
    [
        ('{"orderId": "a", "orderId": "b", "userId": "u", "quantity": 1}', "unique keys"),
        ('{"orderId": "nan-1", "userId": "u", "quantity": 1, "totalAmount": NaN}', "finite numbers"),
        ('{"orderId": "big-1", "userId": "u", "quantity": 1, "totalAmount": 1e400}', "number range"),
        ('{"orderId": "key-1", "userId": "u", "quantity": 1, "": "x"}', "key"),
    ],
    ids=["duplicate-key", "NaN", "1e400", "empty-key"],
)
def test_publish_refuses_what_the_processor_refuses_before_reaching_any_target(
    order_text: str, rule: str, tmp_path: Path
) -> None:
    result = run("publish", "--order", order_text, "--outputs", str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert result.stderr.startswith("orderctl: the order would be rejected: ")
    assert f"(rule: {rule})" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.fixture
def subscribed_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A topic with a raw-delivery queue behind it, in moto, and an outputs file naming the topic."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="orders")["TopicArn"]
        url = sqs.create_queue(QueueName="orders")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        outputs = tmp_path / "outputs.json"
        outputs.write_text(json.dumps({"topicArn": topic}))
        yield outputs, url


def test_publish_sends_an_order_the_processor_accepts_as_given(subscribed_queue: tuple[Path, str]) -> None:
    outputs, url = subscribed_queue
    text = json.dumps(SEED_ORDER)
    result = run("publish", "--order", text, "--outputs", str(outputs))
    assert result.exit_code == 0, result.output
    assert "published 1 order(s)" in result.stdout
    [message] = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == text


def test_a_failure_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = run("orders", "get", "1001", "--outputs", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert (
        result.stderr == f"orderctl: cannot read outputs file {tmp_path / 'missing.json'}: No such file or directory\n"
    )


def test_debug_shows_the_traceback_behind_the_one_line_error(tmp_path: Path) -> None:
    result = run("--debug", "orders", "get", "1001", "--outputs", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "orderctl.errors.OrderctlError: cannot read outputs file" in result.stderr
    assert result.stderr.endswith(
        f"orderctl: cannot read outputs file {tmp_path / 'missing.json'}: No such file or directory\n"
    )


def test_a_bug_is_one_line_naming_debug(subscribed_queue: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise KeyError("Item")  # stands in for a bug: no real input makes orderctl fail this way

    monkeypatch.setattr("orderctl.pipeline.Pipeline.order", broken)
    result = run("orders", "get", "1001", "--outputs", str(subscribed_queue[0]))
    assert result.exit_code == 1
    assert result.stderr == "orderctl: unexpected KeyError: 'Item' (orderctl --debug shows where)\n"


def test_two_targets_are_refused_in_one_line(tmp_path: Path) -> None:
    result = run("status", "--sandbox", str(tmp_path), "--outputs", str(tmp_path / "o.json"))
    assert result.exit_code == 1
    assert result.stderr == "orderctl: choose one target, not --sandbox and --outputs\n"


def test_the_readme_example_error_is_what_publish_prints(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [example] = re.findall(r"`(orderctl: the order would be rejected: [^`]*)`", readme)
    result = run("publish", "--order", '{"orderId": "1", "userId": "u", "quantity": 0}', "--outputs", str(tmp_path))
    assert result.stderr == example + "\n"


@pytest.fixture
def orders_table(subscribed_queue: tuple[Path, str]) -> Path:
    """The orders table in moto, named in the outputs file beside the topic."""
    outputs, _ = subscribed_queue
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(
        TableName="orders", Item={"orderId": {"S": "1001"}, "quantity": {"N": "2"}, "totalAmount": {"N": "19.99"}}
    )
    outputs.write_text(json.dumps({**json.loads(outputs.read_text()), "tableName": "orders"}))
    return outputs


def test_orders_get_prints_the_stored_order_with_exact_numbers(orders_table: Path) -> None:
    result = run("orders", "get", "1001", "--outputs", str(orders_table))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"orderId": "1001", "quantity": 2, "totalAmount": 19.99}
    assert '"totalAmount": 19.99' in result.stdout


def test_orders_get_of_a_missing_order_is_one_line_naming_the_table(orders_table: Path) -> None:
    result = run("orders", "get", "nope", "--outputs", str(orders_table))
    assert (result.exit_code, result.stderr) == (1, "orderctl: order 'nope' is not in orders\n")


def test_dlq_purge_without_yes_is_refused_before_reaching_any_target(tmp_path: Path) -> None:
    result = run("dlq", "purge", "--outputs", str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert result.stderr.startswith("orderctl: purging deletes the dead-lettered orders for good; confirm with --yes")
