"""`orderctl capacity` through click's CliRunner: the answers for the shipped stacks, JSON and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orderctl.capacity import parse_duration, parse_rate
from orderctl.cli import cli

PROJECT_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["capacity", "--project-dir", str(PROJECT_DIR), *args])


def test_rates_and_durations() -> None:
    assert parse_rate("10000/s") == 10_000
    assert parse_rate("10,000") == 10_000
    assert parse_rate("600000/min") == 10_000
    assert parse_duration("5m") == 300
    assert parse_duration("300") == 300
    assert parse_duration("1h") == 3600
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate("fast")


def test_a_bad_rate_is_a_usage_error() -> None:
    result = run("--stack", "dev", "--rate", "lots")
    assert result.exit_code == 2
    assert "not a rate" in result.stderr


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_json_answers_every_question_for_the_shipped_stacks(stack: str) -> None:
    result = run("--stack", stack, "--rate", "10000/s", "--burst", "5m", "--baseline", "2000/s", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["sustainable_orders_per_second"] > 0
    assert found["first_limit"]["source"].startswith("https://docs.aws.amazon.com/")
    assert found["first_limit"]["read"] == "2026-12-03"
    assert {line["service"] for line in found["cost_per_million_orders"]["lines"]} == {
        "SNS", "SQS", "Lambda", "DynamoDB", "CloudWatch Logs"
    }  # fmt: skip
    assert found["outcome"]["max_age_seconds"] > 0
    if not found["meets_target"]:
        keys = {change["key"] for change in found["smallest_change"]}
        assert "maximumConcurrency" in keys or found["unreachable"]
        assert found["outcome_after_change"]["max_age_seconds"] <= 60


def test_prod_as_shipped_meets_its_stated_target() -> None:
    """README: prod is set for 2,000 orders/s sustained and 10,000/s for 5 minutes, the oldest order under 60 s."""
    result = run("--stack", "prod", "--rate", "10000/s", "--burst", "5m", "--baseline", "2000/s", "--json")
    found = json.loads(result.stdout)
    assert found["meets_target"], found["outcome"]
    assert found["smallest_change"] == []
    assert found["quota_increases"] == []


def test_the_table_names_the_first_limit_the_cost_and_the_change() -> None:
    result = run("--stack", "dev", "--rate", "5000/s")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Sustainable:" in text
    assert "first limit: mapping maximum concurrency" in text
    assert "Cost per million orders" in text
    assert "Smallest config change that meets the target" in text
    assert "maximumConcurrency" in text


def test_memory_and_account_concurrency_overrides() -> None:
    result = run("--stack", "dev", "--rate", "100/s", "--memory", "256", "--account-concurrency", "50", "--json")
    found = json.loads(result.stdout)
    assert found["settings"]["memory_mb"] == 256
    assert found["settings"]["account_concurrency"] == 50
