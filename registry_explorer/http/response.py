"""`Response`: what the HTTP layer hands upwards, in place of a `requests.Response`.

Code above the HTTP layer reads a status, headers, the final URL and a raw body, and nothing
else; so only `wire.py` knows which HTTP library is underneath. Documents (manifests, token
responses, tag pages, error bodies) are read with `read_all`, which caps the bytes and the
total time: a socket read timeout alone lets a server drip one byte per second forever.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from ..core.errors import ConnectionFailed, TooLarge
from .values import header_int

# Document reads go in small pieces so the deadline is checked between them.
_PIECE = 64 << 10


class Body(Protocol):
    """The raw body of one response, as the wire provides it."""

    def read1(self, n: int, timeout: float | None) -> bytes:
        """Up to n bytes as soon as some arrive (b'' at the end); waits at most `timeout` seconds."""

    def readinto(self, buf: Any) -> int:
        """Fill `buf` (0 at the end); for streaming blobs, where throughput matters."""

    def close(self) -> None:
        """Release the connection."""


class Response:
    """A registry's answer: status, headers (case-insensitive), final URL and a raw body."""

    def __init__(self, status: int, headers: Mapping[str, str], url: str, body: Body, *, reason: str = "",
                 deadline: float | None = None):
        self.status = status
        self.headers = headers
        self.url = url
        self.reason = reason
        self.exchange: Any = None  # the trace record; byte counts are updated as the body is read
        self._body = body
        self._deadline = deadline  # seconds allowed for read_all
        self._closed = False
        self._counting = False
        self.redirected = False  # set by redirects.follow when the answer came from another URL

    @property
    def status_code(self) -> int:
        """The HTTP status (the name requests uses, kept for readers who know it)."""
        return self.status

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"

    def _count(self, n: int) -> None:
        # The trace first shows the declared Content-Length; once the body is read, the bytes moved.
        ex = self.exchange
        if ex is not None:
            if not self._counting:
                self._counting, ex.bytes = True, 0
            ex.bytes += n

    def read(self, n: int) -> bytes:
        """Up to n raw bytes of the body (b'' at the end)."""
        data = self._body.read1(n, None)
        self._count(len(data))
        return data

    def readinto(self, buf) -> int:
        """Fill `buf` with raw bytes; 0 at the end of the body."""
        n = self._body.readinto(buf)
        self._count(n)
        return n

    def read_all(self, limit: int, what: str, error: type[TooLarge] = TooLarge) -> bytes:
        """The whole body, refusing more than `limit` bytes or more than the deadline; closes the response."""
        try:
            declared = header_int(self.headers.get("Content-Length"), what="Content-Length")
            if declared is not None and declared > limit:
                raise error(what, limit, declared)
            self._count(0)
            chunks, total = [], 0
            started = time.monotonic()
            while True:
                left = None
                if self._deadline is not None:
                    left = self._deadline - (time.monotonic() - started)
                    if left <= 0:
                        raise ConnectionFailed(
                            f"reading {what} took longer than {self._deadline:g}s (the server sends too slowly); "
                            "raise deadline= if this registry is just slow", kind="timeout")
                chunk = self._body.read1(min(_PIECE, limit + 1 - total), left)
                if not chunk:
                    return b"".join(chunks)
                total += len(chunk)
                self._count(len(chunk))
                if total > limit:
                    raise error(what, limit, None)
                chunks.append(chunk)
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._body.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
