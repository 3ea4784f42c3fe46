"""Lambda's log capture: what a function prints becomes events in its CloudWatch log group.

One router per process takes stdout's place while a sandbox runs. A line that is a Powertools log
record or an EMF metric of a known service goes to that function's log group (in the emulator), where
`orderctl dlq list` and the tests read it as they would on AWS; every other line passes through.
The router outlives each sandbox because loggers do: a handler loaded again reuses the logger (and
the stream) it was first given, so the router must still be there, attached to the current sandbox.
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
from typing import Any, ClassVar, TextIO

_MAX_EVENTS_PER_CALL = 1000


class FunctionLogs(io.TextIOBase):
    _router: ClassVar[FunctionLogs | None] = None

    @classmethod
    def attach(cls, logs_client: Any, groups_by_service: Mapping[str, str], echo: bool = False) -> FunctionLogs:
        """Routes the functions' lines to their log groups until `detach()`; load handlers after this."""
        router = cls._router or cls()
        cls._router = router
        router._connect(logs_client, groups_by_service, echo)
        return router

    def __init__(self) -> None:
        self._client: Any = None
        self._groups: dict[str, str] = {}
        self._echo = False
        self._passthrough: TextIO = sys.stdout
        self._partial = threading.local()  # print() writes a line in pieces; threads must not mix them
        self._pending: list[tuple[str, int, str]] = []
        self._lock = threading.Lock()
        self._streams: dict[str, str] = {}
        self._stop = threading.Event()
        self._shipper: threading.Thread | None = None

    def _connect(self, logs_client: Any, groups_by_service: Mapping[str, str], echo: bool) -> None:
        with self._lock:
            self._client, self._groups, self._echo = logs_client, dict(groups_by_service), echo
        day = datetime.now(tz=UTC).strftime("%Y/%m/%d")
        for group in set(self._groups.values()):
            stream = f"{day}/[$LATEST]{uuid.uuid4().hex}"
            logs_client.create_log_stream(logGroupName=group, logStreamName=stream)
            self._streams[group] = stream
        if sys.stdout is not self:
            self._passthrough, sys.stdout = sys.stdout, self
        self._stop.clear()
        self._shipper = threading.Thread(target=self._ship_until_stopped, name="sandbox-logs", daemon=True)
        self._shipper.start()

    def detach(self) -> None:
        """Ships what is pending and passes every line through again."""
        self._stop.set()
        if self._shipper is not None:
            self._shipper.join(timeout=5)
        self.flush_to_cloudwatch()
        with self._lock:
            self._client, self._groups = None, {}
        if sys.stdout is self:
            sys.stdout = self._passthrough

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
        if not self._groups or not line.startswith("{"):
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
            client = self._client
        if client is None:
            return
        by_group: dict[str, list[dict[str, Any]]] = {}
        for group, timestamp, message in pending:
            by_group.setdefault(group, []).append({"timestamp": timestamp, "message": message})
        for group, events in by_group.items():
            events.sort(key=lambda event: event["timestamp"])
            for start in range(0, len(events), _MAX_EVENTS_PER_CALL):
                client.put_log_events(
                    logGroupName=group,
                    logStreamName=self._streams[group],
                    logEvents=events[start : start + _MAX_EVENTS_PER_CALL],
                )

    def _ship_until_stopped(self) -> None:
        while not self._stop.wait(0.25):
            self.flush_to_cloudwatch()
