"""Lambda's log capture: an execution environment's output becomes events in its function's log group.

Each environment writes to its own stream, named as Lambda names them (`YYYY/MM/DD/[$LATEST]<hex>`).
Lambda adds its own records around each invocation (START, END, REPORT in the Text format;
`platform.start` and `platform.report` objects in the JSON format), and, in the JSON format, filters
lines by the function's application and system log levels. The rules are pure functions here, so tests
can check what a function emits against them.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

_MAX_EVENTS_PER_CALL = 1000

# Lambda's levels, most verbose first (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
# RFC 3339 date-time: full date, "T" (or "t" or a space, which RFC 3339 allows), time, an offset or Z.
_RFC3339_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")


def is_rfc3339(value: object) -> bool:
    if not isinstance(value, str) or len(value) < 20:
        return False
    text = value[:10] + "T" + value[11:] if value[10:11] in {"t", " "} else value
    text = text[:-1] + "+00:00" if text[-1:] in {"Z", "z"} else text
    if text[19:20] == "." and not text[20:21].isdigit():
        return False
    if text[-6:-5] not in {"+", "-"} or text[-3:-2] != ":":
        return False  # an offset with a colon is required (%z alone would accept +0000)
    for pattern in _RFC3339_FORMATS:
        try:
            datetime.strptime(text, pattern)
        except ValueError:
            continue
        return True
    return False


def application_level(line: str) -> str:
    """The level Lambda gives a line of the function's output in the JSON format.

    A JSON object's `level` counts only if it is one of Lambda's levels and its `timestamp` is RFC 3339;
    anything else is INFO."""
    try:
        record = json.loads(line)
    except ValueError:
        return "INFO"
    if not isinstance(record, dict):
        return "INFO"
    level = record.get("level")
    if not isinstance(level, str) or level.upper() not in APPLICATION_LEVELS:
        return "INFO"
    if not is_rfc3339(record.get("timestamp")):
        return "INFO"
    return level.upper()


def keeps_application_line(line: str, configured_level: str) -> bool:
    """Whether Lambda sends this line to CloudWatch at the function's application log level."""
    return APPLICATION_LEVELS.index(application_level(line)) >= APPLICATION_LEVELS.index(configured_level.upper())


def keeps_system_record(record_level: str, configured_level: str) -> bool:
    return SYSTEM_LEVELS.index(record_level) >= SYSTEM_LEVELS.index(configured_level.upper())


@dataclass(frozen=True)
class LogConfig:
    """A function's logging configuration, as Lambda's LoggingConfig holds it."""

    log_group: str
    log_format: str = "Text"  # "Text" or "JSON"
    application_level: str = "INFO"  # applies to the JSON format only
    system_level: str = "INFO"

    @property
    def json(self) -> bool:
        return self.log_format.upper() == "JSON"


def stream_name(now: float | None = None) -> str:
    day = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC).strftime("%Y/%m/%d")
    return f"{day}/[$LATEST]{uuid.uuid4().hex}"


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Report:
    """What Lambda's REPORT record says about one invocation."""

    request_id: str
    duration_ms: float
    memory_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None
    status: str = "success"  # success, error, timeout
    error_type: str | None = None  # the error Lambda reports for a failed invocation (platform.report's errorType)

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.duration_ms))


def start_record(config: LogConfig, request_id: str, now: float) -> str | None:
    if config.json:
        if not keeps_system_record("INFO", config.system_level):
            return None
        return json.dumps(
            {"time": _iso(now), "type": "platform.start", "record": {"requestId": request_id, "version": "$LATEST"}}
        )
    return f"START RequestId: {request_id} Version: $LATEST"


def end_records(config: LogConfig, report: Report, now: float) -> list[str]:
    """END and REPORT (Text), or platform.report (JSON)."""
    if config.json:
        if not keeps_system_record("INFO", config.system_level):
            return []
        metrics: dict[str, Any] = {
            "durationMs": round(report.duration_ms, 2),
            "billedDurationMs": report.billed_ms,
            "memorySizeMB": report.memory_mb,
            "maxMemoryUsedMB": report.max_memory_used_mb,
        }
        if report.init_duration_ms is not None:
            metrics["initDurationMs"] = round(report.init_duration_ms, 2)
        record: dict[str, Any] = {"requestId": report.request_id, "metrics": metrics, "status": report.status}
        if report.status != "success" and report.error_type:
            record["errorType"] = report.error_type
        return [json.dumps({"time": _iso(now), "type": "platform.report", "record": record})]
    line = (
        f"REPORT RequestId: {report.request_id}\tDuration: {report.duration_ms:.2f} ms\t"
        f"Billed Duration: {report.billed_ms} ms\tMemory Size: {report.memory_mb} MB\t"
        f"Max Memory Used: {report.max_memory_used_mb} MB\t"
    )
    if report.init_duration_ms is not None:
        line += f"Init Duration: {report.init_duration_ms:.2f} ms\t"
    if report.status != "success":
        line += f"Status: {report.status}"
        if report.error_type:
            line += f"\tError Type: {report.error_type}"
    return [f"END RequestId: {report.request_id}", line]


