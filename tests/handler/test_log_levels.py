"""Every line the processor logs survives Lambda's log-level filter at every level that should keep it."""

from __future__ import annotations

import json
import logging

import pytest

from sandbox.faults import ACCESS_DENIED, THROTTLED, DynamoFaults
from sandbox.lambda_runtime import Handler
from sandbox.logs import APPLICATION_LEVELS, application_level, keeps_application_line
from tests.handler.conftest import SEED_ORDER, Aws


def order(order_id: str) -> dict[str, object]:
    return {**SEED_ORDER, "orderId": order_id}


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The handler's records as its Powertools formatter prints them (its stream was bound at load time)."""
    records = [record for record in caplog.records if record.name == "orders-test"]
    return [logging.getLogger(record.name).handlers[0].format(record) for record in records]


def test_each_logged_line_keeps_its_own_level_under_lambdas_filter(
    lambda_handler: Handler, aws: Aws, faults: DynamoFaults, caplog: pytest.LogCaptureFixture
) -> None:
    aws.publish(order("stored"))
    aws.publish(order("stored"))  # a duplicate delivery
    aws.publish("{broken")  # a permanent failure
    aws.publish(order("throttled"))
    aws.publish(order("denied"))
    faults.fail(THROTTLED, order_ids={"throttled"})
    faults.fail(ACCESS_DENIED, order_ids={"denied"})
    aws.invoke(lambda_handler, aws.receive())
    lines = _log_lines(caplog)
    levels = {json.loads(line)["level"] for line in lines}
    assert {"INFO", "WARN"} <= levels, levels
    for line in lines:
        own = json.loads(line)["level"]
        assert application_level(line) == own, line  # Lambda reads the level the line says
        for configured in APPLICATION_LEVELS:
            should_keep = APPLICATION_LEVELS.index(own) >= APPLICATION_LEVELS.index(configured)
            assert keeps_application_line(line, configured) == should_keep, (configured, line)


POWERTOOLS_DEFAULT = '{"level":"WARNING","message":"order failed","timestamp":"2026-11-23 11:21:05,538+0000"}'


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('{"level": "debug", "msg": "m", "timestamp": "2024-11-02T16:51:31.587199Z"}', "DEBUG"),
        ('{"level": "WARN", "timestamp": "2026-11-23T11:21:05.538+00:00"}', "WARN"),
        ('{"level": "ERROR", "timestamp": "2026-11-23T11:21:05Z"}', "ERROR"),
        (POWERTOOLS_DEFAULT, "INFO"),  # not RFC 3339, and WARNING is not one of Lambda's levels
        ('{"level": "WARN", "timestamp": "2026-11-23 11:21:05,538+0000"}', "INFO"),
        ('{"level": "WARN", "timestamp": "2026-11-23T11:21:05+0000"}', "INFO"),  # the offset needs its colon
        ('{"level": "WARN"}', "INFO"),
        ('{"level": "NOTICE", "timestamp": "2026-11-23T11:21:05Z"}', "INFO"),
        ("plain text", "INFO"),
        ('["level", "WARN"]', "INFO"),
    ],
)
def test_lambdas_filter_reads_a_level_only_with_an_rfc3339_timestamp(line: str, level: str) -> None:
    assert application_level(line) == level


def test_at_warn_powertools_default_lines_would_vanish() -> None:
    assert not keeps_application_line(POWERTOOLS_DEFAULT, "WARN")
    assert keeps_application_line(POWERTOOLS_DEFAULT, "INFO")
