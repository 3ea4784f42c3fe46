"""Conservation under faults and load, in the sandbox (`make soak` runs the full-size scenario)."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from orderctl.pipeline import Pipeline
from orderctl.samples import sample_order, to_json
from orderctl.target import Target
from sandbox.poller import EventSourcePoller
from sandbox.runner import Sandbox
from tests.soak.scenario import SOAK_OVERRIDES, Plan, run, show

PROJECT_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.soak


def test_every_order_is_stored_once_or_dead_lettered_with_its_reason_and_a_redrive_balances_the_ledger() -> None:
    console = Console(width=120, force_terminal=False)
    with console.capture() as captured:
        # A backlog limit below the first chunks' deliveries, so the publisher must hold back at least once.
        plan = Plan(orders=int(os.environ.get("SOAK_ORDERS", "200")), backlog_limit=40, publish_chunk=40)
        result = run(plan, console)
        show(result, console)
    assert result.balanced, captured.get()
    assert result.backpressure.holds >= 1
    assert max(result.backpressure.depths) < plan.backlog_limit  # never published onto a deeper queue
    first, after_redrive = result.ledgers
    assert next(r for r in first.rows if r.what.startswith("valid orders in the DLQ after")).found > 0, (
        "the outage dead-lettered nothing, so the redrive was not tested"
    )
    assert result.stats["batch_failures"] >= 1  # the injected crash happened
    assert next(r for r in after_redrive.rows if r.what == "valid orders stored").ok


def test_two_pollers_on_one_queue_store_each_order_once_and_lose_none() -> None:
    rng = random.Random(5)
    orders = [sample_order(rng, number) for number in range(1, 151)]
    bodies = [to_json(order) for order in orders]
    bodies += rng.sample(bodies, 30)  # duplicate deliveries, which the two pollers may take side by side
    rng.shuffle(bodies)
    with Sandbox(PROJECT_DIR, "dev", {**SOAK_OVERRIDES, "maximumConcurrency": "4"}) as sandbox:
        [first] = sandbox.pollers
        pool = first.pool.sibling()
        second = EventSourcePoller(
            first.mapping, first.function, pool, sandbox.endpoint.session(), sandbox.endpoint.url
        ).start()
        try:
            pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))
            pipeline.publish(bodies)
            assert sandbox.wait_until(lambda: first.stats.deleted + second.stats.deleted >= len(bodies), 120)
        finally:
            second.stop()
            pool.close()
        sandbox.flush_logs()
        stored = {order["orderId"] for order in pipeline.orders()}
        events = sandbox.client("logs").filter_log_events(
            logGroupName=sandbox.outputs["logGroupName"], filterPattern='"order stored"'
        )["events"]
        writes = Counter(json.loads(event["message"])["order_id"] for event in events)
    assert stored == {order["orderId"] for order in orders}
    assert set(writes.values()) == {1}  # each order written exactly once
    assert first.stats.invocations > 0
    assert second.stats.invocations > 0
