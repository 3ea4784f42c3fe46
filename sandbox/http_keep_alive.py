"""An HTTP/1.1 request handler for moto's server (werkzeug's) that keeps connections alive.

werkzeug (3.x) always answers `Connection: close` and then drains the socket, because Python's
http.server cannot tell where a request body ends. moto's server inherits that, so every SDK call to
the emulator pays a TCP connect. This handler bounds the request body by its Content-Length, reads
what the application left of it, and answers with a Content-Length, so the next request on the same
connection starts where it should. A chunked request body (which the AWS SDKs do not send to these
services) falls back to werkzeug's own handling, which closes the connection.
"""

from __future__ import annotations

from typing import IO, Any, cast

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.wsgi import LimitedStream

IDLE_SECONDS = 30  # an idle connection is closed, so its thread ends even if the client never closes it


class KeepAliveRequestHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    # On a reused connection, Nagle's algorithm would hold the body (written after the headers) until the
    # client's delayed ACK: 40 ms per call.
    disable_nagle_algorithm = True
    # Headers and body leave in one send at the flush that ends each response, not one send each: on
    # loopback every send also runs the receiving side's TCP work in this process.
    wbufsize = 64 * 1024

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            super().run_wsgi()  # werkzeug's way, which closes the connection afterwards
            self.close_connection = True
            return
        environ = self.make_environ()
        body = LimitedStream(cast(IO[bytes], self.rfile), int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = body
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda _data: None  # the legacy write(); moto returns its body instead

        try:
            result = self.server.app(environ, start_response)
            try:
                payload = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            body.exhaust()  # what the application did not read of the body is not the next request
        except Exception:  # noqa: BLE001 (the client gets a 500, as werkzeug would answer)
            self.close_connection = True
            self.send_error(500, "Internal Server Error")
            return
        status, headers = started
        code, _, message = status.partition(" ")
        self.send_response(int(code), message)
        names = set()
        for name, value in headers:
            self.send_header(name, value)
            names.add(name.lower())
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if environ["REQUEST_METHOD"] != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()
