"""The calibration's arithmetic and verdict: a simulated figure more than 25% off the measured one fails the bench."""

from __future__ import annotations

import pytest

from bench.calibration_bench import checks, fit_line, measured_figures


def _results(simulated_p99: float) -> dict[str, object]:
    measured = {"throughput": 50.0, "p50_ms": 80.0, "p99_ms": 200.0, "peak_backlog": 20.0}
    simulated = measured | {"p99_ms": simulated_p99}
    return {"tolerance": 0.25, "scenarios": [{"scenario": "s", "measured": measured, "simulated": simulated}]}


def test_within_25_percent_passes_and_beyond_fails() -> None:
    assert all(check.passed for check in checks(_results(249.0)))
    failed = [check for check in checks(_results(251.0)) if not check.passed]
    assert [check.figure for check in failed] == ["s: p99_ms simulated / measured"]


def test_measured_figures_from_publish_and_store_times() -> None:
    # three orders: published at 0, 0, 1 s; stored at 0.1, 0.2, 1.1 s
    figures = measured_figures([(0.0, 0.1), (0.0, 0.2), (1.0, 1.1)])
    assert figures["throughput"] == pytest.approx(3 / 1.1)
    assert figures["p50_ms"] == pytest.approx(100)
    assert figures["peak_backlog"] == 2


def test_fit_line() -> None:
    assert fit_line([(1, 12.0), (10, 30.0)]) == pytest.approx((10.0, 2.0))
    assert fit_line([(10, 5.0), (10, 7.0)]) == (6.0, 0.0)
