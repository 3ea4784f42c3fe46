"""The real handler against moto: records from real queue receives, stored in a real (emulated) table."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from sandbox.faults import ACCESS_DENIED, INTERNAL_ERROR, THROTTLED, DynamoFaults
from sandbox.lambda_runtime import Handler
from tests.handler.conftest import SEED_ORDER, Aws, failed_ids, hand_made_event, ids_of


def order(order_id: str, **fields: Any) -> dict[str, Any]:
    return {**SEED_ORDER, "orderId": order_id, **fields}


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The handler's records as its Powertools formatter prints them (its stream was bound at load time)."""
    records = [record for record in caplog.records if record.name == "orders-test"]
    return [json.loads(logging.getLogger(record.name).handlers[0].format(record)) for record in records]


def test_the_seeds_message_is_stored_with_the_right_types(lambda_handler: Handler, aws: Aws) -> None:
    sns_message_id = aws.publish(SEED_ORDER)
    event = aws.receive()
    response = aws.invoke(lambda_handler, event)
    assert response == {"batchItemFailures": []}
    item = aws.stored("1001")
    assert item is not None
    assert {key: value for key, value in item.items() if key != "_pipeline"} == {
        "orderId": {"S": "1001"},
        "userId": {"S": "u-42"},
        "itemName": {"S": "Keyboard"},
        "quantity": {"N": "2"},
        "status": {"S": "NEW"},
        "timestamp": {"S": "2026-11-22T10:00:00Z"},
    }
    envelope = json.loads(event["Records"][0]["body"])
    metadata = item["_pipeline"]["M"]
    assert metadata["receivedAt"] == {"S": envelope["Timestamp"]}
    assert metadata["sourceMessageId"] == {"S": sns_message_id}
    assert metadata["deliveredVia"] == {"S": "sns-envelope"}
    assert metadata["orderHash"]["S"].startswith("sha256:")
    assert metadata["storedAt"]["S"].endswith("Z")


def test_raw_delivery_is_stored_by_the_same_code(lambda_handler: Handler, aws: Aws) -> None:
    message_id = aws.send_raw(json.dumps(SEED_ORDER))
    event = aws.receive()
    assert aws.invoke(lambda_handler, event) == {"batchItemFailures": []}
    item = aws.stored("1001")
    assert item is not None
    metadata = item["_pipeline"]["M"]
    assert metadata["deliveredVia"] == {"S": "raw"}
    assert metadata["sourceMessageId"] == {"S": message_id}
    sent_ms = int(event["Records"][0]["attributes"]["SentTimestamp"])
    received = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent_ms / 1000))
    assert metadata["receivedAt"]["S"].startswith(received)


def test_decimals_are_stored_exactly(lambda_handler: Handler, aws: Aws) -> None:
    aws.publish(
        '{"orderId": "d-1", "totalAmount": 19.99, "currency": "EUR", '
        '"items": [{"sku": "k-1", "quantity": "3", "unitPrice": 0.30000000000000004}], "quantity": "2"}'
    )
    assert aws.invoke(lambda_handler, aws.receive()) == {"batchItemFailures": []}
    item = aws.stored("d-1")
    assert item is not None
    assert item["totalAmount"] == {"N": "19.99"}
    assert item["quantity"] == {"N": "2"}
    assert item["items"]["L"][0]["M"] == {
        "sku": {"S": "k-1"},
        "quantity": {"N": "3"},
        "unitPrice": {"N": "0.30000000000000004"},
    }


def test_a_mixed_batch_reports_exactly_its_bad_records(lambda_handler: Handler, aws: Aws) -> None:
    aws.publish(order("original", itemName="Mouse"))
    assert aws.invoke(lambda_handler, aws.receive()) == {"batchItemFailures": []}

    good = [order(f"good-{n}") for n in range(5)]
    for body in good:
        aws.publish(body)
    aws.publish("{not json")
    aws.publish({"userId": "u-1"})  # no orderId
    aws.publish(order("bad-quantity", quantity=0))
    aws.publish(order("original", itemName="Monitor"))  # conflicts with the stored one
    event = aws.receive()
    assert len(event["Records"]) == 9

    response = aws.invoke(lambda_handler, event)

    ids = ids_of(event)
    assert failed_ids(response) == {
        ids["{not json"],
        ids[json.dumps({"userId": "u-1"})],
        ids["bad-quantity"],
        ids["original"],
    }
    for body in good:
        assert aws.stored(body["orderId"]) is not None
    assert aws.item_count() == 6


