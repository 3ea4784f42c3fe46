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
        record = {"requestId": report.request_id, "metrics": metrics, "status": report.status}
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
