from __future__ import annotations

import pytest

from policypack.rules import Resource
from tests.infra.conftest import PROJECT, deploy
from tests.security.engine import declared


@pytest.fixture(scope="module")
def stacks() -> dict[str, list[Resource]]:
    return {stack: declared(deploy(stack)) for stack in PROJECT.stacks()}
