"""The embedded AWS emulator: moto's server, in this process, on 127.0.0.1 only."""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from sandbox.http_keep_alive import KeepAliveRequestHandler

# "0" turns HTTP keep-alive off (the benchmark measures both); any other value, or none, keeps it on.
KEEP_ALIVE_VARIABLE = "ORDERS_EMULATOR_KEEP_ALIVE"
DUMMY_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
# Local calls: no retries on the emulator's own errors, which are final (an unimplemented action, say).
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, max_pool_connections=32)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


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


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Middleware = Callable[[WsgiApp], WsgiApp]


class _Server(ThreadedMotoServer):
    """moto's threaded server, its WSGI app wrapped (fault injection answers some requests itself); with
    keep_alive, a connection serves many requests (sandbox/http_keep_alive.py)."""

    def __init__(self, ip_address: str, port: int, middleware: Middleware | None, keep_alive: bool) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._middleware = middleware
        self._keep_alive = keep_alive

    def _server_entry(self) -> None:
        app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        if self._middleware is not None:
            app = self._middleware(app)
        handler = KeepAliveRequestHandler if self._keep_alive else MotoRequestHandler
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=handler)
        self._server_ready_event.set()
        self._server.serve_forever()


def keep_alive_default() -> bool:
    return os.environ.get(KEEP_ALIVE_VARIABLE, "1") != "0"


class Emulator:
    """moto's ThreadedMotoServer bound to loopback, on the given port or a free one; with keep_alive (the
    default, or from ORDERS_EMULATOR_KEEP_ALIVE), its connections serve many requests."""

    def __init__(
        self,
        region: str,
        port: int | None = None,
        middleware: Middleware | None = None,
        *,
        keep_alive: bool | None = None,
    ) -> None:
        self.port = port or free_port()
        self.endpoint = Endpoint(f"http://127.0.0.1:{self.port}", region)
        self.keep_alive = keep_alive_default() if keep_alive is None else keep_alive
        self._server = _Server("127.0.0.1", self.port, middleware, self.keep_alive)

    def start(self) -> Endpoint:
        if port_in_use(self.port):
            raise OSError(f"port {self.port} on 127.0.0.1 is already in use; choose another with --port")
        # Neither a line per request nor a traceback per action moto lacks: the client gets the error anyway.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._server.start()
        self.reset()
        return self.endpoint

    def reset(self) -> None:
        """Empties the emulator. moto keeps its state per process, not per server: without this, a second
        sandbox in one process would find the first one's resources."""
        request = urllib.request.Request(f"{self.endpoint.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        self.reset()
        self._server.stop()
