"""A tiny local HTTP server that stands in for registry behaviour no local registry can produce.

distribution 2.8 has no referrers API, no rate-limit headers, never serves oversized
manifests, tokens or error bodies; tests that need those subclass `Handler` and `serve()` it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    """Quiet HTTP/1.1 handler with a one-call `send`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
        """Status, headers, Content-Length and body; a client hanging up early is not an error."""
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on 127.0.0.1 (random port) in a daemon thread; yields 'host:port'."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
