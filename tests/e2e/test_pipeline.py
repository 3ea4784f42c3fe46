"""The whole pipeline in the sandbox: the real program deployed into moto, the real handler fed by the poller."""

from __future__ import annotations

import uuid

from orderctl.samples import SEED_ORDER
from sandbox.faults import ACCESS_DENIED
from tests.e2e.conftest import Running, eventually


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_seeds_message_published_to_the_topic_is_stored(running: Running) -> None:
    [sns_message_id] = running.publish(SEED_ORDER)
    stored = eventually(lambda: running.stored("1001"))
    assert {key: value for key, value in stored.items() if key != "_pipeline"} == SEED_ORDER
    assert stored["_pipeline"]["sourceMessageId"] == sns_message_id
    assert stored["_pipeline"]["deliveredVia"] == "sns-envelope"


def test_a_malformed_order_is_dead_lettered_after_exactly_three_receives(running: Running) -> None:
    marker = unique("malformed")
    running.publish('{"orderId": "' + marker + '", "quantity": ')
    dead = eventually(lambda: running.dead_letter(marker))
    assert [attempt.number for attempt in dead.attempts] == [1, 2, 3]
    assert dead.reason.startswith("invalid order: body: is not JSON")
    last = running.log_lines(message_id=dead.message_id, attempt=3)
    assert [line["to_dlq"] for line in last] == [True]
    assert running.stored(marker) is None


def test_a_duplicate_is_stored_once(running: Running) -> None:
    order = {**SEED_ORDER, "orderId": unique("dup")}
    running.publish(order)
    first = eventually(lambda: running.stored(order["orderId"]))
    running.publish(order)
    eventually(lambda: running.log_lines(order_id=order["orderId"], message="duplicate delivery absorbed"))
    assert running.stored(order["orderId"]) == first
    assert len(running.log_lines(order_id=order["orderId"], message="order stored")) == 1


def test_a_conflict_keeps_the_original(running: Running) -> None:
    original = {**SEED_ORDER, "orderId": unique("conflict")}
    running.publish(original)
    eventually(lambda: running.stored(original["orderId"]))
    running.publish({**original, "quantity": 7})
    dead = eventually(lambda: running.dead_letter(original["orderId"]))
    assert dead.reason.startswith(f"conflict: orderId '{original['orderId']}' is already stored")
    kept = running.stored(original["orderId"])
    assert kept is not None
    assert kept["quantity"] == original["quantity"]


def test_writes_denied_for_the_first_attempts_then_allowed_store_the_order(running: Running) -> None:
    order = {**SEED_ORDER, "orderId": unique("denied-twice")}
    running.faults.fail(ACCESS_DENIED, order_ids={order["orderId"]}, times=2)
    running.publish(order)
    stored = eventually(lambda: running.stored(order["orderId"]), timeout=20)
    assert stored["quantity"] == order["quantity"]
    failures = running.log_lines(order_id=order["orderId"], failure="transient")
    assert [line["attempt"] for line in failures] == [1, 2]
    assert all(line["reason"].startswith("AccessDeniedException") for line in failures)


def test_writes_denied_on_every_attempt_dead_letter_and_a_redrive_after_the_fix_stores(running: Running) -> None:
    order = {**SEED_ORDER, "orderId": unique("denied")}
    denial = running.faults.fail(ACCESS_DENIED, order_ids={order["orderId"]})
    running.publish(order)
    dead = eventually(lambda: running.dead_letter(order["orderId"]), timeout=30)
    assert [attempt.number for attempt in dead.attempts] == [1, 2, 3]
    assert dead.reason.startswith("AccessDeniedException")
    assert running.stored(order["orderId"]) is None

    running.faults.remove(denial)  # the missing permission is granted
    redriven = running.pipeline.redrive()
    assert redriven.method == "receive, send, delete"  # moto has no StartMessageMoveTask
    assert redriven.moved is not None
    assert redriven.moved >= 1
    # What the redrive received from the DLQ it deleted: nothing is left there in flight, hidden.
    assert running.pipeline.depths().dlq_in_flight == 0
    stored = eventually(lambda: running.stored(order["orderId"]))
    assert stored["quantity"] == order["quantity"]
    assert running.dead_letter(order["orderId"]) is None


def test_status_counts_cold_starts_from_the_log_groups_report_records(running: Running) -> None:
    running.publish({**SEED_ORDER, "orderId": unique("cold")})
    pool = running.sandbox.pools[running.outputs["functionName"]]
    eventually(lambda: pool.stats.cold_starts >= 1)

    def rows() -> dict[str, str]:
        running.sandbox.flush_logs()
        return dict(running.pipeline.runtime_rows())

    cold = "cold starts (REPORT records with an init duration)"

    def agreeing() -> dict[str, str] | None:
        # Another environment may start between the two readings (a redelivery from an earlier test): the
        # log group's count must catch up with the pool's own, and never pass it.
        counted = pool.stats.cold_starts
        shown = rows()
        assert int(shown[cold]) <= pool.stats.cold_starts
        return shown if shown[cold] == str(counted) else None

    shown = eventually(agreeing)
    assert shown["event source receive errors"] == "0"
