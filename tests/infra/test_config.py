"""Stack config is validated before any resource exists; each error names key, value, range and reason."""

from __future__ import annotations

import logging

import pytest

from infra.config import INT_RANGES, ConfigError, PipelineConfig, parse_config
from sandbox.program import run_program, stack_config
from tests.infra.conftest import PROJECT, deploy
from tests.infra.mocks import AwsMocks

DEFAULTS = {key: value for key, value in stack_config(PROJECT, "dev").items() if key.startswith("order-pipeline:")}


def parse(**overrides: str) -> PipelineConfig:
    raw = {key.removeprefix("order-pipeline:"): value for key, value in DEFAULTS.items()}
    raw.update(overrides)
    return parse_config(raw, "dev")


def test_project_defaults_parse_to_the_documented_pipeline() -> None:
    config = parse()
    assert (config.max_receive_count, config.batch_size, config.batching_window_seconds) == (3, 10, 0)
    assert (config.function_timeout_seconds, config.visibility_timeout_seconds) == (30, 180)
    assert (config.point_in_time_recovery, config.deletion_protection, config.raw_message_delivery) == (
        True,
        False,
        False,
    )
    assert config.topic_kms_key_id == "alias/aws/sns"
    assert config.alarm_emails == ()
    assert config.warnings == ()


# (key, bad value, fragments the message must contain: the value, the allowed range, the reason)
BAD_CONFIG = [
    ("batchSize", "0", ["batchSize", "0", "1..10000", "at most 10000 records per batch"]),
    ("batchSize", "10001", ["batchSize", "10001", "1..10000", "standard queue"]),
    ("batchingWindowSeconds", "301", ["batchingWindowSeconds", "301", "0..300", "at most 300 seconds"]),
    ("batchingWindowSeconds", "-1", ["batchingWindowSeconds", "-1", "0..300", "at most 300 seconds"]),
    ("maximumConcurrency", "1", ["maximumConcurrency", "1", "2..1000", "MaximumConcurrency accepts 2 to 1000"]),
    ("maximumConcurrency", "1001", ["maximumConcurrency", "1001", "2..1000", "MaximumConcurrency"]),
    ("maxReceiveCount", "0", ["maxReceiveCount", "0", "1..1000", "maxReceiveCount of 1 to 1000"]),
    ("maxReceiveCount", "1001", ["maxReceiveCount", "1001", "1..1000", "redrive policy"]),
    ("functionTimeoutSeconds", "0", ["functionTimeoutSeconds", "0", "1..900", "at most 900 seconds"]),
    ("functionTimeoutSeconds", "901", ["functionTimeoutSeconds", "901", "1..900", "at most 900 seconds"]),
    ("functionMemoryMb", "127", ["functionMemoryMb", "127", "128..10240", "128 to 10240 MB"]),
    ("functionMemoryMb", "10241", ["functionMemoryMb", "10241", "128..10240", "128 to 10240 MB"]),
    ("logRetentionDays", "10", ["logRetentionDays", "10", "one of 1, 3, 5, 7, 14", "only these retention"]),
    ("logRetentionDays", "0", ["logRetentionDays", "0", "1..3653", "1 day to 10 years"]),
    ("logLevel", "VERBOSE", ["logLevel", "VERBOSE", "one of DEBUG, INFO, WARN, ERROR", "log level filter"]),
    ("visibilityTimeoutSeconds", "43201", ["visibilityTimeoutSeconds", "43201", "0..43200", "12 hours"]),
    ("visibilityTimeoutSeconds", "-1", ["visibilityTimeoutSeconds", "-1", "0..43200", "12 hours"]),
    ("logRetentionDays", "3654", ["logRetentionDays", "3654", "1..3653", "1 day to 10 years"]),
    ("visibilityTimeoutSeconds", "20", ["visibilityTimeoutSeconds", "20", "at least 30", "rejects the event source"]),
    ("batchSize", "ten", ["batchSize", "ten", "an integer", "does not parse"]),
    ("pointInTimeRecovery", "yes", ["pointInTimeRecovery", "yes", "true or false", "does not parse"]),
    ("alarmEmails", '"ops@example.com"', ["alarmEmails", "a JSON list of strings", "does not parse"]),
    ("alarmEmails", '["not-an-address"]', ["alarmEmails", "not-an-address", "e-mail addresses", "subscription"]),
    ("topicKmsKeyId", " ", ["topicKmsKeyId", "a non-empty string", "must be encrypted"]),
    ("backlogAgeAlarmSeconds", "-1", ["backlogAgeAlarmSeconds", "-1", "0..345600", "retention of 4 days"]),
    ("backlogAgeAlarmSeconds", "345601", ["backlogAgeAlarmSeconds", "345601", "0..345600", "no order is ever older"]),
    ("tableWarmWriteUnits", "-1", ["tableWarmWriteUnits", "-1", "0..40000", "at least 4000"]),
    ("tableWarmWriteUnits", "40001", ["tableWarmWriteUnits", "40001", "0..40000", "table-level write quota"]),
    ("tableWarmWriteUnits", "3999", ["tableWarmWriteUnits", "3999", "0 (unset) or 4000..40000", "at least 4000"]),
]