def test_the_seeds_message_and_a_malformed_one_in_one_batch(lambda_handler: Handler, aws: Aws) -> None:
    aws.publish(SEED_ORDER)
    aws.publish('{"orderId": "1002", "quantity": ')
    event = aws.receive()
    response = aws.invoke(lambda_handler, event)
    malformed = next(r["messageId"] for r in event["Records"] if "1002" in r["body"])
    assert failed_ids(response) == {malformed}
    assert aws.stored("1001") is not None
    assert aws.stored("1002") is None


def test_a_duplicate_delivery_is_absorbed_and_nothing_is_rewritten(lambda_handler: Handler, aws: Aws) -> None:
    aws.publish(SEED_ORDER)
    assert aws.invoke(lambda_handler, aws.receive()) == {"batchItemFailures": []}
    first = aws.stored("1001")

    aws.send_raw(json.dumps({**SEED_ORDER, "quantity": "2"}))  # same order: raw, quantity as a string
    aws.publish(SEED_ORDER)
    assert aws.invoke(lambda_handler, aws.receive()) == {"batchItemFailures": []}

    assert aws.stored("1001") == first  # storedAt, sourceMessageId: untouched
    assert aws.item_count() == 1


def test_the_same_order_twice_in_one_batch_is_stored_once(lambda_handler: Handler, aws: Aws) -> None:
    aws.publish(SEED_ORDER)
    aws.publish(SEED_ORDER)
    event = aws.receive()
    assert len(event["Records"]) == 2
    assert aws.invoke(lambda_handler, event) == {"batchItemFailures": []}
    assert aws.item_count() == 1


