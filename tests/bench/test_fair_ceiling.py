"""The sandbox benchmark's fair ceiling runs against the sandbox as it is: its queue takes the topic's deliveries
(SNS honours queue policies at publish time) and every order it publishes is stored."""

from __future__ import annotations

import random

from bench.sandbox_bench import fair_ceiling
from orderctl.samples import sample_order, to_json
from sandbox.runner import Sandbox
from tests.e2e.conftest import PROJECT_DIR


def test_the_fair_ceiling_stores_every_order_it_publishes() -> None:
    rng = random.Random(1)
    bodies = [to_json(sample_order(rng, n)) for n in range(20)]
    stored: list[int] = []
    with Sandbox(PROJECT_DIR, "dev") as sandbox:
        rate = fair_ceiling(sandbox, bodies, stored.append)
        table = sandbox.client("dynamodb").scan(TableName="bench-ceiling", Select="COUNT")["Count"]
    assert rate > 0
    assert sum(stored) == table == len(bodies)
