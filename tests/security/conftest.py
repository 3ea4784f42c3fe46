from __future__ import annotations

import copy

import pytest

from policypack.rules import Resource
from tests.infra.conftest import PROJECT, MockedStack, deploy


def declared(deployment: MockedStack) -> list[Resource]:
    """The stack's AWS resources as the policy engine sees them after an update: inputs and outputs."""
    return [
        Resource(r.type, r.name, deployment.urn_of(r), copy.deepcopy(r.state))
        for r in deployment.mocks.resources
        if r.type.startswith("aws:")
    ]


@pytest.fixture(scope="module")
def stacks() -> dict[str, list[Resource]]:
    return {stack: declared(deploy(stack)) for stack in PROJECT.stacks()}