def is_cold_start_report(message: str) -> bool:
    """A REPORT (Text) or platform.report (JSON) record of an invocation that began with an init."""
    if message.startswith("REPORT RequestId:"):
        return "Init Duration:" in message
    if '"platform.report"' in message:
        try:
            record = json.loads(message)
        except ValueError:
            return False
        return isinstance(record, dict) and "initDurationMs" in (record.get("record") or {}).get("metrics", {})
    return False


# What a function's log group says about an invocation that failed as a whole: a function-level failure.
# Lambda's records (Text and JSON formats), the runtime's error record, and the lines Lambda writes for a
# timeout and for a runtime that exited. Sources: Lambda's "Using the Lambda JSON log format" (platform.start,
# platform.report, platform.initReport), the Telemetry API schema reference (a report's `status` is success,
# error, failure or timeout, with an optional `errorType`), and awslambdaric's log_error (the runtime's record:
# JSON `{"level": "ERROR", "errorType", "errorMessage", "requestId", "stackTrace"}`, or Text `[ERROR] Type: msg`).
_TIMED_OUT = re.compile(r"(?:(?P<rid>[0-9a-f-]{36}) )?(?P<text>Task timed out after [\d.]+ seconds)")
_EXITED = re.compile(r"^RequestId: (?P<rid>\S+) Error: (?P<text>Runtime exited[^\n]*)(?:\n(?P<type>\S+))?", re.DOTALL)
_TEXT_ERROR = re.compile(r"^\[ERROR\] (?P<type>[\w.]+): (?P<text>[^\n]*)")
_TEXT_FIELD = re.compile(r"(RequestId|Status|Error Type|Phase): (\S+)")


@dataclass(frozen=True)
class _Record:
    """One log event, as far as function-level failures go."""

    kind: str  # "start", "end" (a report), "init" (an init report), "detail" (an error's type or message)
    at_ms: int
    request_id: str = ""
    status: str = ""
    error_type: str = ""
    message: str = ""


@dataclass(frozen=True)
class FunctionFailure:
    """An invocation that failed as a whole, as its log group tells it: when it ended and why."""

    at_ms: int
    request_id: str
    reason: str
    stream: str = ""


def _json_record(timestamp: int, text: str) -> _Record | None:
    try:
        line = json.loads(text)
    except ValueError:
        return None
    if not isinstance(line, dict):
        return None
    kinds = {"platform.start": "start", "platform.report": "end", "platform.initReport": "init"}
    record = line.get("record")
    if isinstance(record, dict) and line.get("type") in kinds:
        return _Record(
            kinds[line["type"]],
            timestamp,
            str(record.get("requestId") or ""),
            str(record.get("status") or ""),
            str(record.get("errorType") or ""),
        )
    error_type, error_message = line.get("errorType"), line.get("errorMessage")
    if not (isinstance(error_type, str) and error_type and isinstance(error_message, str)):
        return None
    return _Record("detail", timestamp, str(line.get("requestId") or ""), "", error_type, error_message)


def _record(timestamp: int, message: str) -> _Record | None:
    text = message.strip()
    if text.startswith("{"):
        return _json_record(timestamp, text)
    found: _Record | None = None
    if text.startswith(("START RequestId:", "REPORT RequestId:", "INIT_REPORT")):
        fields = dict(_TEXT_FIELD.findall(text))
        kind = "start" if text.startswith("START") else "end" if text.startswith("REPORT") else "init"
        status = fields.get("Status", "success" if kind == "end" else "")
        # The sandbox's INIT_REPORT names the error's message after its type.
        message = text.split("Error Type: ", 1)[1].partition(" ")[2] if "Error Type: " in text else ""
        found = _Record(kind, timestamp, fields.get("RequestId", ""), status, fields.get("Error Type", ""), message)
    elif exited := _EXITED.match(text):
        found = _Record("detail", timestamp, exited["rid"], "", exited["type"] or "Runtime.ExitError", exited["text"])
    elif timed_out := _TIMED_OUT.search(text):
        found = _Record("detail", timestamp, timed_out["rid"] or "", "timeout", "", timed_out["text"])
    elif error := _TEXT_ERROR.match(text):
        found = _Record("detail", timestamp, "", "", error["type"], error["text"])
    return found


def _reason(details: list[_Record], end: _Record | None) -> str:
    timeout = next((d for d in details if d.status == "timeout"), None)
    if timeout is not None:
        return timeout.message
    if end is not None and end.status == "timeout":
        return "Task timed out"
    # The runtime's record names both type and message; an init report or a report may name the type only.
    described = [d for d in details if d.message] or details
    chosen = described[-1] if described else None
    error_type = (chosen.error_type if chosen else "") or (end.error_type if end else "")
    message = chosen.message if chosen else ""
    if error_type and message:
        return f"{error_type}: {message}"
    return error_type or message or f"the function failed (status {end.status if end else 'unknown'})"


