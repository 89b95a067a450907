"""A counting, latency-adding, bandwidth-capping HTTP(S) proxy for the benchmarks.

`BenchProxy(registry_url, token_url=..., latency=0.02, rate=50e6, tls=(cert, key))` listens on
127.0.0.1:<random port> and forwards every request to the registry, or, for the token
endpoint's path, to the token server. Bearer challenges are rewritten so the realm points at
the proxy: token requests pass through it too and are counted with everything else.

- `latency`: seconds slept before each request is forwarded (a round trip on a far network).
- `rate`: bytes per second each connection's response bodies are paced to (one response is in
  flight per connection, so this caps each connection).
- `tls`: serve HTTPS with this (certificate, key), so clients that insist on https for the
  registry or the token realm (python-dxf) can be measured against the token flavour.

`proxy.records` lists `{method, path, status, kind}` per request; `kind` is one of ping, token,
manifest, blob, tags, catalog, other. Unlike tests/harness/proxy.py (FaultProxy), which relays
with `requests`, this relays raw bytes with `http.client` and `readinto` into a reused buffer,
so the proxy itself stays far above the 50 MB/s it is asked to enforce.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# The request-body reader is shared with the tests' fault proxy (run from the repository root).
from tests.helpers.proxy import read_request_body

RELAY_CHUNK = 256 << 10
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host",
}


def kind_of(method: str, path: str, token_path: str | None) -> str:
    """Classify a request path for counting."""
    p = urlsplit(path).path
    if token_path and p.rstrip("/") == token_path.rstrip("/"):
        return "token"
    if p in ("/v2/", "/v2"):
        return "ping"
    if "/manifests/" in p:
        return "manifest"
    if "/blobs/" in p:
        return "blob"
    if p.endswith("/tags/list"):
        return "tags"
    if p.startswith("/v2/_catalog"):
        return "catalog"
    return "other"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up mid-body (or speaks TLS to plain http) is not news here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    # Go's net/http (distribution) sets TCP_NODELAY; without it, headers and body written
    # separately on a kept-alive connection meet the client's delayed ACK: +40 ms a response.
    disable_nagle_algorithm = True
    owner: BenchProxy

    def log_message(self, format, *args) -> None:  # noqa: A002 - silence
        pass

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # in this thread, not in the accept loop
        super().setup()
        self._upstreams: dict[tuple[str, int], http.client.HTTPConnection] = {}
        self._buf = bytearray(RELAY_CHUNK)

    def finish(self) -> None:
        for conn in self._upstreams.values():
            conn.close()
        super().finish()

    def _conn(self, host: str, port: int) -> http.client.HTTPConnection:
        conn = self._upstreams.get((host, port))
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            self._upstreams[(host, port)] = conn
        return conn


    def _handle(self) -> None:
        proxy = self.owner
        body = read_request_body(self)
        if proxy.latency:
            time.sleep(proxy.latency)
        path = self.path
        is_token = proxy.token_path is not None and urlsplit(path).path.rstrip("/") == proxy.token_path.rstrip("/")
        up = proxy._token_up if is_token else proxy._registry_up
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = self._conn(up[0], up[1])
        upstream_path = path  # the token server's path is the same on both sides
        for attempt in range(2):
            try:
                conn.request(self.command, upstream_path, body=body, headers=headers)
                resp = conn.getresponse()
                break
            except (http.client.HTTPException, OSError):
                conn.close()  # a kept-alive upstream connection the server closed: retry once
                if attempt:
                    proxy._record(self.command, path, 502, is_token)
                    self.send_error(502)
                    return
        proxy._record(self.command, path, resp.status, is_token)
        self.send_response(resp.status)
        length = None
        for k, v in resp.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == "content-length":
                length = int(v)
            if lk == "www-authenticate":
                v = proxy._rewrite_realm(v)
            elif lk == "location":
                v = proxy._rewrite_location(v)
            self.send_header(k, v)
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        if no_body:
            self.end_headers()
            resp.read()
            return
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._relay(resp, chunked=length is None)
        if resp.will_close:
            conn.close()

    def _relay(self, resp: http.client.HTTPResponse, *, chunked: bool) -> None:
        rate = self.owner.rate
        view = memoryview(self._buf)
        sent = 0
        start = time.perf_counter()
        w = self.wfile
        while True:
            n = resp.readinto(view)
            if not n:
                break
            if chunked:
                w.write(b"%x\r\n" % n)
                w.write(view[:n])
                w.write(b"\r\n")
            else:
                w.write(view[:n])
            sent += n
            if rate:
                ahead = sent / rate - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)
        if chunked:
            w.write(b"0\r\n\r\n")

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


def _split(url: str) -> tuple[str, int, str]:
    u = urlsplit(url)
    if u.scheme != "http":
        raise ValueError(f"BenchProxy forwards to plain-http upstreams only, not {url}")
    return u.hostname or "127.0.0.1", u.port or 80, u.path.rstrip("/")


class BenchProxy:
    """See the module docstring. Use as a context manager, or call close()."""

    def __init__(self, registry_url: str, *, token_url: str | None = None, latency: float = 0.0,
                 rate: float | None = None, tls: tuple[str, str] | None = None):
        self.latency = latency
        self.rate = rate
        self._registry_up = _split(registry_url)
        self._token_up = _split(token_url) if token_url else None
        self._token_origin = None
        self.token_path = None
        if token_url:
            tu = urlsplit(token_url)
            self._token_origin = f"{tu.scheme}://{tu.netloc}"
            self.token_path = tu.path or "/token"
        ru = urlsplit(registry_url)
        self._registry_origin = f"{ru.scheme}://{ru.netloc}"
        self.records: list[dict] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(_Handler):
            pass

        Handler.owner = owner
        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.scheme = "https" if tls else "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{self.scheme}://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"bench-proxy-{self.port}", daemon=True)
        self._thread.start()

    def _record(self, method: str, path: str, status: int, is_token: bool) -> None:
        kind = "token" if is_token else kind_of(method, path, None)
        with self._lock:
            self.records.append({"method": method, "path": path, "status": status, "kind": kind})

    def reset(self) -> list[dict]:
        """Return and forget the recorded requests."""
        with self._lock:
            out, self.records = self.records, []
        return out

    def _rewrite_location(self, value: str) -> str:
        for origin in (self._registry_origin, self._token_origin):
            if origin and value.startswith(origin):
                return self.url + value[len(origin):]
        return value

    def _rewrite_realm(self, value: str) -> str:
        return re.sub(r'(realm=)"([^"]*)"', lambda m: f'{m.group(1)}"{self._rewrite_location(m.group(2))}"', value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BenchProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _selftest() -> None:  # pragma: no cover - manual check
    """python -m benchmarks.netproxy URL: fetch /v2/ through a proxy to URL and print what it counted."""

    with BenchProxy(sys.argv[1], latency=0.02, rate=50e6) as p:
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        print(s.recv(65536).decode(errors="replace"))
        print(p.records)


if __name__ == "__main__":  # pragma: no cover
    _selftest()
