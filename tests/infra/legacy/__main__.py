"""Writes the engine URNs a git ref's program registers for each stack, beside this file:
`python -m tests.infra.legacy REF` (the files the day-2 alias tests read as a deployed stack's state).

The ref's program runs in a subprocess under this tree's sandbox.program, which records the engine's URNs,
so its own `infra` package is the one imported."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

RUN = """
import sys
from pathlib import Path
from sandbox.program import Project, _PreviewMocks, run_program, stack_config
project = Project.load(Path(sys.argv[1]))
run = run_program(project, sys.argv[2], stack_config(project, sys.argv[2]), _PreviewMocks(), preview=True)
print("\\n".join(sorted(goal.urn for goal in run.goals.values())))
"""


def urns(tree: Path, stack: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tree), stack], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def main(ref: str) -> None:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory() as directory:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")
        for stack in ("dev", "prod"):
            (HERE / f"{commit.strip()}-{stack}.urns").write_text(urns(Path(directory), stack))


if __name__ == "__main__":
    main(sys.argv[1])
