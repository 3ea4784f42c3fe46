"""The capacity model's rules: each one as AWS states it, and the stack's config read as the program reads it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from capacity.model import (
    ESM_INITIAL_CONCURRENCY,
    ESM_MAX_CONCURRENCY,
    ESM_SCALE_UP_PER_MINUTE,
    MAXIMUM_CONCURRENCY_RANGE,
    NEW_TABLE_WRITE_UNITS,
    SQS_IN_FLIGHT_MAX,
    TABLE_WRITE_QUOTA_DEFAULT,
    Prices,
    ServiceTimes,
    StackSettings,
    cost_per_million,
    dynamodb_item_bytes,
    instant_write_limit,
    limits,
    recommended_visibility_timeout,
    sns_publish_quota,
    sustainable_rate,
    write_units,
)
from infra.config import INT_RANGES
from infra.config import recommended_visibility_timeout as programs_visibility

TIMES = ServiceTimes(
    batches_ms={1024: {1: 15.0, 10: 40.0}, 256: {1: 25.0, 10: 200.0}},
    p99_ms={1024: {1: 20.0, 10: 60.0}, 256: {1: 40.0, 10: 300.0}},
    log_bytes_per_order=400.0,
    log_bytes_per_invocation=300.0,
    item_bytes=700.0,
)


def test_the_published_figures() -> None:
    assert (ESM_INITIAL_CONCURRENCY, ESM_SCALE_UP_PER_MINUTE, ESM_MAX_CONCURRENCY) == (5, 300, 1250)
    assert NEW_TABLE_WRITE_UNITS == 4000
    assert TABLE_WRITE_QUOTA_DEFAULT == 40_000
    assert SQS_IN_FLIGHT_MAX == 120_000
    assert sns_publish_quota("us-east-1") == 30_000
    assert sns_publish_quota("eu-central-1") == 1_500


def test_maximum_concurrency_range_is_the_programs() -> None:
    rule = INT_RANGES["maximumConcurrency"]
    assert (rule.low, rule.high) == MAXIMUM_CONCURRENCY_RANGE


def test_the_visibility_derivation_is_the_programs() -> None:
    for timeout, window in ((30, 0), (3, 1), (900, 300)):
        assert recommended_visibility_timeout(timeout, window) == programs_visibility(timeout, window)


def test_write_units_per_started_kilobyte() -> None:
    assert write_units(1) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert write_units(3000) == 3


def test_item_size_counts_names_and_values() -> None:
    item = {"orderId": {"S": "ab"}, "quantity": {"N": "12"}, "ok": {"BOOL": True}}
    assert dynamodb_item_bytes(item) == (7 + 2) + (8 + 2) + (2 + 1)
    nested = {"m": {"M": {"k": {"S": "v"}}}, "l": {"L": [{"N": "1"}]}}
    assert dynamodb_item_bytes(nested) == (1 + 3 + 1 + 1 + 1) + (1 + 3 + 1 + 2)


def test_service_time_interpolates_records_and_memory() -> None:
    assert TIMES.batch_ms(1024, 10) == 40.0
    assert TIMES.batch_ms(1024, 5.5) == pytest.approx(27.5)
    assert TIMES.batch_ms(640, 10) == pytest.approx(120.0)
    assert TIMES.batch_ms(4096, 10) == 40.0  # clamped above the largest measured size
    assert TIMES.batch_ms(128, 1) == 25.0


def test_stack_settings_from_config_derive_visibility() -> None:
    config = {"order-pipeline:maximumConcurrency": "20", "order-pipeline:functionTimeoutSeconds": "30",
              "order-pipeline:visibilityTimeoutSeconds": "0", "aws:region": "us-west-2"}  # fmt: skip
    settings = StackSettings.from_config(config, "prod")
    assert settings.maximum_concurrency == 20
    assert settings.visibility_timeout_seconds == 180
    assert settings.region == "us-west-2"
    warm = StackSettings.from_config({**config, "order-pipeline:tableWarmWriteUnits": "12000"}, "p")
    assert warm.warm_write_units == 12000


def test_the_mapping_caps_concurrency_before_lambda() -> None:
    settings = StackSettings("dev", maximum_concurrency=5)
    first = sustainable_rate(settings, TIMES)
    assert first.name == "mapping maximum concurrency"
    # 5 batches of 10, each 40 ms plus 20 ms of receive and delete
    assert first.orders_per_second == pytest.approx(5 * 10 / 0.060)


def test_without_a_maximum_the_account_concurrency_binds_before_the_mappings_1250() -> None:
    settings = StackSettings("x", maximum_concurrency=None)
    names = [limit.name for limit in limits(settings, TIMES)]
    assert names.index("Lambda account concurrency") < names.index("mapping ceiling")


def test_reserved_concurrency_is_the_lambda_ceiling() -> None:
    settings = StackSettings("x", maximum_concurrency=None, reserved_concurrency=50)
    assert settings.lambda_ceiling == 50
    assert sustainable_rate(settings, TIMES).name == "Lambda reserved concurrency"


def test_instant_write_throughput_new_table_warm_and_previous_peak() -> None:
    new = StackSettings("x")
    assert new.instant_write_units == 4000
    assert replace(new, warm_write_units=20_000).instant_write_units == 20_000
    assert replace(new, table_previous_peak_write_units=3000).instant_write_units == 6000
    assert replace(new, warm_write_units=90_000).instant_write_units == 40_000  # the table quota
    assert instant_write_limit(new, TIMES).orders_per_second == 4000  # 700-byte items: 1 WRU each


def test_cost_lines_cover_every_service_and_use_the_dated_prices() -> None:
    prices = Prices.load()
    assert prices.raw["read"] == "2026-12-03"
    for key in prices.raw["prices"]:
        assert prices.entry(key)["source"].startswith("https://")
    lines = cost_per_million(StackSettings("prod", maximum_concurrency=20), TIMES, prices, rate=2000)
    services = {line.service for line in lines}
    assert services == {"SNS", "SQS", "Lambda", "DynamoDB", "CloudWatch Logs"}
    by_item = {line.item: line for line in lines}
    assert by_item["publishes (64 KB chunks)"].usd_per_million_orders == pytest.approx(0.50)
    assert by_item["on-demand writes (1 WRU each)"].usd_per_million_orders == pytest.approx(0.625)
    assert by_item["requests"].units_per_million == pytest.approx(100_000)  # full batches of 10
    half = {line.item: line for line in cost_per_million(StackSettings("p"), TIMES, prices, rate=2000, fill=5)}
    assert half["requests"].units_per_million == pytest.approx(200_000)
    logs = by_item["ingestion"].units_per_million
    assert logs == pytest.approx((1e6 * 400 + 1e5 * 300) / 1024**3)


def test_the_data_files_parse() -> None:
    times = ServiceTimes.load()
    assert 1024 in times.memories
    assert times.item_bytes > 0
    assert times.log_bytes_per_order > 0
    assert json.loads((__import__("capacity.model").model.SERVICE_TIMES_FILE).read_text())["command"] == (
        "python -m bench.service_times"
    )