def _stream_failures(stream: str, records: list[_Record]) -> list[FunctionFailure]:
    failures: list[FunctionFailure] = []
    carried: list[_Record] = []
    # The failure just recorded and what made its reason: an error record straight after it (no start
    # between) is its own, late (the runtime's output races Lambda's records): it completes the reason.
    last: tuple[int, _Record, list[_Record]] | None = None
    for index, record in enumerate(records):
        if record.kind == "detail":
            if last is not None and not carried:
                position, end, details = last
                details.append(record)
                failures[position] = FunctionFailure(end.at_ms, end.request_id, _reason(details, end), stream)
            else:
                carried.append(record)
            continue
        if record.kind == "start":
            last = None
            continue
        if record.kind == "init":
            if record.status != "error":
                continue
            if any(later.kind == "end" for later in records[index + 1 :]):
                carried.append(record)  # Lambda retries the init in the invocation, whose report follows
                continue
        elif record.status in ("", "success"):  # a report of an invocation that did not fail
            carried, last = [], None
            continue
        details = [*carried, record] if record.kind == "init" else carried
        failures.append(FunctionFailure(record.at_ms, record.request_id, _reason(details, record), stream))
        last, carried = (len(failures) - 1, record, details), []
    if carried:  # reports dropped (system log level WARN): the error records stand for the invocation
        failures.append(FunctionFailure(carried[-1].at_ms, carried[-1].request_id, _reason(carried, None), stream))
    return failures


def function_failures(events: list[dict[str, Any]]) -> list[FunctionFailure]:
    """The invocations that failed as a whole, oldest first, from a log group's events (FilterLogEvents'
    `timestamp`, `message` and `logStreamName`).

    One environment logs to one stream, one invocation at a time, so a stream read in order splits into
    invocations at each start record. A failed invocation ends with a report whose status is not success
    (or, for an init that failed and was never retried in that environment, its init report); the error
    records before it (or, for an init failure, just after it: the runtime's output and Lambda's own
    record race) give its reason. With the system log level at WARN Lambda drops the reports: the error
    records alone then stand for the invocation."""
    streams: dict[str, list[_Record]] = {}
    for event in sorted(events, key=lambda e: int(e.get("timestamp", 0))):
        record = _record(int(event.get("timestamp", 0)), str(event.get("message", "")))
        if record is not None:
            streams.setdefault(str(event.get("logStreamName", "")), []).append(record)
    failures = [failure for stream, records in streams.items() for failure in _stream_failures(stream, records)]
    return sorted(failures, key=lambda failure: failure.at_ms)


class LogStream:
    """One environment's stream in its function's log group; lines are shipped by a `LogShipper`."""

    def __init__(self, client: Any, config: LogConfig) -> None:
        self.config = config
        self.name = stream_name()
        self._client = client
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Lambda writes the logs with the execution role: a role that may not is no error for the function,
        # its lines are lost (as on AWS), and `orderctl iam report` shows the denied calls.
        self.denied = False
        try:
            client.create_log_stream(logGroupName=config.log_group, logStreamName=self.name)
        except ClientError as error:
            if not _access_denied(error):
                raise
            self.denied = True

    def application(self, line: str) -> None:
        """A line the function wrote; in the JSON format, kept only at the configured level."""
        if self.config.json and not keeps_application_line(line, self.config.application_level):
            return
        self.system(line)

    def system(self, line: str) -> None:
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": line})

    def flush(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if self.denied:
            return
        for start in range(0, len(events), _MAX_EVENTS_PER_CALL):
            try:
                self._client.put_log_events(
                    logGroupName=self.config.log_group,
                    logStreamName=self.name,
                    logEvents=events[start : start + _MAX_EVENTS_PER_CALL],
                )
            except ClientError as error:
                if not _access_denied(error):
                    raise
                return  # lost, as Lambda loses the lines of a role that may not write them


def _access_denied(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in {"AccessDeniedException", "AccessDenied"}


class LogShipper:
    """Ships every open stream's pending lines to CloudWatch Logs, once a second.

    Lambda, too, delivers a function's lines to CloudWatch Logs on its own schedule, seconds later. Shipping
    four times a second cost the emulator's interpreter 6% of its time at 110 orders/s (PutLogEvents
    calls, 20 a second for 5 environments); tests and the demo call flush() when they read the logs."""

    def __init__(self, interval: float = 1.0) -> None:
        self._streams: list[LogStream] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="sandbox-logs", daemon=True)
        self._thread.start()

    def add(self, stream: LogStream) -> LogStream:
        with self._lock:
            self._streams.append(stream)
        return stream

    def flush(self) -> None:
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 (the emulator stopping under us; the final flush reports)
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
