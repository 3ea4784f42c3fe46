"""The embedded AWS emulator: moto's server, in this process, on 127.0.0.1 only."""

from __future__ import annotations

import logging
import socket
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from sandbox import sns_delivery
from sandbox.iam import Enforcer, Ledger

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
        return boto3.Session(region_name=self.region, **DUMMY_CREDENTIALS)

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        return (session or self.session()).client(service, endpoint_url=self.url, config=_CLIENT_CONFIG)

    def environment(self) -> dict[str, str]:
        """What any AWS SDK in this or another process needs to reach the emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }


class Emulator:
    """moto's ThreadedMotoServer bound to loopback, on the given port or a free one."""

    def __init__(self, region: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = Endpoint(f"http://127.0.0.1:{self.port}", region)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.iam_ledger = Ledger()

    def start(self) -> Endpoint:
        if port_in_use(self.port):
            raise OSError(f"port {self.port} on 127.0.0.1 is already in use; choose another with --port")
        # Neither a line per request nor a traceback per action moto lacks: the client gets the error anyway.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        self._server.start()
        # Calls signed with an assumed role's credentials are judged against its policies (sandbox/iam.py).
        wsgi_server = self._server._server
        assert wsgi_server is not None
        wsgi_server.app = Enforcer(wsgi_server.app, self.iam_ledger)
        sns_delivery.install()  # SNS honours queue policies at publish time (sandbox/sns_delivery.py)
        self.reset()
        return self.endpoint

    def reset(self) -> None:
        """Empties the emulator. moto keeps its state per process, not per server: without this, a second
        sandbox in one process would find the first one's resources."""
        request = urllib.request.Request(f"{self.endpoint.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        self.iam_ledger.clear()

    def stop(self) -> None:
        self.reset()
        self._server.stop()
        sns_delivery.uninstall()
