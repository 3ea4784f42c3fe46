"""`python -m bench [SUITE ...] [--quick]`: runs the benchmarks, prints Markdown tables, keeps JSON in .bench/.

Several suites run one after the other, each in a fresh interpreter, so that one's imports and memory
do not weigh on the next (the sandbox suite reports its process's peak memory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import handler_bench, sandbox_bench

SUITES = {"handler": handler_bench, "sandbox": sandbox_bench}
RESULTS_DIR = Path(__file__).resolve().parents[1] / ".bench"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], default=[])
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test of the benchmarks")
    arguments = parser.parse_args()
    suites = arguments.suites or list(SUITES)
    if len(suites) > 1:
        for name in suites:
            command = [sys.executable, "-m", "bench", name, *(["--quick"] if arguments.quick else [])]
            subprocess.run(command, check=True)
        return
    [name] = suites
    RESULTS_DIR.mkdir(exist_ok=True)
    started = time.monotonic()

    def progress(step: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {name}: {step}", flush=True)

    suite = SUITES[name]
    results = suite.run(progress, quick=arguments.quick)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n## {name}\n\n{suite.report(results)}\n", flush=True)


if __name__ == "__main__":
    main()
