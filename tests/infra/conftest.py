from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.program import ProgramRun, Project, run_program, stack_config
from tests.infra.mocks import AwsMocks, Recorded

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = Project.load(PROJECT_DIR)


@dataclass(frozen=True)
class MockedStack:
    stack: str
    mocks: AwsMocks
    run: ProgramRun

    def one(self, type_: str, name_suffix: str = "") -> Recorded:
        return self.mocks.one(type_, name_suffix)

    def urn_of(self, resource: Recorded) -> str:
        return next(urn for urn in self.run.urns if urn.endswith(f"::{resource.name}") and resource.type in urn)


def deploy(stack: str = "dev", **overrides: str) -> MockedStack:
    """Runs the real `__main__.py` for `stack` under mocks, with `--config key=value` style overrides; the
    config is the one the Pulumi CLI would give it (sandbox.pulumi_cli_config), refusals included."""
    config = stack_config(PROJECT, stack, overrides)
    mocks = AwsMocks(region=config["aws:region"])
    return MockedStack(stack, mocks, run_program(PROJECT, stack, config, mocks))


@pytest.fixture(scope="session")
def dev() -> MockedStack:
    return deploy("dev")


@pytest.fixture(scope="session")
def prod() -> MockedStack:
    return deploy("prod")
