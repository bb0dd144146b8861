"""A loopback HTTP proxy that puts network faults between the SDK and a real ingestion service.

It never invents an answer of the service: each request is either forwarded to the upstream
server unchanged (and its answer returned unchanged), answered with a bare 5xx status the way a
load balancer answers while its backend is away, or forwarded and then cut off before the
answer reaches the client (the request was stored, the acknowledgement lost). Before
``start()`` nothing listens on its port at all, so connections are refused by the operating
system.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARDED = "forwarded"
FAILED = "failed"
CUT = "cut"

# Headers that describe one connection, not the message; each hop sets its own.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FaultProxy:
    """Forward ``127.0.0.1:port`` to ``upstream``, with the faults the test asks for.

    ``fail(n, status)`` answers the next ``n`` requests with ``status``;
    ``cut(n, path_contains=...)`` forwards the next ``n`` matching requests and closes the
    connection instead of answering.
    ``log`` lists ``(method, path, outcome)`` for every request seen.
    """

    def __init__(self, upstream: str, port: int | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.port = port if port is not None else free_port()
        self.log: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._failures = 0
        self._failure_status = 503
        self._cuts = 0
        self._cut_path = ""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures = count
            self._failure_status = status

    def cut(self, count: int = 1, *, path_contains: str = "") -> None:
        with self._lock:
            self._cuts = count
            self._cut_path = path_contains

    def outcomes(self, outcome: str) -> list[tuple[str, str, str]]:
        with self._lock:
            return [entry for entry in self.log if entry[2] == outcome]

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test reads ``log`` instead

        # allow_reuse_address (HTTPServer's default) lets the port be bound right after a
        # probe or an earlier proxy closed it.
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _decide(self, path: str) -> str:
        with self._lock:
            if self._failures > 0:
                self._failures -= 1
                return FAILED
            if self._cuts > 0 and self._cut_path in path:
                self._cuts -= 1
                return CUT
            return FORWARDED

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        outcome = self._decide(request.path)
        with self._lock:
            self.log.append((request.command, request.path, outcome))
        # One request per connection keeps the faults per request, as the client sees them.
        request.close_connection = True

        if outcome == FAILED:
            text = b"backend unavailable"
            request.send_response(self._failure_status)
            request.send_header("Content-Type", "text/plain")
            request.send_header("Content-Length", str(len(text)))
            request.end_headers()
            request.wfile.write(text)
            return

        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=30)
        try:
            upstream.request(request.command, request.path, body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()

        if outcome == CUT:
            # The service has processed the request; the client never hears about it.
            request.connection.shutdown(socket.SHUT_RDWR)
            return

        request.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)
