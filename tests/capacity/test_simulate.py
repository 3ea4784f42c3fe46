"""The simulation: conservation, scaling, throttles by source, the DLQ and latency."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from capacity.model import AWS, Platform, ServiceTimes, StackSettings
from capacity.simulate import Arrivals, simulate

TIMES = ServiceTimes(
    batches_ms={1024: {1: 15.0, 10: 40.0}},
    p99_ms={1024: {1: 20.0, 10: 60.0}},
    log_bytes_per_order=400.0,
    log_bytes_per_invocation=300.0,
    item_bytes=700.0,
)
DEV = StackSettings("dev", maximum_concurrency=5)


def test_arrival_patterns() -> None:
    assert Arrivals.steady(10, 3).rates == (10.0, 10.0, 10.0)
    assert Arrivals.step(1, 5, 2, 4).rates == (1.0, 1.0, 5.0, 5.0)
    assert Arrivals.ramp(0, 30, 4).rates == (0.0, 10.0, 20.0, 30.0)
    assert Arrivals.burst(1, 9, 1, 2, 4).rates == (1.0, 9.0, 9.0, 1.0)


def test_recorded_arrivals(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("second,rate\n0,5\n3,20\n4,0\n")
    assert Arrivals.recorded(path).rates == (5.0, 5.0, 5.0, 20.0, 0.0)


def test_below_capacity_everything_is_stored_at_once() -> None:
    result = simulate(DEV, TIMES, Arrivals.steady(100, 60))
    assert result.stored == pytest.approx(6000)
    assert result.dlq == 0
    assert result.peak_backlog <= 100 + 1e-6  # one step's arrivals, in their batches
    assert result.max_age <= 2
    assert result.settled


def test_orders_are_conserved_under_a_burst() -> None:
    result = simulate(DEV, TIMES, Arrivals.burst(100, 2000, 10, 30, 60))
    assert result.published == pytest.approx(result.arrivals.total)
    assert result.stored + result.dlq == pytest.approx(result.published)


def test_a_burst_above_capacity_builds_a_backlog_that_drains_at_the_spare_rate() -> None:
    capacity = 5 * 10 / 0.060  # 833 orders/s
    result = simulate(DEV, TIMES, Arrivals.burst(100, 2000, 10, 30, 60))
    expected_peak = 30 * (2000 - capacity)
    assert result.peak_backlog == pytest.approx(expected_peak, rel=0.05)
    drain = result.drain_seconds(40)
    assert drain is not None
    assert drain == pytest.approx(expected_peak / (capacity - 100), rel=0.1)
    assert result.max_age == pytest.approx(40 + drain - 10 - (40 + drain - 10) * 0, rel=0.6)


def test_the_mapping_scales_at_300_a_minute() -> None:
    settings = replace(DEV, maximum_concurrency=None)
    result = simulate(settings, TIMES, Arrivals.steady(30_000, 40), seconds=40)
    # five batches at first, then five more each second while messages remain; each execution is busy for 40 of
    # every 60 ms (the rest is the receive and the delete)
    assert result.series.concurrency[0] < 8
    assert result.series.concurrency[29] == pytest.approx((5 + 300 * 30 / 60) * 40 / 60, rel=0.1)


def test_dynamodb_throttles_a_new_table_and_not_a_warm_one() -> None:
    big = StackSettings("big", maximum_concurrency=1000)
    cold = simulate(big, TIMES, Arrivals.steady(10_000, 30))
    assert cold.throttles["dynamodb"] > 0
    assert max(cold.series.write_units) <= 4000 + 1
    # 70 batches of 10 every 60 ms carry 11,667 orders/s: a table warmed to 12,000 writes never throttles them
    warm = simulate(replace(big, maximum_concurrency=70, warm_write_units=12_000), TIMES, Arrivals.steady(10_000, 30))
    assert warm.throttles["dynamodb"] == 0
    assert warm.stored == pytest.approx(300_000)


def test_throttled_retries_reach_the_dlq_after_max_receive_count() -> None:
    big = StackSettings("big", maximum_concurrency=1000, max_receive_count=1, visibility_timeout_seconds=5)
    result = simulate(big, TIMES, Arrivals.steady(20_000, 20))
    assert result.dlq > 0
    assert result.stored + result.dlq == pytest.approx(result.published)


def test_account_concurrency_below_the_mapping_throttles_lambda() -> None:
    settings = StackSettings("x", maximum_concurrency=None, account_concurrency=10, visibility_timeout_seconds=30)
    result = simulate(settings, TIMES, Arrivals.steady(5000, 60))
    assert result.throttles["lambda"] > 0
    assert max(result.series.concurrency) <= 10 + 1e-6


def test_the_publish_quota_holds_orders_at_the_publisher() -> None:
    capped = Platform("capped", publish_cap_per_second=50)
    result = simulate(DEV, TIMES, Arrivals.steady(100, 10), platform=capped)
    assert result.throttles["publish"] > 0
    assert result.stored == pytest.approx(1000)
    assert result.max_age >= 10


def test_latency_at_low_load_is_one_batch() -> None:
    result = simulate(DEV, TIMES, Arrivals.steady(30, 20), dt=0.01, platform=AWS)
    # the receive (half of the 20 ms around each batch), then the function: stored when it ends
    assert result.percentile_ms(0.5) == pytest.approx(10 + 15, abs=3)
    assert result.throughput == pytest.approx(30, rel=0.05)
