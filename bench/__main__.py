"""`python -m bench [handler ...] [--quick]`: runs the benchmarks, prints Markdown tables, keeps JSON in .bench/."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench import handler_bench

SUITES = {"handler": handler_bench}
RESULTS_DIR = Path(__file__).resolve().parents[1] / ".bench"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], default=list(SUITES))
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test of the benchmarks")
    arguments = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    started = time.monotonic()
    for name in arguments.suites or list(SUITES):
        suite = SUITES[name]

        def progress(step: str, name: str = name) -> None:
            print(f"[{time.monotonic() - started:6.1f}s] {name}: {step}", flush=True)

        results = suite.run(progress, quick=arguments.quick)
        (RESULTS_DIR / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
        print(f"\n## {name}\n\n{suite.report(results)}\n", flush=True)


if __name__ == "__main__":
    main()
