"""Lambda's log capture: what a function prints becomes events in its CloudWatch log group.

The sandbox puts a router in place of stdout before it loads the handler. A line that is a Powertools
log record or an EMF metric of a known service goes to that function's log group (in the emulator),
where `orderctl dlq list` and the tests read it as they would on AWS; every other line passes through.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

_MAX_EVENTS_PER_CALL = 1000


class FunctionLogs(io.TextIOBase):
    def __init__(self, logs_client: Any, groups_by_service: Mapping[str, str], echo: bool = False) -> None:
        self._client = logs_client
        self._groups = dict(groups_by_service)
        self._echo = echo
        self._passthrough: TextIO = sys.stdout
        self._partial = threading.local()  # print() writes a line in pieces; threads must not mix them
        self._pending: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._streams: dict[str, str] = {}
        self._stop = threading.Event()
        self._shipper = threading.Thread(target=self._ship_until_stopped, name="sandbox-logs", daemon=True)

    def install(self) -> FunctionLogs:
        """Replaces stdout; load the handler after this so its logger writes here."""
        self._passthrough = sys.stdout
        day = datetime.now(tz=UTC).strftime("%Y/%m/%d")
        for group in set(self._groups.values()):
            stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
            self._client.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[group] = stream
        sys.stdout = self
        self._shipper.start()
        return self

    def uninstall(self) -> None:
        if sys.stdout is self:
            sys.stdout = self._passthrough
        self._stop.set()
        self._shipper.join(timeout=5)
        self.flush_to_cloudwatch()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._partial, "text", "") + text
        *lines, rest = pending.split("\n")
        self._partial.text = rest
        for line in lines:
            self._route(line)
        return len(text)

    def flush(self) -> None:
        self._passthrough.flush()

    def _route(self, line: str) -> None:
        group = self._group_of(line)
        if group is None or self._echo:
            self._passthrough.write(line + "\n")
        if group is not None:
            with self._lock:
                self._pending.append((group, int(time.time() * 1000), line))

    def _group_of(self, line: str) -> str | None:
        if not line.startswith("{"):
            return None
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict) and ("_aws" in record or "level" in record):
            return self._groups.get(str(record.get("service")))
        return None

    def flush_to_cloudwatch(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        by_group: dict[str, list[dict[str, Any]]] = {}
        for group, timestamp, message in pending:
            by_group.setdefault(group, []).append({"timestamp": timestamp, "message": message})
        for group, events in by_group.items():
            events.sort(key=lambda event: event["timestamp"])
            for start in range(0, len(events), _MAX_EVENTS_PER_CALL):
                self._client.put_log_events(
                    logGroupName=group,
                    logStreamName=self._streams[group],
                    logEvents=events[start : start + _MAX_EVENTS_PER_CALL],
                )

    def _ship_until_stopped(self) -> None:
        while not self._stop.wait(0.25):
            self.flush_to_cloudwatch()
