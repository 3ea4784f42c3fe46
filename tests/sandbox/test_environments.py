"""Execution environments behave as Lambda's: real processes running awslambdaric, driven by the sandbox's
Runtime API, its pools and its event source poller, against the emulator. Each test fails on an
in-process sandbox (the handler imported into the test's own interpreter)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from sandbox import runner
from sandbox.cgroups import cgroups_unavailable
from sandbox.deploy import FunctionSpec, MappingSpec
from sandbox.emulator import Emulator, Endpoint
from sandbox.environment import EnvironmentPool, FunctionSetup, make_read_only, make_writable, runtime_libraries
from sandbox.logs import LogConfig, LogShipper, is_cold_start_report
from sandbox.poller import EventSourcePoller, backoff_seconds
from sandbox.telemetry import METRICS_NAMESPACE, RECEIVE_ERRORS_METRIC

FUNCTIONS = Path(__file__).parent / "functions"
REGION = "us-east-1"
needs_cgroups = pytest.mark.skipif(cgroups_unavailable() is not None, reason=f"{cgroups_unavailable()}")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    emulator = Emulator(REGION)
    yield emulator.start()
    emulator.stop()


@pytest.fixture(scope="module")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("task") / "code"
    shutil.copytree(FUNCTIONS, root, ignore=shutil.ignore_patterns("__pycache__"))
    make_read_only(root)
    yield root
    make_writable(root)


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_libraries(tmp_path_factory.mktemp("runtime"))


class Functions:
    """Makes pools of the probe functions, each with its own log group in the emulator."""

    def __init__(self, endpoint: Endpoint, task_root: Path, libraries: Path) -> None:
        self.endpoint = endpoint
        self.task_root = task_root
        self.libraries = libraries
        self.logs = endpoint.client("logs")
        self.shipper = LogShipper()
        self.pools: list[EnvironmentPool] = []

    def setup(
        self, handler: str, *, memory_mb: int = 256, timeout: float = 3, log_format: str = "Text"
    ) -> FunctionSetup:
        name = f"probe-{uuid.uuid4().hex[:8]}"
        group = f"/aws/lambda/{name}"
        self.logs.create_log_group(logGroupName=group)
        return FunctionSetup(
            name=name,
            arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
            handler=handler,
            task_root=self.task_root,
            memory_mb=memory_mb,
            timeout_seconds=timeout,
            environment={"OWN_VARIABLE": "set by the function's configuration"},
            log=LogConfig(group, log_format),
            region=REGION,
            endpoint_url=self.endpoint.url,
            session=self.endpoint.session(),
        )

    def pool(self, setup: FunctionSetup, limit: int = 1) -> EnvironmentPool:
        pool = EnvironmentPool(
            setup, self.libraries, self.shipper, self.logs, limit=limit, limits=cgroups_unavailable() is None
        )
        self.pools.append(pool)
        return pool

    def log_messages(self, setup: FunctionSetup) -> list[str]:
        self.shipper.flush()
        events = self.logs.filter_log_events(logGroupName=setup.log.log_group)["events"]
        return [event["message"] for event in events]

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.shipper.close()


@pytest.fixture
def functions(endpoint: Endpoint, task_root: Path, libraries: Path) -> Iterator[Functions]:
    made = Functions(endpoint, task_root, libraries)
    yield made
    made.close()


def test_an_environment_sees_only_the_archive_and_the_runtimes_libraries(functions: Functions) -> None:
    setup = functions.setup("probe.environment")
    modules = ["boto3", "botocore", "awslambdaric", "moto", "pulumi", "rich", "aws_lambda_powertools", "sandbox"]
    outcome = functions.pool(setup).invoke({"modules": modules})
    assert outcome.ok, outcome.error
    importable = outcome.response["importable"]
    assert importable == {name: name in {"boto3", "botocore", "awslambdaric"} for name in modules}
    environ = outcome.response["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == setup.name
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environ["_HANDLER"] == "probe.environment"
    assert environ["LAMBDA_TASK_ROOT"] == str(setup.task_root)
    assert environ["AWS_LAMBDA_LOG_GROUP_NAME"] == setup.log.log_group
    assert environ["AWS_LAMBDA_LOG_STREAM_NAME"].split("]")[0].endswith("[$LATEST")
    assert environ["AWS_ENDPOINT_URL"] == functions.endpoint.url
    assert environ["AWS_REGION"] == REGION
    assert environ["OWN_VARIABLE"] == "set by the function's configuration"
    assert "VIRTUAL_ENV" not in environ
    assert "PYTEST_CURRENT_TEST" not in environ
    assert not os.stat(setup.task_root).st_mode & 0o222  # read-only, as /var/task


def test_an_environment_is_reused_while_warm_and_only_its_first_report_has_an_init_duration(
    functions: Functions,
) -> None:
    setup = functions.setup("probe.echo")
    pool = functions.pool(setup)
    first, second = pool.invoke({"n": 1}), pool.invoke({"n": 2})
    assert first.response["pid"] == second.response["pid"]
    assert (first.cold, second.cold) == (True, False)
    assert 2000 < second.response["remaining_ms"] <= 3000
    reports = [m for m in functions.log_messages(setup) if m.startswith("REPORT")]
    assert [is_cold_start_report(m) for m in reports] == [True, False]
    assert "Memory Size: 256 MB" in reports[0]
    assert "Billed Duration:" in reports[0]


def test_json_log_format_gives_platform_records(functions: Functions) -> None:
    setup = functions.setup("probe.echo", log_format="JSON")
    functions.pool(setup).invoke({})
    records = [json.loads(m) for m in functions.log_messages(setup) if m.startswith('{"time"')]
    assert [r["type"] for r in records] == ["platform.start", "platform.report"]
    assert records[1]["record"]["metrics"]["memorySizeMB"] == 256
    assert "initDurationMs" in records[1]["record"]["metrics"]


def test_an_exception_is_reported_with_lambdas_error_fields(functions: Functions) -> None:
    outcome = functions.pool(functions.setup("probe.boom")).invoke({})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "ValueError"
    assert outcome.error["errorMessage"] == "the handler failed on purpose"
    assert any("probe.py" in frame for frame in outcome.error["stackTrace"])


def test_a_response_that_cannot_be_serialised_fails_the_invocation(functions: Functions) -> None:
    outcome = functions.pool(functions.setup("probe.unserialisable")).invoke({})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.MarshalError"


@needs_cgroups
def test_a_handler_needing_more_cpu_than_its_share_times_out(functions: Functions) -> None:
    # 0.4 s of CPU: well within 1.5 s on a whole CPU, about 5.5 s at 128 MB's share (7% of one).
    setup = functions.setup("probe.spin", memory_mb=128, timeout=1.5)
    started = time.monotonic()
    outcome = functions.pool(setup).invoke({"cpu_seconds": 0.4})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Sandbox.Timedout"
    assert time.monotonic() - started < 5
    assert any("Task timed out after 1.50 seconds" in m for m in functions.log_messages(setup))


def test_a_timed_out_environment_never_writes_afterwards_and_the_next_invocation_cold_starts(
    functions: Functions, tmp_path: Path
) -> None:
    setup = functions.setup("probe.write_forever", timeout=0.5)
    pool = functions.pool(setup)
    out = tmp_path / "writes"
    outcome = pool.invoke({"path": str(out)})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Sandbox.Timedout"
    written = out.read_text()
    time.sleep(0.3)  # 15 of its 20 ms writes, had it survived
    assert out.read_text() == written
    assert pool.invoke({"path": str(tmp_path / "again")}).cold


@needs_cgroups
def test_an_environment_over_its_memory_is_killed(functions: Functions) -> None:
    outcome = functions.pool(functions.setup("probe.hog", memory_mb=128, timeout=15)).invoke({"mb": 200})
    assert outcome.error is not None
    assert outcome.error["errorType"] == "Runtime.ExitError"
    assert outcome.error["errorMessage"].endswith("Runtime exited with error: signal: killed")


def test_a_new_version_reaches_new_invocations_while_one_under_way_finishes_on_the_old_and_none_is_reused(
    functions: Functions,
) -> None:
    old = dataclasses.replace(functions.setup("probe.nap"), environment={"VERSION": "old"})
    pool = functions.pool(old, limit=3)
    long_call = {"seconds": 1.5}
    with ThreadPoolExecutor(1) as background:
        under_way = background.submit(pool.invoke, long_call)  # takes the old version's first environment
        assert _wait(lambda: pool.stats.busy == 1, 10)
        warm = pool.invoke({"seconds": 0})  # a second old environment, left idle and warm
        assert warm.ok, warm.error
        assert warm.response["version"] == "old"
        assert len(pool.pids()) == 2
        pool.switch(dataclasses.replace(old, environment={"VERSION": "new"}))  # UpdateFunctionConfiguration
        running = pool.pids()
        assert len(running) == 1  # the idle old one is stopped at once; the busy one runs on
        assert warm.response["pid"] not in running
        new = pool.invoke({"seconds": 0})
        finished = under_way.result(timeout=20)
    assert finished.ok, finished.error
    assert finished.response["version"] == "old"  # it started on the old version and finished there
    assert new.ok, new.error
    assert (new.response["version"], new.cold) == ("new", True)
    assert new.response["pid"] not in {warm.response["pid"], finished.response["pid"]}
    assert pool.pids() == [new.response["pid"]]  # the busy old one was stopped once its invocation ended
    again = pool.invoke({"seconds": 0})
    assert (again.response["pid"], again.cold) == (new.response["pid"], False)  # the new version stays warm


# Through the event source poller: queue, DLQ, batches.


def _queue_pair(endpoint: Endpoint, visibility: int = 1) -> tuple[str, str, str]:
    sqs = endpoint.client("sqs")
    name = uuid.uuid4().hex[:8]
    dlq_url = sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    attributes = {"VisibilityTimeout": str(visibility), "RedrivePolicy": redrive}
    url = sqs.create_queue(QueueName=f"q-{name}", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn, dlq_url


def _poller(functions: Functions, setup: FunctionSetup, queue_arn: str, concurrency: int, batch: int) -> Any:
    spec = FunctionSpec(
        setup.name,
        setup.arn,
        setup.handler,
        setup.task_root,
        {},
        int(setup.timeout_seconds),
        setup.memory_mb,
        "",
        "arn:aws:iam::123456789012:role/sandbox-test",
    )
    mapping = MappingSpec("m", queue_arn, setup.arn, batch, 0, concurrency, True, True)
    pool = functions.pool(setup, limit=concurrency)
    session: boto3.Session = functions.endpoint.session()
    return EventSourcePoller(mapping, spec, pool, session, functions.endpoint.url)


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_a_module_missing_from_the_archive_fails_init_and_the_orders_reach_the_dlq(functions: Functions) -> None:
    url, arn, dlq_url = _queue_pair(functions.endpoint)
    sqs = functions.endpoint.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody='{"orderId": "needs-moto"}')
    setup = functions.setup("needs_moto.handler")
    poller = _poller(functions, setup, arn, concurrency=2, batch=10).start()
    try:

        def dead_lettered() -> list[Any]:
            messages: list[Any] = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", [])
            return messages

        assert _wait(dead_lettered, 15)
    finally:
        poller.stop()
    assert poller.stats.deleted == 0
    assert "Runtime.ImportModuleError" in poller.stats.last_error
    assert any("Runtime.ImportModuleError" in m for m in functions.log_messages(setup))


def test_an_unserialisable_response_fails_the_batch(functions: Functions) -> None:
    url, arn, _ = _queue_pair(functions.endpoint, visibility=30)
    functions.endpoint.client("sqs").send_message(QueueUrl=url, MessageBody="{}")
    poller = _poller(functions, functions.setup("probe.unserialisable"), arn, concurrency=2, batch=10).start()
    try:
        assert _wait(lambda: poller.stats.batch_failures == 1, 10)
    finally:
        poller.stop()
    assert poller.stats.deleted == 0
    assert poller.stats.last_error.startswith("Runtime.MarshalError")


def test_concurrency_never_exceeds_the_maximum_as_the_environments_see_it(functions: Functions, tmp_path: Path) -> None:
    url, arn, _ = _queue_pair(functions.endpoint, visibility=30)
    body = json.dumps({"directory": str(tmp_path)})
    sqs = functions.endpoint.client("sqs")
    for start in range(0, 8, 4):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i in range(start, start + 4)]
        )
    poller = _poller(functions, functions.setup("probe.overlap"), arn, concurrency=2, batch=1).start()
    seen: list[dict[str, float]] = []

    def marks() -> int:
        seen[:] = [json.loads(p.read_text()) for p in tmp_path.iterdir()]
        return len(seen)

    try:
        assert _wait(lambda: marks() >= 8, 30)
    finally:
        poller.stop()
    events = sorted([(m["start"], 1) for m in seen] + [(m["end"], -1) for m in seen])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2  # as the environments themselves saw it: never 3, and concurrency was used
    assert len({m["pid"] for m in seen}) == 2  # two warm environments served all eight


def test_receive_errors_are_counted_and_published_not_swallowed(functions: Functions) -> None:
    url, arn, _ = _queue_pair(functions.endpoint)
    setup = functions.setup("probe.echo")
    poller = _poller(functions, setup, arn, concurrency=2, batch=10).start()
    functions.endpoint.client("sqs").delete_queue(QueueUrl=url)
    try:
        assert _wait(lambda: poller.stats.receive_errors >= 1, 10)
    finally:
        poller.stop()
    assert poller.stats.last_error.startswith("receive failed")
    datapoints = functions.endpoint.client("cloudwatch").get_metric_statistics(
        Namespace=METRICS_NAMESPACE,
        MetricName=RECEIVE_ERRORS_METRIC,
        Dimensions=[{"Name": "FunctionName", "Value": setup.name}],
        StartTime=datetime.now(tz=UTC) - timedelta(hours=1),
        EndTime=datetime.now(tz=UTC) + timedelta(minutes=1),
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(point["Sum"] for point in datapoints) == poller.stats.receive_errors


def test_failed_batches_back_off_doubling_up_to_a_cap() -> None:
    assert [backoff_seconds(n) for n in range(6)] == [0, 1, 2, 4, 8, 8]


def test_a_delete_that_fails_is_retried_then_counted_never_as_deleted(functions: Functions) -> None:
    url, arn, _ = _queue_pair(functions.endpoint, visibility=30)
    sqs = functions.endpoint.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    [received] = sqs.receive_message(QueueUrl=url)["Messages"]
    poller = _poller(functions, functions.setup("probe.echo"), arn, concurrency=2, batch=10)
    stale = {**received, "MessageId": "stale", "ReceiptHandle": "no-longer-valid"}
    poller._delete([received, stale])
    assert (poller.stats.deleted, poller.stats.delete_failures) == (1, 1)
    assert "ReceiptHandleIsInvalid" in poller.stats.last_error


def test_without_cgroups_the_sandbox_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "_told_about_cgroups", False)
    sandbox = runner.Sandbox(FUNCTIONS.parents[2])
    sandbox.limits_off = "cgroups need root"
    sandbox._tell_about_limits()
    sandbox._tell_about_limits()
    assert capsys.readouterr().err.count("without Lambda's CPU share and memory limit here (cgroups need root)") == 1
