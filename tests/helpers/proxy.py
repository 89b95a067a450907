"""A fault-injecting HTTP proxy placed in front of a real registry.

``FaultProxy(upstream_url)`` listens on ``127.0.0.1:<random port>`` in a
daemon thread and forwards every request to the upstream registry with
``requests`` (status, headers and body relayed; bodies streamed). Faults are
plain attributes that tests flip between requests:

* ``flip_blob`` / ``flip_manifest``: flip the middle byte of blob / manifest
  GET bodies (length and upstream headers unchanged);
* ``drop_digest_on_head``: strip ``Docker-Content-Digest`` from manifest HEADs;
* ``head_405``: answer manifest HEADs with 405 and no body;
* ``redirect_blobs``: answer blob GETs with a 307 to ``proxy.mirror``, an
  S3-like server that serves ``blob_store`` and records request headers;
* ``paginate_tags``: emulate ``n``/``last`` pagination of the tag list;
* ``extra_headers``: headers added to every relayed response (e.g. ``RateLimit-Remaining``).

Every request the proxy sees is recorded in ``proxy.requests``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CHUNK = 256 * 1024
TIMEOUT = 60

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "host",
}

BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+)$")
MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
TAGS_RE = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


def read_request_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request body a handler was sent, chunked or with Content-Length; None without one."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        out = bytearray()
        while True:
            line = handler.rfile.readline()
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = handler.headers.get("Content-Length")
    if length is None:
        return None
    return handler.rfile.read(int(length))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ServerBase:
    """Shared start/stop plumbing for the proxy and the mirror."""

    _handler_cls: type

    def _start(self) -> None:
        owner = self

        class Handler(self._handler_cls):  # type: ignore[misc, valid-type]
            pass

        Handler.owner = owner
        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{type(self).__name__}:{self.port}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        srv = getattr(self, "_server", None)
        if srv is not None:
            srv.shutdown()
            srv.server_close()
            self._server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes; without this, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections end eventually
    owner: object = None

    def log_message(self, format, *args) -> None:  # silence stderr
        pass

    def _read_body(self) -> bytes | None:
        return read_request_body(self)

    def _send_simple(self, status: int, body: bytes = b"", headers: dict | None = None,
                     content_type: str | None = "application/json") -> None:
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


# --- mirror ------------------------------------------------------------------


class _MirrorHandler(_Handler):
    owner: BlobMirror

    def _serve(self) -> None:
        mirror = self.owner
        path = urlsplit(self.path).path
        mirror._record(self.command, self.path, dict(self.headers.items()))
        self._read_body()
        if mirror.reject_authorization and "Authorization" in self.headers:
            # What S3 says when a presigned URL also carries an Authorization header.
            body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
                    b'<Message>Only one auth mechanism allowed</Message></Error>')
            return self._send_simple(400, body, content_type="application/xml")
        m = re.match(r"^/blobs/(?P<digest>[^/]+)$", path)
        data = mirror.blob_store.get(m.group("digest")) if m else None
        if data is None:
            return self._send_simple(404, b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>',
                                     content_type="application/xml")
        total = len(data)
        rng = self.headers.get("Range")
        status, start, end = 200, 0, total - 1
        if rng:
            mm = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not mm or (mm.group(1) == "" and mm.group(2) == ""):
                return self._send_simple(416, b"", {"Content-Range": f"bytes */{total}"})
            if mm.group(1) == "":  # suffix range
                start, end = max(0, total - int(mm.group(2))), total - 1
            else:
                start = int(mm.group(1))
                end = min(int(mm.group(2)), total - 1) if mm.group(2) else total - 1
            if start >= total or start > end:
                return self._send_simple(416, b"", {"Content-Range": f"bytes */{total}"})
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{m.group("digest")}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if self.command != "HEAD":
            view = memoryview(data)[start:end + 1]
            for i in range(0, len(view), CHUNK):
                self.wfile.write(view[i:i + CHUNK])

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve


class BlobMirror(_ServerBase):
    """S3-like blob server: ``GET /blobs/<digest>`` from ``blob_store``.

    ``requests`` records every request as ``{"method", "path", "headers"}``.
    ``reject_authorization`` (off by default) makes it answer 400 like S3 does
    when a presigned request also carries an ``Authorization`` header.
    """

    _handler_cls = _MirrorHandler

    def __init__(self, blob_store: dict[str, bytes]):
        self.blob_store = blob_store
        self.requests: list[dict] = []
        self.reject_authorization = False
        self._lock = threading.Lock()
        self._start()

    def _record(self, method: str, path: str, headers: dict) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers})

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.reject_authorization = False


# --- proxy ---------------------------------------------------------------------


class _ProxyHandler(_Handler):
    owner: FaultProxy

    def _record(self, status: int) -> None:
        self.owner._record(self.command, self.path, status, dict(self.headers.items()))

    def _handle(self) -> None:
        proxy = self.owner
        split = urlsplit(self.path)
        path = split.path
        method = self.command
        body = self._read_body()

        blob_m = BLOB_RE.match(path) if "/blobs/uploads" not in path else None
        man_m = MANIFEST_RE.match(path)

        rule = proxy._take_injection(method, path)
        if rule is not None:
            self._record(rule["status"])
            body = rule.get("body") or json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "injected fault"}]}).encode()
            return self._send_simple(rule["status"], b"" if method == "HEAD" else body, dict(rule.get("headers") or {}))
        if method == "GET" and man_m and proxy.manifest_body is not None:
            # Stand in for a broken registry: oversized or invalid manifest bytes, with a
            # Docker-Content-Digest that matches them, so only size or parsing can catch it.
            body = proxy.manifest_body
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self._record(200)
            return self._send_simple(200, body, {"Docker-Content-Digest": digest},
                                     content_type="application/vnd.oci.image.manifest.v1+json")
        if method == "GET" and blob_m and proxy.redirect_loop:
            self._record(302)
            return self._send_simple(302, b"", {"Location": self.path})
        if method == "HEAD" and man_m and proxy.head_405:
            self._record(405)
            return self._send_simple(405, b"")
        if method == "GET" and blob_m and proxy.redirect_blobs:
            loc = (f"{proxy.mirror.url}/blobs/{blob_m.group('digest')}"
                   "?X-Amz-Signature=abc&X-Amz-Expires=300")
            self._record(307)
            return self._send_simple(307, b"", {"Location": loc})
        if method == "GET" and proxy.paginate_tags is not None and TAGS_RE.match(path):
            return self._paginated_tags(TAGS_RE.match(path).group("name"), split.query)

        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        has_range = blob_m is not None and method == "GET" and "Range" in self.headers
        if has_range and proxy.range_fault == "416":
            self._record(416)
            return self._send_simple(416, b"", {"Content-Range": "bytes */0"})
        if has_range and proxy.range_fault == "shift":  # answer 206 for other bytes than asked
            rm = re.match(r"bytes=(\d+)-(\d*)", headers.get("Range", ""))
            if rm:
                headers["Range"] = f"bytes={int(rm.group(1)) + 1}-{rm.group(2)}"
        if proxy.ignore_range or (has_range and proxy.range_fault == "ignore"):
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        try:
            upstream = proxy._session.request(
                method, proxy.upstream + self.path, headers=headers, data=body,
                verify=proxy.upstream_verify, allow_redirects=False, stream=True, timeout=TIMEOUT,
            )
        except requests.RequestException as e:
            self._record(502)
            return self._send_simple(502, json.dumps({"errors": [{"code": "UNKNOWN", "message": str(e)}]}).encode())

        try:
            flip = method == "GET" and upstream.status_code in (200, 206) and (
                (blob_m is not None and proxy.flip_blob) or (man_m is not None and proxy.flip_manifest)
            )
            drop_digest = method == "HEAD" and man_m is not None and proxy.drop_digest_on_head
            self._record(upstream.status_code)
            self.send_response(upstream.status_code)
            length = None
            for k, v in _header_items(upstream):
                lk = k.lower()
                if lk in HOP_BY_HOP:
                    continue
                if lk == "content-length":
                    length = int(v)
                    if blob_m is not None and method == "GET" and proxy.content_length_delta:
                        # Lie about the length; the real bytes follow, then the connection closes.
                        v = str(length + proxy.content_length_delta)
                        self.close_connection = True
                if drop_digest and lk == "docker-content-digest":
                    continue
                if lk == "location":
                    v = proxy._rewrite_url(v)
                elif lk == "www-authenticate":
                    v = proxy.bad_challenge if proxy.bad_challenge is not None else proxy._rewrite_realm(v)
                self.send_header(k, v)
            for k, v in proxy.extra_headers.items():  # e.g. Docker Hub's RateLimit-Remaining
                self.send_header(k, v)
            no_body = method == "HEAD" or upstream.status_code in (204, 304) or 100 <= upstream.status_code < 200
            if no_body:
                self.end_headers()
                return
            if length is None:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            flip_at = (length // 2) if (flip and length) else None
            if flip and length is None:
                # Unknown length: buffer so the middle can be found.
                data = bytearray(upstream.raw.read(decode_content=False) or b"")
                if data:
                    data[len(data) // 2] ^= 0xFF
                self._write_chunk(bytes(data), chunked=True)
                self._write_chunk(b"", chunked=True)
                return
            offset = 0
            range_start = 0
            rm = re.match(r"bytes=(\d+)-", self.headers.get("Range", "") or "")
            if rm and upstream.status_code == 206:
                range_start = int(rm.group(1))
            cut = proxy._cut_point(blob_m is not None and method == "GET", length, range_start)
            stall = proxy._stall_point(blob_m is not None and method == "GET")
            while True:
                chunk = upstream.raw.read(CHUNK, decode_content=False)
                if not chunk:
                    break
                if stall is not None and offset + len(chunk) > stall:
                    self._write_chunk(chunk[: max(0, stall - offset)], chunked=length is None)
                    self.wfile.flush()
                    time.sleep(proxy.stall_seconds)  # a stalled body: the client's read timeout must fire
                    self.close_connection = True
                    return
                if cut is not None and offset + len(chunk) >= cut:
                    # Send part of the body, then drop the connection: a reset mid-stream.
                    self._write_chunk(chunk[: cut - offset], chunked=length is None)
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if flip_at is not None and offset <= flip_at < offset + len(chunk):
                    b = bytearray(chunk)
                    b[flip_at - offset] ^= 0xFF
                    chunk = bytes(b)
                offset += len(chunk)
                self._write_chunk(chunk, chunked=length is None)
            if length is None:
                self._write_chunk(b"", chunked=True)
            if proxy.content_length_delta and blob_m is not None and method == "GET":
                try:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            upstream.close()

    def _write_chunk(self, data: bytes, *, chunked: bool) -> None:
        with self.owner._lock:
            self.owner.body_bytes += len(data)  # what crossed the wire, counted here, not by the client
        if chunked:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        elif data:
            self.wfile.write(data)

    def _paginated_tags(self, name: str, query: str) -> None:
        # distribution 2.8 ignores `n` and never sends a Link header on the
        # tag list, so this stands in for registries that do paginate: the
        # full list is fetched from upstream, sorted, and cut into pages.
        proxy = self.owner
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept", "user-agent")}
        up = proxy._session.get(
            f"{proxy.upstream}/v2/{name}/tags/list", headers=headers,
            verify=proxy.upstream_verify, allow_redirects=False, timeout=TIMEOUT,
        )
        if up.status_code != 200:
            self._record(up.status_code)
            passthrough = {k: v for k, v in up.headers.items()
                           if k.lower() in ("www-authenticate", "docker-distribution-api-version")}
            if "WWW-Authenticate" in passthrough:
                passthrough["WWW-Authenticate"] = proxy._rewrite_realm(passthrough["WWW-Authenticate"])
            return self._send_simple(up.status_code, up.content, passthrough,
                                     content_type=up.headers.get("Content-Type", "application/json"))
        doc = up.json()
        tags = sorted(doc.get("tags") or [])
        q = parse_qs(query)
        page = proxy.paginate_tags
        n_param = q.get("n", [None])[0]
        try:
            n = int(n_param) if n_param is not None else page
        except ValueError:
            self._record(400)
            return self._send_simple(400, b'{"errors":[{"code":"PAGINATION_NUMBER_INVALID","message":"invalid number of results requested"}]}')
        last = q.get("last", [None])[0]
        if last is not None:
            tags = [t for t in tags if t > last]
        size = max(0, min(n, page))
        chunk, more = tags[:size], len(tags) > size
        extra = {"Docker-Distribution-Api-Version": "registry/2.0"}
        if more and chunk:
            extra["Link"] = f'</v2/{name}/tags/list?{urlencode({"n": n, "last": chunk[-1]})}>; rel="next"'
        self._record(200)
        self._send_simple(200, json.dumps({"name": doc.get("name", name), "tags": chunk}).encode(), extra)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


def _header_items(resp: requests.Response):
    """Upstream headers with repeated headers kept separate."""
    h = resp.raw.headers
    if hasattr(h, "iteritems"):
        return list(h.iteritems())
    return list(h.items())


class FaultProxy(_ServerBase):
    """Fault-injecting proxy; see the module docstring. Use as a context manager."""

    _handler_cls = _ProxyHandler

    def __init__(self, upstream_url: str, *, upstream_verify=True, blob_store: dict[str, bytes] | None = None):
        self.upstream = upstream_url.rstrip("/")
        up = urlsplit(self.upstream)
        self._upstream_origin = f"{up.scheme}://{up.netloc}"
        self.upstream_verify = upstream_verify
        self.blob_store: dict[str, bytes] = {} if blob_store is None else blob_store
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.headers.clear()  # forward the client's headers, no defaults
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._clear_faults()
        self.mirror = BlobMirror(self.blob_store)
        try:
            self._start()
        except BaseException:
            self.mirror.close()
            raise

    def _take_injection(self, method: str, path: str) -> dict | None:
        """The next injected fault matching this request, if any (each rule fires `count` times)."""
        with self._lock:
            for rule in self.inject:
                if rule.get("count", 1) <= 0:
                    continue
                if rule.get("method") and rule["method"] != method:
                    continue
                if not re.search(rule.get("path", ""), path):
                    continue
                rule["count"] = rule.get("count", 1) - 1
                return rule
        return None

    def _stall_point(self, is_blob_get: bool) -> int | None:
        with self._lock:
            if is_blob_get and self.stall_blob_after is not None and self.stall_count != 0:
                self.stall_count -= 1
                return self.stall_blob_after
        return None

    def _cut_point(self, is_blob_get: bool, length: int | None, range_start: int = 0) -> int | None:
        """Where (in this response's body) to drop a blob response, if a drop fault applies.

        `drop_blob_after` is a position in the blob: a resumed request that starts at or past
        it is dropped before its first byte, so `drop_count=-1` makes a download that never ends.
        """
        if not is_blob_get:
            return None
        with self._lock:
            if self.drop_blob_after is not None and self.drop_count != 0:
                self.drop_count -= 1
                return max(0, self.drop_blob_after - range_start)
            if self.drop_each_after is not None and self.drop_count != 0:
                self.drop_count -= 1
                return self.drop_each_after
            if self.drop_rate and length and self._rng.random() < self.drop_rate:
                self.drops += 1
                return self._rng.randrange(0, length)
        return None

    def _clear_faults(self) -> None:
        self.manifest_body: bytes | None = None  # serve these bytes for every manifest GET
        self.content_length_delta = 0  # add this to blob GETs' Content-Length (a lying server)
        self.bad_challenge: str | None = None  # replace WWW-Authenticate with this value
        self.inject: list[dict] = []  # e.g. {"status": 503, "count": 2, "path": "/manifests/", "headers": {...}}
        self.redirect_loop = False
        self.ignore_range = False
        self.range_fault: str | None = None  # blob GETs with Range: "ignore" (200), "shift" (206, other bytes), "416"
        self.drop_blob_after: int | None = None  # drop blob GETs after this many body bytes...
        self.drop_count = 0  # ...this many times (-1: always)
        self.drop_each_after: int | None = None  # or drop each blob GET after this many of *its* bytes
        self.drop_rate = 0.0  # or drop this fraction of blob GETs at a random byte
        self.drops = 0
        self._rng = random.Random(1234)
        self.stall_blob_after: int | None = None  # stop sending a blob body after this many bytes...
        self.stall_seconds = 5.0  # ...for this long, then close...
        self.stall_count = 1  # ...this many times (-1: always)
        self.flip_blob = False
        self.flip_manifest = False
        self.drop_digest_on_head = False
        self.head_405 = False
        self.redirect_blobs = False
        self.paginate_tags: int | None = None
        self.extra_headers: dict[str, str] = {}  # added to every relayed response

    def _record(self, method: str, path: str, status: int, headers: dict) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "status": status, "headers": headers})

    body_bytes = 0  # response body bytes sent to the client since the last reset

    def reset(self) -> None:
        """Forget recorded requests (here and on the mirror) and switch every fault off."""
        with self._lock:
            self.requests.clear()
            self.body_bytes = 0
        self.mirror.reset()
        self._clear_faults()

    def _rewrite_url(self, value: str) -> str:
        if value.startswith(self._upstream_origin + "/") or value == self._upstream_origin:
            return self.url + value[len(self._upstream_origin):]
        return value

    def _rewrite_realm(self, value: str) -> str:
        def sub(m: re.Match) -> str:
            return f'{m.group(1)}"{self._rewrite_url(m.group(2))}"'

        return re.sub(r'(realm=)"([^"]*)"', sub, value)

    def close(self) -> None:
        super().close()
        self.mirror.close()
        self._session.close()
