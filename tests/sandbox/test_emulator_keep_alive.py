"""The emulator keeps HTTP connections alive unless told not to (the benchmark measures both)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from sandbox.emulator import Emulator


@pytest.fixture(params=[True, False], ids=["keep-alive", "close"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    running = Emulator("us-east-1", keep_alive=request.param)
    running.start()
    yield running
    running.stop()


def test_connection_serves_many_requests_only_with_keep_alive(emulator: Emulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    body = "Action=ListQueues&Version=2012-11-05"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=x/20261123/us-east-1/sqs/aws4_request",
    }
    connection.request("POST", "/", body=body, headers=headers)
    first = connection.getresponse()
    first.read()
    assert first.status == 200
    if emulator.keep_alive:
        assert first.version == 11
        assert not first.will_close
        connection.request("POST", "/", body=body, headers=headers)  # the same socket
        second = connection.getresponse()
        second.read()
        assert second.status == 200
    else:
        assert first.will_close
    connection.close()


def test_keep_alive_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_EMULATOR_KEEP_ALIVE", "0")
    assert not Emulator("us-east-1").keep_alive
    monkeypatch.delenv("ORDERS_EMULATOR_KEEP_ALIVE")
    assert Emulator("us-east-1").keep_alive
