"""How the benchmarks start their child interpreters (`bench.worker`, `bench.ceiling_consumer`): one way for
both, so each child starts as the other does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]


def inherited_environment(*dropped_prefixes: str) -> dict[str, str]:
    """This process's environment, less the variables whose names start with `dropped_prefixes` and less
    PYTHONDONTWRITEBYTECODE (this machine sets it): with it every fresh interpreter compiles what it
    imports, while Lambda's runtime ships boto3 compiled and the benchmarks compare warm code, not the
    compiler."""
    return {
        key: value
        for key, value in os.environ.items()
        if key != "PYTHONDONTWRITEBYTECODE" and not (dropped_prefixes and key.startswith(dropped_prefixes))
    }


def start_child(module: str, job: Mapping[str, Any], environment: Mapping[str, str]) -> subprocess.Popen[str]:
    """`python -m <module> '<job JSON>'` from the project's root, talking in lines on stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", module, json.dumps(job)],
        cwd=PROJECT_DIR,
        env=dict(environment),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
