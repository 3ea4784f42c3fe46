"""The sandbox benchmark's fair ceiling runs against the sandbox as it is: its queue takes the topic's deliveries
(SNS honours queue policies at publish time), every order it publishes is stored once, and a consumer that fails
ends the measurement with its error."""

from __future__ import annotations

import random

import pytest

from bench.sandbox_bench import CEILING, fair_ceiling
from orderctl.samples import sample_order, to_json
from sandbox.faults import THROTTLED
from sandbox.runner import Sandbox
from tests.e2e.conftest import PROJECT_DIR


def test_the_fair_ceiling_stores_every_order_it_publishes_and_stops_when_a_consumer_fails() -> None:
    rng = random.Random(1)
    bodies = [to_json(sample_order(rng, n)) for n in range(40)]
    stored: list[int] = []
    with Sandbox(PROJECT_DIR, "dev") as sandbox:
        rate = fair_ceiling(sandbox, bodies[:20], stored.append)
        table = sandbox.client("dynamodb").scan(TableName=CEILING, Select="COUNT")["Count"]
        assert rate > 0
        assert sum(stored) == table == 20
        # A consumer whose write fails ends the measurement with the error, at once, instead of a 10-minute wait.
        sandbox.client("sqs").delete_queue(QueueUrl=sandbox.client("sqs").get_queue_url(QueueName=CEILING)["QueueUrl"])
        sandbox.client("sns").delete_topic(TopicArn=sandbox.client("sns").create_topic(Name=CEILING)["TopicArn"])
        sandbox.client("dynamodb").delete_table(TableName=CEILING)
        sandbox.faults.fail(THROTTLED)
        with pytest.raises(RuntimeError, match=r"a consumer failed: .*ProvisionedThroughputExceeded"):
            fair_ceiling(sandbox, bodies[20:], stored.append)