def test_a_conflict_leaves_the_original_intact_and_says_why(
    lambda_handler: Handler, aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    aws.publish(SEED_ORDER)
    aws.invoke(lambda_handler, aws.receive())
    original = aws.stored("1001")

    aws.publish({**SEED_ORDER, "quantity": 5})
    event = aws.receive()
    response = aws.invoke(lambda_handler, event)

    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    assert aws.stored("1001") == original
    [line] = [line for line in log_lines(caplog) if line["level"] == "WARN"]
    assert line["failure"] == "permanent"
    assert line["reason"].startswith("conflict: orderId '1001' is already stored with different content")
    assert line["order_id"] == "1001"


@pytest.mark.parametrize("error", [THROTTLED, ACCESS_DENIED, INTERNAL_ERROR], ids=lambda e: e[0])
def test_dynamodb_errors_for_some_records_fail_only_those(
    lambda_handler: Handler, aws: Aws, faults: DynamoFaults, error: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(6):
        aws.publish(order(f"o-{n}"))
    faults.fail(error, order_ids={"o-1", "o-4"})
    event = aws.receive()

    response = aws.invoke(lambda_handler, event)

    ids = ids_of(event)
    assert failed_ids(response) == {ids["o-1"], ids["o-4"]}
    assert {n for n in range(6) if aws.stored(f"o-{n}")} == {0, 2, 3, 5}
    warnings = [line for line in log_lines(caplog) if line["level"] == "WARN"]
    assert {(line["order_id"], line["failure"]) for line in warnings} == {("o-1", "transient"), ("o-4", "transient")}
    assert all(line["reason"].startswith(error[0]) for line in warnings)


def test_a_batch_where_every_record_fails_reports_them_all(
    lambda_handler: Handler, aws: Aws, faults: DynamoFaults
) -> None:
    for n in range(4):
        aws.publish(order(f"o-{n}"))
    faults.fail(ACCESS_DENIED)
    event = aws.receive()
    response = aws.invoke(lambda_handler, event)  # returns: no exception, so no whole-batch retry
    assert failed_ids(response) == {record["messageId"] for record in event["Records"]}
    assert aws.item_count() == 0


def test_an_empty_batch_and_an_empty_body(lambda_handler: Handler, aws: Aws) -> None:
    assert aws.invoke(lambda_handler, {"Records": []}) == {"batchItemFailures": []}
    event = hand_made_event("")
    assert failed_ids(aws.invoke(lambda_handler, event)) == {event["Records"][0]["messageId"]}


def test_a_huge_body_is_rejected_and_a_large_one_stored(lambda_handler: Handler, aws: Aws) -> None:
    huge = json.dumps(order("huge", notes="x" * 420_000))  # over DynamoDB's 400 KB item limit
    large = json.dumps(order("large", notes="x" * 250_000))
    event = hand_made_event(huge, large)
    response = aws.invoke(lambda_handler, event)
    assert failed_ids(response) == {event["Records"][0]["messageId"]}
    stored = aws.stored("large")
    assert stored is not None
    assert len(stored["notes"]["S"]) == 250_000


def test_failure_lines_name_the_attempt_and_the_last_one_says_dlq(
    lambda_handler: Handler, aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    aws.invoke(lambda_handler, hand_made_event("{broken", receive_count=1))
    aws.invoke(lambda_handler, hand_made_event("{broken", receive_count=3))
    first, last = [line for line in log_lines(caplog) if "message_id" in line]
    assert (first["attempt"], first["to_dlq"]) == (1, False)
    assert "attempt 1 of 3, will be redelivered, 2 attempt(s) left" in first["message"]
    assert (last["attempt"], last["to_dlq"]) == (3, True)
    assert "attempt 3 of 3, going to the DLQ" in last["message"]
    assert last["reason"].startswith("invalid order: body: is not JSON")
    # A retry to come is a warning; the failure that dead-letters the order is an error, so its reason is
    # kept at every log level Lambda filters by (and `orderctl dlq list` finds it at logLevel ERROR).
    assert (first["level"], last["level"]) == ("WARN", "ERROR")


def test_every_record_line_carries_the_message_and_order_ids(
    lambda_handler: Handler, aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    aws.publish(SEED_ORDER)
    aws.publish(order("bad", quantity=-1))
    aws.publish("[]")
    event = aws.receive()
    aws.invoke(lambda_handler, event)
    lines = [line for line in log_lines(caplog) if "message_id" in line]
    assert len(lines) == 3
    assert {line["message_id"] for line in lines} == {record["messageId"] for record in event["Records"]}
    assert {line.get("order_id") for line in lines} == {"1001", "bad", None}  # "[]" has no order id to name
    assert all(line["service"] == "orders-test" and "function_request_id" in line for line in lines)


def test_permanent_failures_come_back_at_once_transient_ones_wait(
    lambda_handler: Handler, aws: Aws, faults: DynamoFaults
) -> None:
    aws.publish(order("throttled"))
    aws.publish("{broken")
    faults.fail(THROTTLED, order_ids={"throttled"})
    event = aws.receive()
    aws.invoke(lambda_handler, event)
    again = aws.receive()
    assert [record["body"] for record in again["Records"]] == [
        r["body"] for r in event["Records"] if "broken" in r["body"]
    ]
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_malformed_order_reaches_the_dlq_after_three_receives_and_is_never_stored(
    lambda_handler: Handler, aws: Aws
) -> None:
    aws.publish(order("fine"))
    aws.publish(order("bad", currency="euro"))
    receives = 0
    while event := aws.receive():
        if not event["Records"]:
            break
        receives += 1
        aws.invoke(lambda_handler, event)
        for record in event["Records"]:  # the event source mapping deletes what succeeded
            if "fine" in record["body"]:
                aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=record["receiptHandle"])
    dead = aws.sqs.receive_message(QueueUrl=aws.dlq_url, AttributeNames=["All"])["Messages"]
    assert len(dead) == 1
    assert "euro" in dead[0]["Body"]
    assert receives == 3
    assert aws.stored("bad") is None
    assert aws.stored("fine") is not None


def test_metrics_count_each_outcome(
    lambda_handler: Handler, aws: Aws, faults: DynamoFaults, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.publish(order("stored"))
    aws.publish("{broken")
    aws.publish(order("throttled"))
    faults.fail(THROTTLED, order_ids={"throttled"})
    aws.invoke(lambda_handler, aws.receive())
    aws.publish(order("stored"))
    aws.invoke(lambda_handler, aws.receive())
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    first, second = emf
    assert first["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OrderPipelineTest"
    counts = ("OrdersStored", "DuplicatesAbsorbed", "OrdersRejected", "OrdersFailed")
    assert [first[name] for name in counts] == [[1.0], [0.0], [1.0], [1.0]]
    assert [second[name] for name in counts[:2]] == [[0.0], [1.0]]


def test_a_batch_is_written_concurrently(lambda_handler: Handler, aws: Aws, faults: DynamoFaults) -> None:
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()
    all_arrived = threading.Barrier(10, timeout=10)

    def slow_write(order_id: str) -> None:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
        all_arrived.wait()  # only returns once all ten writes are under way together
        with lock:
            in_flight -= 1

    faults.on_put = slow_write
    try:
        for n in range(10):
            aws.publish(order(f"o-{n}"))
        assert aws.invoke(lambda_handler, aws.receive()) == {"batchItemFailures": []}
    finally:
        faults.on_put = None
    assert most_in_flight == 10
    assert aws.item_count() == 10
