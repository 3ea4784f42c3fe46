"""`orderctl sandbox update` against a running sandbox while orders flow: config, handler code, the event source
mapping's batch size and concurrency, and the queue's visibility timeout change one after another, and the
conservation ledger (tests/soak/scenario.py) still balances; a data-losing plan changes nothing."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from orderctl.cli import cli
from orderctl.pipeline import Pipeline
from orderctl.samples import SEED_ORDER, sample_order, to_json
from orderctl.target import Target
from sandbox.runner import Sandbox
from sandbox.update import PLAN_STATE_FILE
from tests.e2e.conftest import E2E_OVERRIDES, eventually
from tests.plan.trees import copy_project, new_table_key, replace_in
from tests.soak.scenario import Published, _ledger, _store_lines

DELIVERED_VIA = '"deliveredVia": delivery.via,'
CODE_REVISION = '"codeRevision": "2",'  # a field the changed handler adds to each order's metadata


class Updating:
    def __init__(self, sandbox: Sandbox, state_dir: Path, tree: Path) -> None:
        self.sandbox = sandbox
        self.state_dir = state_dir
        self.tree = tree  # the deployed program, copied: the working tree may change under the test
        self.pipeline = Pipeline(Target("sandbox", dict(sandbox.outputs), sandbox.endpoint.url))

    def update(self, tree: Path, *settings: str) -> Result:
        arguments = ["sandbox", "update", "--state-dir", str(self.state_dir), "--project-dir", str(tree)]
        for setting in settings:
            arguments += ["--config", setting]
        return CliRunner().invoke(cli, arguments)

    @property
    def pool(self) -> Any:
        [pool] = self.sandbox.pools.values()
        return pool

    def stored(self, order_id: str) -> dict[str, Any] | None:
        return self.pipeline.order(order_id)


@pytest.fixture(scope="module")
def updating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Updating]:
    tree = copy_project(tmp_path_factory.mktemp("deployed") / "project")
    state_dir = tmp_path_factory.mktemp("state")
    with Sandbox(tree, "dev", E2E_OVERRIDES, state_dir=state_dir) as sandbox:
        yield Updating(sandbox, state_dir, tree)


class Publisher(threading.Thread):
    """Publishes valid sample orders, a few every quarter second, until stopped."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(daemon=True)
        self.pipeline = pipeline
        self.published = Published()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        rng, number = random.Random(16), 0
        try:
            while not self.stopping.wait(0.25):
                bodies = []
                for _ in range(3):
                    number += 1
                    body = to_json(sample_order(rng, number))
                    bodies.append(body)
                self.pipeline.publish(bodies)
                for body in bodies:  # counted once SNS accepted them
                    order = json.loads(body)
                    self.published.valid[order["orderId"]] = order
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            self.failure = error

    def count(self) -> int:
        return len(self.published.valid)


def applied(result: Result, name: str, call: str) -> bool:
    """The update's output has a line applying `name` through the AWS call `call`."""
    return any(name in line and call in line for line in result.output.splitlines())


def test_updates_applied_while_orders_flow_lose_and_overwrite_nothing(updating: Updating, tmp_path: Path) -> None:
    changed = tmp_path / "changed"
    copy_project(changed)
    store = changed / "handler/store.py"
    replace_in(
        store, '"deliveredVia": delivery.via,', f'"deliveredVia": delivery.via,\n                {CODE_REVISION}'
    )
    sandbox, pool = updating.sandbox, updating.pool
    publisher = Publisher(updating.pipeline)
    publisher.start()
    try:
        eventually(lambda: publisher.count() >= 15, timeout=20)

        memory = updating.update(updating.tree, "functionMemoryMb=2048")
        assert memory.exit_code == 0, memory.output
        assert applied(memory, "orders-processor", "UpdateFunctionConfiguration")
        assert memory.output.rstrip().endswith("update applied")
        assert pool.setup.memory_mb == 2048
        before_code = publisher.count()

        code = updating.update(changed)
        assert code.exit_code == 0, code.output
        assert applied(code, "orders-processor", "UpdateFunctionCode")
        assert pool.setup.memory_mb == 2048  # --config settings are kept, as `pulumi up --config` keeps them
        assert "@" in pool.setup.task_root.name  # a new code directory: old environments keep theirs
        old_orders = list(publisher.published.valid)[:before_code]
        new_order = eventually(lambda: _revised(updating, publisher), timeout=30)
        assert new_order not in old_orders

        batch = updating.update(changed, "batchSize=5", "maximumConcurrency=2")
        assert batch.exit_code == 0, batch.output
        assert applied(batch, "orders-event-source", "UpdateEventSourceMapping")
        [poller] = sandbox.pollers
        assert (poller.mapping.batch_size, poller.mapping.maximum_concurrency, pool.limit) == (5, 2, 2)

        visibility = updating.update(changed, "visibilityTimeoutSeconds=4")
        assert visibility.exit_code == 0, visibility.output
        assert applied(visibility, "orders-queue", "SetQueueAttributes")
        queue = sandbox.client("sqs").get_queue_attributes(
            QueueUrl=sandbox.outputs["queueUrl"], AttributeNames=["VisibilityTimeout"]
        )
        assert queue["Attributes"]["VisibilityTimeout"] == "4"
        eventually(lambda: publisher.count() >= before_code + 30, timeout=20)  # and they keep flowing
    finally:
        publisher.stopping.set()
        publisher.join(timeout=30)
    assert publisher.failure is None, publisher.failure

    published = publisher.published

    def missing() -> list[str]:
        """The published orders not stored yet."""
        stored = {order["orderId"] for order in updating.pipeline.orders()}
        return [order_id for order_id in published.valid if order_id not in stored]

    assert sandbox.wait_until(lambda: not missing(), timeout=60), (missing()[:5], updating.pipeline.depths())
    eventually(lambda: updating.pipeline.depths().queue == 0 and sandbox.in_flight() == 0, timeout=30)
    ledger = _ledger(
        "after four updates", published, updating.pipeline, _store_lines(sandbox, sandbox.outputs["logGroupName"]), True
    )
    assert ledger.balanced, [(row.what, row.expected, row.found) for row in ledger.rows if not row.ok] + ledger.problems
    # Stored exactly once each: before the code change without the new field, after it with it.
    revised = [
        order_id for order_id in published.valid if "codeRevision" in (updating.stored(order_id) or {})["_pipeline"]
    ]
    assert revised
    assert len(revised) < len(published.valid)