@pytest.mark.parametrize(("key", "value", "fragments"), BAD_CONFIG, ids=[f"{k}={v}" for k, v, _ in BAD_CONFIG])
def test_bad_config_names_key_value_range_and_reason(key: str, value: str, fragments: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(**{key: value})
    message = str(raised.value)
    assert f"order-pipeline:{key} = " in message
    for fragment in fragments:
        assert fragment in message


def test_every_integer_rule_is_tested_below_and_above_its_range() -> None:
    tested = {(key, int(value)) for key, value, _ in BAD_CONFIG if value.lstrip("-").isdigit()}
    for key, rule in INT_RANGES.items():
        assert any(k == key and v < rule.low for k, v in tested), f"{key}: no case below {rule.low}"
        assert any(k == key and v > rule.high for k, v in tested), f"{key}: no case above {rule.high}"


def test_table_warm_write_units_unset_or_within_dynamodbs_range() -> None:
    assert parse().table_warm_write_units == 0
    assert parse(tableWarmWriteUnits="4000").table_warm_write_units == 4000
    assert parse(tableWarmWriteUnits="40000").table_warm_write_units == 40000


def test_batch_above_ten_needs_a_batching_window() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(batchSize="11", batchingWindowSeconds="0")
    assert "order-pipeline:batchingWindowSeconds = 0" in str(raised.value)
    assert "1..300 when batchSize (11) is above 10" in str(raised.value)
    assert parse(batchSize="11", batchingWindowSeconds="1").batch_size == 11
    assert parse(batchSize="10", batchingWindowSeconds="0").batch_size == 10


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(batchSize="0", maximumConcurrency="1", functionMemoryMb="64")
    message = str(raised.value)
    assert all(key in message for key in ("batchSize", "maximumConcurrency", "functionMemoryMb"))


def test_a_missing_key_is_an_error_naming_it() -> None:
    raw = {key.removeprefix("order-pipeline:"): value for key, value in DEFAULTS.items() if "batchSize" not in key}
    with pytest.raises(ConfigError, match=r"order-pipeline:batchSize is not set"):
        parse_config(raw, "dev")


def test_visibility_timeout_defaults_to_six_times_the_timeout_plus_window() -> None:
    config = parse(functionTimeoutSeconds="20", batchSize="20", batchingWindowSeconds="7")
    assert config.visibility_timeout_seconds == 6 * 20 + 7
    assert config.warnings == ()


def test_visibility_timeout_below_timeout_plus_window_is_an_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(functionTimeoutSeconds="30", batchSize="20", batchingWindowSeconds="5", visibilityTimeoutSeconds="34")
    assert "at least 35 (functionTimeoutSeconds 30 + batchingWindowSeconds 5)" in str(raised.value)
    edge = parse(functionTimeoutSeconds="30", batchSize="20", batchingWindowSeconds="5", visibilityTimeoutSeconds="35")
    assert edge.visibility_timeout_seconds == 35


def test_visibility_timeout_below_the_recommendation_is_a_warning() -> None:
    config = parse(functionTimeoutSeconds="30", visibilityTimeoutSeconds="60")
    assert config.visibility_timeout_seconds == 60
    [warning] = config.warnings
    assert "visibilityTimeoutSeconds = 60 is below AWS's recommended 180" in warning
    assert parse(functionTimeoutSeconds="30", visibilityTimeoutSeconds="180").warnings == ()


def test_a_bad_config_fails_the_preview_before_any_resource_is_declared() -> None:
    mocks = AwsMocks()
    config = stack_config(PROJECT, "dev", {"batchSize": "20000"})
    with pytest.raises(ConfigError, match=r"order-pipeline:batchSize = 20000 is invalid: allowed 1..10000"):
        run_program(PROJECT, "dev", config, mocks, preview=True)
    assert mocks.resources == []


def test_the_visibility_warning_reaches_the_pulumi_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        deploy("dev", visibilityTimeoutSeconds="60")
    assert any("below AWS's recommended 180" in record.getMessage() for record in caplog.records)


def test_the_backlog_alarm_threshold_derives_from_the_oldest_age_a_retried_order_reaches() -> None:
    # dev: visibility 180 s (6 x 30), no window, maxReceiveCount 3: an order failing twice is received a
    # third time 2 x 180 s after its first receive, then may run for the 30 s timeout.
    assert parse().backlog_age_alarm_seconds == 2 * 180 + 30
    # One receive only: nothing is retried, so the oldest healthy age is the window plus the timeout.
    assert parse(maxReceiveCount="1").backlog_age_alarm_seconds == 30
    # SQS's metric stops counting a message after three receives, so more receives do not raise it.
    assert parse(maxReceiveCount="10").backlog_age_alarm_seconds == 2 * 180 + 30
    windowed = parse(batchSize="20", batchingWindowSeconds="5")
    assert windowed.backlog_age_alarm_seconds == 2 * (6 * 30 + 5) + 3 * 5 + 30
    assert parse(backlogAgeAlarmSeconds="900").backlog_age_alarm_seconds == 900


def test_a_backlog_threshold_below_a_retried_orders_age_warns_that_one_failure_fires_it() -> None:
    config = parse(backlogAgeAlarmSeconds="60")
    assert config.backlog_age_alarm_seconds == 60
    [warning] = config.warnings
    assert "backlogAgeAlarmSeconds = 60 is below 390" in warning


def test_a_stack_name_that_overflows_the_function_name_is_refused_with_the_limit() -> None:
    longest = "s" * (64 - len("order-pipeline--processor"))
    assert parse_config(_defaults(), longest).function_name == f"order-pipeline-{longest}-processor"
    with pytest.raises(ConfigError) as raised:
        parse_config(_defaults(), longest + "s")
    message = str(raised.value)
    assert f"stack name '{longest}s'" in message
    assert "at most 39 characters" in message
    assert "at most 64" in message
    assert "(65 characters)" in message
    with pytest.raises(ConfigError, match=r"letters, digits, hyphens and underscores"):
        parse_config(_defaults(), "dev.eu")  # a period is a legal stack name, not a legal function name


def test_the_function_name_carries_project_and_stack_so_two_projects_never_collide() -> None:
    assert parse_config(_defaults(), "dev", "order-pipeline").function_name == "order-pipeline-dev-processor"
    assert parse_config(_defaults(), "dev", "orders-eu").function_name == "orders-eu-dev-processor"


def test_a_protected_stack_without_an_alarm_subscriber_is_warned_about() -> None:
    [warning] = parse(deletionProtection="true").warnings
    assert "alarmEmails is empty on a protected stack" in warning
    assert "notify nobody" in warning
    assert parse(deletionProtection="true", alarmEmails='["ops@example.com"]').warnings == ()
    assert parse(deletionProtection="false").warnings == ()


def _defaults() -> dict[str, str]:
    return {key.removeprefix("order-pipeline:"): value for key, value in DEFAULTS.items()}
