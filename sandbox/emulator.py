"""The embedded AWS emulator: moto's server, in this process, on 127.0.0.1 only."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from flask import Flask, Response, request
from moto.backends import SERVICE_NAMES
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from sandbox import sns_delivery, sqs_attributes
from sandbox.http_keep_alive import KeepAliveRequestHandler
from sandbox.iam import Enforcer, Ledger

# "0" turns HTTP keep-alive off (the benchmark measures both); any other value, or none, keeps it on.
KEEP_ALIVE_VARIABLE = "ORDERS_EMULATOR_KEEP_ALIVE"

DUMMY_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
# Local calls: no retries on the emulator's own errors, which are final (an unimplemented action, say).
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, max_pool_connections=32)
UNSUPPORTED = "UnsupportedOperation"  # what AWS answers for an operation a service does not offer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Endpoint:
    url: str
    region: str

    def session(self) -> boto3.Session:
        return boto3.Session(
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
        )

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        make: Any = (session or self.session()).client  # any service, by name: the typed overloads want literals
        return make(service, endpoint_url=self.url, config=_CLIENT_CONFIG)

    def environment(self) -> dict[str, str]:
        """What any AWS SDK in this or another process needs to reach the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


def _unsupported(error: NotImplementedError) -> Response:
    """An action moto lacks, answered as AWS answers an operation it does not offer (a 400 with a code)
    instead of moto's bare HTML 500, which a client cannot tell from a crash."""
    message = str(error)
    if "json" in (request.content_type or ""):
        body = json.dumps({"__type": UNSUPPORTED, "message": message})
        headers = {"x-amzn-query-error": f"{UNSUPPORTED};Sender", "x-amzn-ErrorType": UNSUPPORTED}
        return Response(body, status=400, content_type="application/x-amz-json-1.0", headers=headers)
    error_xml = f"<Error><Type>Sender</Type><Code>{UNSUPPORTED}</Code><Message>{message}</Message></Error>"
    body = f"<ErrorResponse>{error_xml}</ErrorResponse>"
    return Response(body, status=400, content_type="text/xml")


def _backend_app(service: SERVICE_NAMES) -> Flask:
    app = create_backend_app(service)
    app.register_error_handler(NotImplementedError, _unsupported)
    return app


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Middleware = Callable[[WsgiApp], WsgiApp]


def keep_alive_default() -> bool:
    return os.environ.get(KEEP_ALIVE_VARIABLE, "1") != "0"


class Emulator:
    """moto's server bound to loopback, on the given port or one the system picks. The socket is bound in
    the caller's thread, so a taken port is an OSError at once (moto's ThreadedMotoServer binds in its
    thread and would wait forever). `middleware` wraps the WSGI app (fault injection answers some requests
    itself); with keep_alive (the default, or from ORDERS_EMULATOR_KEEP_ALIVE), a connection serves many
    requests (sandbox/http_keep_alive.py)."""

    def __init__(
        self,
        region: str,
        port: int | None = None,
        middleware: Middleware | None = None,
        *,
        keep_alive: bool | None = None,
    ) -> None:
        self.region = region
        self.middleware = middleware
        self.keep_alive = keep_alive_default() if keep_alive is None else keep_alive
        self.requested_port = port or 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._endpoint: Endpoint | None = None
        self.iam_ledger = Ledger()

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise RuntimeError("the emulator is not started")
        return self._endpoint

    @property
    def port(self) -> int:
        return int(self.endpoint.url.rsplit(":", 1)[1])

    def start(self) -> Endpoint:
        # Neither a line per request nor a traceback per action moto lacks: the client gets the error anyway.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        app: WsgiApp = DomainDispatcherApplication(_backend_app)
        if self.middleware is not None:
            app = self.middleware(app)
        # Calls signed with an assumed role's credentials are judged against its policies before anything
        # else answers them (sandbox/iam.py), as AWS authorises a request before serving it.
        app = Enforcer(app, self.iam_ledger)
        handler = KeepAliveRequestHandler if self.keep_alive else MotoRequestHandler
        listening = socket.socket()
        try:
            listening.bind(("127.0.0.1", self.requested_port))
            listening.listen(128)
        except OSError as error:
            listening.close()
            raise OSError(
                f"port {self.requested_port} on 127.0.0.1 is not available ({error.strerror}); "
                "choose another with --port"
            ) from None
        with listening:  # werkzeug serves a duplicate of this socket
            server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler, fd=listening.fileno())
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        sns_delivery.install(self.iam_ledger)  # SNS honours queue policies at publish time (sandbox/sns_delivery.py)
        sqs_attributes.install()  # a send or receive costs the same at any queue depth (sandbox/sqs_attributes.py)
        self._endpoint = Endpoint(f"http://127.0.0.1:{server.server_address[1]}", self.region)
        self.reset()
        return self._endpoint

    def reset(self) -> None:
        """Empties the emulator. moto keeps its state per process, not per server: without this, a second
        sandbox in one process would find the first one's resources."""
        reset = urllib.request.Request(f"{self.endpoint.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as response:
            response.read()
        self.iam_ledger.clear()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        finally:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None
            sns_delivery.uninstall()
            sqs_attributes.uninstall()