def _revised(updating: Updating, publisher: Publisher) -> str | None:
    """An order the new handler code stored (its metadata has the field the change added)."""
    for order_id in reversed(list(publisher.published.valid)):
        stored = updating.stored(order_id)
        if stored is not None and "codeRevision" in stored["_pipeline"]:
            return order_id
    return None


def test_a_data_losing_plan_is_refused_and_the_sandbox_keeps_serving_unchanged(
    updating: Updating, tmp_path: Path
) -> None:
    bad = copy_project(tmp_path / "project")
    new_table_key(bad)
    state = (updating.state_dir / PLAN_STATE_FILE).read_text()
    pool, setup = updating.pool, updating.pool.setup

    result = updating.update(bad)

    assert result.exit_code == 1
    assert "replace: ~hashKey" in result.output
    assert "data loss: replace (create-before-delete) of orders-table" in result.output
    assert "nothing was changed: it would replace orders-table" in result.output
    assert "update applied" not in result.output
    assert (updating.state_dir / PLAN_STATE_FILE).read_text() == state
    table = updating.sandbox.client("dynamodb").describe_table(TableName=updating.sandbox.outputs["tableName"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
    assert pool.setup is setup
    order = {**SEED_ORDER, "orderId": "after-the-refusal"}
    updating.pipeline.publish([json.dumps(order)])
    stored = eventually(lambda: updating.stored("after-the-refusal"), timeout=30)
    assert stored["quantity"] == order["quantity"]


def test_replacements_and_deletes_come_after_every_other_step_last_registered_first(
    updating: Updating, tmp_path: Path
) -> None:
    renamed = copy_project(tmp_path / "project")
    replace_in(renamed / "infra/alarms.py", 'f"{name}-alarms"', 'f"{name}-alarm-topic"')  # the alarms' topic
    replace_in(renamed / "infra/alarms.py", '"dlq-depth",\n', '"dlq-depth-v2",\n')  # one alarm

    result = updating.update(renamed)

    assert result.exit_code == 0, result.output
    steps = result.output.split("Updating (dev):", 1)[1].splitlines()
    # (an earlier test's handler change is undone by this copy of the project: only the alarms' steps count)
    alarms = [line.split() for line in steps if "metricAlarm" in line or "sns/topic" in line]
    done = [(symbol, name, action) for symbol, _, name, action, *_ in alarms]
    # Creates and updates as the program registers them: the new topic before the alarms that name it.
    assert done[0] == ("+", "orders-alarm-topic", "created")
    assert set(done[1:5]) == {
        ("+", "orders-dlq-depth-v2", "created"),
        ("~", "orders-subscription-dlq-depth", "updated"),
        ("~", "orders-backlog-age", "updated"),
        ("~", "orders-processor-errors", "updated"),
    }
    # Then the deletes, last registered first: the old alarm before the old topic it alarmed to.
    assert done[5:] == [("-", "orders-dlq-depth", "deleted"), ("-", "orders-alarms", "deleted")]
    cloudwatch = updating.sandbox.client("cloudwatch")
    topics = {alarm["AlarmName"]: alarm["AlarmActions"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert len(topics) == 4
    [topic] = {action for actions in topics.values() for action in actions}
    assert ":orders-alarm-topic-" in topic


def test_a_step_the_engine_refuses_changes_nothing_and_says_why(updating: Updating, tmp_path: Path) -> None:
    protect = updating.update(updating.tree, "deletionProtection=true")  # protect on the table and queues
    assert protect.exit_code == 0, protect.output
    assert applied(protect, "orders-table", "UpdateTable")
    dynamodb, table_name = updating.sandbox.client("dynamodb"), updating.sandbox.outputs["tableName"]
    assert dynamodb.describe_table(TableName=table_name)["Table"]["DeletionProtectionEnabled"] is True
    bad = copy_project(tmp_path / "project")
    new_table_key(bad)
    state = (updating.state_dir / PLAN_STATE_FILE).read_text()

    result = updating.update(bad)

    assert result.exit_code == 1
    assert "error: unable to replace resource" in result.output
    assert "nothing was changed: unable to replace resource" in result.output
    assert "data loss" not in result.output  # protected: the engine refuses it before anything is lost
    assert (updating.state_dir / PLAN_STATE_FILE).read_text() == state
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "orderId", "KeyType": "HASH"}]
