"""The benchmarks' arithmetic and verdicts: a missed target must make `make bench` exit non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as bench_main
from bench import handler_bench, sandbox_bench
from bench.checks import Check, print_summary
from bench.pricing import PowerSetting, billed_ms, cost_per_million_orders, recommend


def test_duration_is_billed_per_started_millisecond() -> None:
    assert billed_ms(100.0) == 100
    assert billed_ms(100.01) == 101


def test_cost_per_million_orders_at_the_published_price() -> None:
    # 256 MB for 100 ms: 0.025 GB-s at $0.0000166667, plus $0.20 per million requests; ten orders a request.
    expected = (0.025 * 0.0000166667 + 0.20 / 1_000_000) * 1_000_000 / 10
    assert cost_per_million_orders(256, 100.0, 10) == pytest.approx(expected)


def test_recommends_the_cheapest_size_that_meets_the_latency_target() -> None:
    settings = [PowerSetting(256, 100.0, 10), PowerSetting(1024, 20.0, 10), PowerSetting(1769, 18.0, 10)]
    assert recommend(settings, lambda s: s.batch_ms <= 40).memory_mb == 1024
    assert recommend(settings, lambda s: False).memory_mb == 1024  # none meets it: the cheapest of all


def _handler_results(ours_ms: float, seeds_ms: float, ours_cpu: float, import_share: float) -> dict[str, Any]:
    latency = {str(m): {"ours": ours_ms, "seeds": seeds_ms} for m in (128, 256, 512)}
    return {
        "cgroups_unavailable": None,
        "configured_memory_mb": {"dev": 256, "prod": 256},
        "latency_ms": latency,
        "latency_mean_ms": latency,
        "cpu_memory_mb": 256,
        "round_trip_ms": 10.0,
        "cpu_ms_per_order": {"bare": 1.0, "ours": ours_cpu, "seeds": 1.1},
        "cpu_ms_per_order_no_wait": {"bare": 1.0, "ours": 9.9, "seeds": 1.1},  # reported, not checked
        "batch_import_ms": {
            "init_ms": 300.0,
            "batch_ms": 300 * import_share,
            "batch_cpu_ms": 1.0,
            "share_of_init": import_share,
        },
    }


def test_handler_checks_fail_on_each_missed_target() -> None:
    good = handler_bench.checks(_handler_results(ours_ms=30, seeds_ms=120, ours_cpu=1.1, import_share=0.1))
    assert all(check.passed for check in good)
    bad = handler_bench.checks(_handler_results(ours_ms=100, seeds_ms=120, ours_cpu=1.5, import_share=0.2))
    assert [check.passed for check in bad] == [False, True, False, False]


def test_handler_checks_fail_without_the_cpu_share() -> None:
    results = _handler_results(ours_ms=30, seeds_ms=120, ours_cpu=1.1, import_share=0.1) | {
        "cgroups_unavailable": "no root"
    }
    assert not handler_bench.checks(results)[0].passed


def test_sandbox_checks_fail_on_each_missed_target() -> None:
    variant = {
        "keep_alive": True,
        "share_of_ceiling": 0.79,
        "offered_per_second": 100.0,
        "latency_ms": {"p50": 40.0, "p99": 1001.0},
        "peak_memory_mb": 801.0,
        "batch_failures": 0,
    }
    verdicts = {check.figure: check.passed for check in sandbox_bench.checks({"variants": [variant]})}
    assert [name for name, passed in verdicts.items() if not passed] == [
        "end to end / fair ceiling (keep-alive)",
        "publish -> stored p99 at 100 orders/s offered",
        "peak memory, sandbox + environments (max concurrency 5)",
    ]


def test_summary_reports_a_failure() -> None:
    assert print_summary([Check("s", "f", "1", "<= 2", True)])
    assert not print_summary([Check("s", "f", "3", "<= 2", False), Check("s", "g", "1", "<= 2", True)])


def test_make_bench_exits_non_zero_when_a_suite_misses_a_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_main, "RESULTS_DIR", tmp_path)

    def suite_in_a_fresh_interpreter(command: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        name = command[3]
        missed = Check(name, "a figure", "2", "<= 1", name == "sandbox").to_json() | {"passed": name == "handler"}
        (tmp_path / f"{name}.json").write_text(json.dumps({"results": {}, "checks": [missed]}))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", suite_in_a_fresh_interpreter)
    monkeypatch.setattr(sys, "argv", ["bench"])
    with pytest.raises(SystemExit) as exit_:
        bench_main.main()
    assert exit_.value.code == 1


def test_a_suite_that_crashes_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_main, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, 1))
    monkeypatch.setattr(sys, "argv", ["bench", "handler"])
    with pytest.raises(SystemExit) as exit_:
        bench_main.main()
    assert exit_.value.code == 1


def test_tree_memory_counts_child_processes() -> None:
    alone = sandbox_bench.tree_rss_mb(os.getpid())
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; block = bytearray(64 * 1024 * 1024); sys.stdout.write('ok\\n'); "
            "sys.stdout.flush(); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ok\n"
        assert sandbox_bench.tree_rss_mb(os.getpid()) - alone > 60
    finally:
        child.kill()
        child.wait()
