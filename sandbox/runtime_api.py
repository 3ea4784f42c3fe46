"""The Lambda Runtime API, as AWS documents it, served to one execution environment.

https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html: the runtime (here AWS's `awslambdaric`)
asks `GET /2018-06-01/runtime/invocation/next` for an event, answers with
`POST .../invocation/{id}/response` or `.../invocation/{id}/error`, and reports a failed
initialisation with `POST /2018-06-01/runtime/init/error`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One event handed to the runtime, and what it answered."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    answered: threading.Event = field(default_factory=threading.Event)
    response: bytes | None = None
    error: dict[str, Any] | None = None


@dataclass
class RuntimeState:
    """What the server shares with the environment that owns it."""

    ready: threading.Event = field(default_factory=threading.Event)  # the runtime asked for its first event
    init_error: dict[str, Any] | None = None
    init_failed: threading.Event = field(default_factory=threading.Event)
    first_next_at: float | None = None
    _pending: Invocation | None = None
    _current: Invocation | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def hand(self, invocation: Invocation) -> None:
        with self._cond:
            self._pending = invocation
            self._cond.notify_all()

    def take(self) -> Invocation | None:
        with self._cond:
            if self.first_next_at is None:
                self.first_next_at = time.monotonic()
                self.ready.set()
            while self._pending is None and not self.closed:
                self._cond.wait(timeout=1)
            invocation, self._pending = self._pending, None
            self._current = invocation
            return invocation

    def current(self, request_id: str) -> Invocation | None:
        with self._cond:
            current = self._current
        return current if current is not None and current.request_id == request_id else None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the runtime's requests are not the sandbox's output

    def _reply(self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND)
            return
        invocation = self.server.state.take()
        if invocation is None:  # the environment is shutting down
            self._reply(HTTPStatus.GONE)
            return
        self._reply(
            HTTPStatus.OK,
            invocation.payload,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:
        body = self._body()
        state = self.server.state
        if self.path == f"{PREFIX}/init/error":
            state.init_error = _error_document(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            state.init_failed.set()
            self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            return
        parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
        known = self.path.startswith(f"{PREFIX}/invocation/") and len(parts) == 2
        if not known or parts[1] not in {"response", "error"}:
            self._reply(HTTPStatus.NOT_FOUND)
            return
        invocation = state.current(parts[0])
        if invocation is None or invocation.answered.is_set():
            self._reply(HTTPStatus.BAD_REQUEST, b'{"errorType":"InvalidRequestID"}')
            return
        if parts[1] == "response":
            invocation.response = body
        else:
            invocation.error = _error_document(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
        invocation.answered.set()
        self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')


def _error_document(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        document = {"errorMessage": body.decode(errors="replace")}
    document.setdefault("errorType", error_type or "Runtime.Unknown")
    return document


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # an environment killed mid-request (a timeout, its memory) resets its connection: expected

    def __init__(self, state: RuntimeState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class RuntimeApi:
    """One Runtime API endpoint on loopback (an ephemeral port), for one execution environment."""

    def __init__(self) -> None:
        self.state = RuntimeState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """host:port, as AWS_LAMBDA_RUNTIME_API holds it."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def close(self) -> None:
        self.state.close()
        self._server.shutdown()
        self._server.server_close()
