"""The shared facts (contract/) are the ones every side uses: one list of resource types for both mocks."""

from __future__ import annotations

from pathlib import Path

from contract import resource_types
from sandbox.deploy import EmulatorMocks
from sandbox.emulator import Endpoint
from tests.infra.conftest import MockedStack
from tests.infra.mocks import AwsMocks


def test_the_sandbox_and_the_tests_mock_exactly_the_registered_resource_types(tmp_path: Path) -> None:
    sandbox = EmulatorMocks(Endpoint("http://127.0.0.1:9", "us-east-1"), tmp_path)  # no request is made
    assert set(sandbox._creators) == resource_types.ALL
    assert set(AwsMocks().builders) == resource_types.ALL


def test_the_program_declares_only_registered_types_and_all_of_them(dev: MockedStack) -> None:
    assert {resource.type for resource in dev.mocks.resources if not resource.type.startswith("orders:")} == (
        resource_types.ALL
    )
