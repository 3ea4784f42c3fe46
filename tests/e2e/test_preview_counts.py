"""`orderctl preview --sandbox`: a data-loss step says how much the resource it loses holds in a running sandbox."""

from __future__ import annotations

from pathlib import Path

from orderctl.preview import held_counts, lines
from sandbox.plan import plan_trees
from tests.e2e.conftest import Running, eventually
from tests.plan.trees import changed, copy_project, new_table_key

ORDERS = [
    {"orderId": f"held-{n}", "userId": "u-1", "itemName": "Keyboard", "quantity": 1, "status": "NEW"} for n in range(3)
]


def test_replacing_the_table_counts_the_orders_it_holds(running: Running, tmp_path: Path) -> None:
    running.publish(*ORDERS)
    eventually(lambda: running.pipeline.order_count() == len(ORDERS))
    base = copy_project(tmp_path / "base")
    preview = plan_trees(base, changed(base, tmp_path, new_table_key), "dev")
    [loss] = preview.data_loss
    counts = held_counts(preview, running.pipeline.held)
    assert counts == {loss.urn: len(ORDERS)}
    text = "\n".join(lines(preview, counts))
    assert "data loss: replace (create-before-delete) of orders-table" in text
    assert f"{len(ORDERS)} items in the running sandbox" in text


def test_without_a_sandbox_nothing_is_counted(tmp_path: Path) -> None:
    base = copy_project(tmp_path / "base")
    preview = plan_trees(base, changed(base, tmp_path, new_table_key), "dev")
    assert set(held_counts(preview, None).values()) == {None}
    assert "in the running sandbox" not in "\n".join(lines(preview, {}))
