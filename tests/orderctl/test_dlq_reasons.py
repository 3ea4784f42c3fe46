"""A dead letter's reason when the function failed as a whole: the function's log group read as Lambda
writes it, and the invocations tied to the message's receives by time (orderctl.pipeline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from orderctl.pipeline import FUNCTION_FAILURE, Attempt, with_function_failures
from sandbox.logs import FunctionFailure, function_failures

RID = "8f5b6a52-6f1d-4b1e-9a55-0c6d1f0e2a11"
IMPORT_ERROR = "Unable to import module 'handler.app': No module named 'moto'"


def _events(stream: str, *messages: str, start: int = 1_000) -> list[dict[str, object]]:
    return [{"timestamp": start + i, "message": m, "logStreamName": stream} for i, m in enumerate(messages)]


def _runtime_error(request_id: str = "") -> str:
    """awslambdaric's log_error in the JSON format (level ERROR, so kept at every application log level)."""
    record = {"timestamp": "2026-11-22T10:00:00Z", "level": "ERROR", "errorMessage": IMPORT_ERROR}
    return json.dumps({**record, "errorType": "Runtime.ImportModuleError", "requestId": request_id, "stackTrace": []})


def _report(status: str, error_type: str | None = None, request_id: str = RID) -> str:
    record: dict[str, object] = {"requestId": request_id, "metrics": {"durationMs": 1.0}, "status": status}
    if error_type:
        record["errorType"] = error_type
    return json.dumps({"time": "2026-11-22T10:00:00.000Z", "type": "platform.report", "record": record})


def _start(request_id: str = RID) -> str:
    return json.dumps(
        {"time": "2026-11-22T10:00:00.000Z", "type": "platform.start", "record": {"requestId": request_id}}
    )


def test_an_init_failure_in_the_sandbox_is_one_failure_whichever_record_comes_first() -> None:
    init_report = "INIT_REPORT Phase: init Status: error Error Type: Runtime.ImportModuleError " + IMPORT_ERROR
    for messages in ((_runtime_error(), init_report), (init_report, _runtime_error())):
        [failure] = function_failures(_events("s", *messages))
        assert failure.reason == f"Runtime.ImportModuleError: {IMPORT_ERROR}"


def test_an_init_failure_as_lambda_logs_it_in_text_is_one_failure() -> None:
    # Lambda retries a failed init inside the invocation: INIT_REPORT (phase init), START, the error again,
    # INIT_REPORT (phase invoke), END, REPORT with the status and error type.
    messages = (
        "INIT_REPORT Init Duration: 250.12 ms\tPhase: init\tStatus: error\tError Type: Runtime.ImportModuleError",
        f"START RequestId: {RID} Version: $LATEST",
        f"[ERROR] Runtime.ImportModuleError: {IMPORT_ERROR}\nTraceback (most recent call last):",
        "INIT_REPORT Init Duration: 240.00 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.ImportModuleError",
        f"END RequestId: {RID}",
        f"REPORT RequestId: {RID}\tDuration: 241.00 ms\tStatus: error\tError Type: Runtime.ImportModuleError",
    )
    [failure] = function_failures(_events("s", *messages))
    assert (failure.request_id, failure.reason) == (RID, f"Runtime.ImportModuleError: {IMPORT_ERROR}")


def test_a_timeout_and_a_crash_in_the_json_format() -> None:
    timeout = _events(
        "a",
        _start(),
        f"2026-11-22T10:00:02.000Z {RID} Task timed out after 2.00 seconds",
        _report("timeout", "Sandbox.Timedout"),
    )
    crash = _events(
        "b",
        _start("r2"),
        "RequestId: r2 Error: Runtime exited with error: exit status 3\nRuntime.ExitError",
        _report("error", "Runtime.ExitError", "r2"),
        start=5_000,
    )
    assert [f.reason for f in function_failures(timeout + crash)] == [
        "Task timed out after 2.00 seconds",
        "Runtime.ExitError: Runtime exited with error: exit status 3",
    ]


def test_a_report_alone_still_names_the_error_type_and_successes_are_not_failures() -> None:
    ok = _events("a", _start(), _report("success"))
    bare = _events("b", _start("r2"), _report("error", "Runtime.ExitError", "r2"), start=9_000)
    [failure] = function_failures(ok + bare)
    assert failure.reason == "Runtime.ExitError"


def test_with_the_reports_dropped_the_runtime_record_stands_for_the_invocation() -> None:
    # System log level WARN: Lambda sends no platform.start or platform.report; the runtime's record is ERROR.
    [failure] = function_failures(_events("s", _runtime_error(RID)))
    assert failure.reason == f"Runtime.ImportModuleError: {IMPORT_ERROR}"


def _failure(at_ms: int, reason: str = "boom") -> FunctionFailure:
    return FunctionFailure(at_ms, "", reason)


def test_receives_are_tied_to_the_failed_invocations_in_time() -> None:
    first = 100_000
    failures = [
        _failure(first - 5_000, "before the message existed"),
        _failure(first + 500, "one"),
        # after receive 1's, but before its visibility timeout (less a second for clocks) let the message go
        _failure(first + 1_500, "a concurrent batch's, too early for receive 2"),
        _failure(first + 5_100, "two"),
        _failure(first + 9_000, "three"),
        _failure(first + 12_000, "a fourth: the message had only three receives"),
    ]
    attempts = with_function_failures([], first, 3, 3_000, failures)
    assert [(a.number, a.failure, a.reason) for a in attempts] == [
        (1, FUNCTION_FAILURE, "one"),
        (2, FUNCTION_FAILURE, "two"),
        (3, FUNCTION_FAILURE, "three"),
    ]


def test_a_receive_the_processor_logged_keeps_its_line_and_bounds_the_others() -> None:
    first = 100_000
    logged = [Attempt(2, datetime.fromtimestamp((first + 4_000) / 1000, tz=UTC), "transient", "throttled")]
    failures = [
        _failure(first + 1_000, "one"),
        _failure(first + 3_900, "not after 2"),
        _failure(first + 8_000, "three"),
    ]
    attempts = with_function_failures(logged, first, 3, 3_000, failures)
    assert [(a.number, a.reason) for a in attempts] == [(1, "one"), (2, "throttled"), (3, "three")]


def test_nothing_found_leaves_the_receive_without_an_attempt() -> None:
    assert with_function_failures([], 100_000, 3, 3_000, [_failure(10_000)]) == []
    assert with_function_failures([], None, 3, 3_000, [_failure(100_500)]) == []
