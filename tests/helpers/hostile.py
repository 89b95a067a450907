"""Shared code of the hostile-server suite (issue 10): recording servers, fake DNS, time and memory bounds.

Every server binds 127.0.0.1:0, records every request it receives (method, path, all headers,
body bytes) and stops by itself: at the end of its `with` block, and its handler threads time
out idle sockets. Tests then search what each *foreign* host received for secrets.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_to_bytes

import pytest

import registry_explorer as rx

MiB = 1 << 20
# Issue 10's acceptance: every hostile test stays under 256 MiB of RSS growth.
RSS_BOUND = 256 * MiB
# Wall-clock bounds catch hangs, not slowness: `make mutate` runs two copies of the suite side by side
# and sets RX_TIME_SCALE so a loaded machine is not mistaken for a caught mutation.
TIME_SCALE = float(os.environ.get("RX_TIME_SCALE", "1") or 1)
# A "public" address for the gate's resolver seam; no traffic ever goes there (example.com's).
PUBLIC_IP = "93.184.216.34"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    """`sha256:<hex>` of data."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(user: str, password: str) -> str:
    """The base64 part of a Basic Authorization value."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# -- recording servers -----------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as a server received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes  # request line + header block + body, for byte searches

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Recorder:
    """A running recording server: its 'host:port', what it received, and a stop flag for slow responders."""

    host: str
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The TCP port."""
        return int(self.host.rsplit(":", 1)[1])

    def received(self) -> bytes:
        """Every byte received so far (plus a percent-decoded copy, so query-string secrets are found)."""
        with self.lock:
            raw = b"\n".join(s.raw for s in self.seen)
        return raw + b"\n" + unquote_to_bytes(raw)

    def count(self, predicate: Callable[[Seen], bool] = lambda s: True) -> int:
        """How many received requests match."""
        with self.lock:
            return sum(1 for s in self.seen if predicate(s))


Responder = Callable[["RecordingHandler", Seen], None]


class RecordingHandler(BaseHTTPRequestHandler):
    """Records each request on the server's Recorder, then lets the server's responder answer."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive socket does not keep a handler thread alive for long

    def log_message(self, *args) -> None:
        pass

    def _handle(self) -> None:
        n = self.headers.get("Content-Length", "0")
        body = self.rfile.read(min(int(n), 8 * MiB)) if n.isascii() and n.isdigit() else b""
        head = self.raw_requestline + str(self.headers).encode("latin-1", "replace")
        seen = Seen(self.command, self.path, list(self.headers.items()), body, head + body)
        rec: Recorder = self.server.recorder  # type: ignore[attr-defined]
        with rec.lock:
            rec.seen.append(seen)
        try:
            self.server.responder(self, seen)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def reply(self, code: int, body: bytes = b"", headers: dict | list | None = None, *,
              length: str | None = None) -> None:
        """Status, headers, Content-Length (`length` overrides it, hostile values allowed) and body."""
        self.send_response_only(code)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for k, v in items:
            self._header(k, v)
        self._header("Content-Length", str(len(body)) if length is None else length)
        if length is not None:
            self._header("Connection", "close")  # the client cannot trust the length; end the body by closing
            self.close_connection = True
        # One write for head and body: two small writes meet delayed ACK and cost 40 ms per request.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        data, self._headers_buffer = b"".join(self._headers_buffer), []
        self.wfile.write(data)

    def _header(self, key: str, value: str) -> None:
        # send_header encodes latin-1 strictly; hostile values (UTF-8 digits, '€') go out as raw bytes.
        self._headers_buffer.append(f"{key}: ".encode() + value.encode("utf-8", "surrogateescape") + b"\r\n")

    def json(self, code: int, obj, headers: dict | None = None, ctype: str = "application/json") -> None:
        """Reply with a JSON body."""
        self.reply(code, json.dumps(obj).encode(), {"Content-Type": ctype, **(headers or {})})

    def drip(self, code: int, body: bytes, headers: dict, every: float, *, limit: float = 8.0) -> None:
        """Send headers, then the body one byte per `every` seconds; give up after `limit` s or at stop."""
        self.send_response_only(code)
        for k, v in headers.items():
            self._header(k, v)
        self._header("Content-Length", str(len(body)))
        self._header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        rec: Recorder = self.server.recorder  # type: ignore[attr-defined]
        end = time.monotonic() + limit
        for b in body:
            if rec.stopping.wait(every) or time.monotonic() > end:
                return
            self.wfile.write(bytes([b]))
            self.wfile.flush()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # The client's https probe of a plain-http port resets connections; that is expected here.
        pass


@contextlib.contextmanager
def recording_server(responder: Responder) -> Iterator[Recorder]:
    """Serve `responder` on 127.0.0.1 (random port) in daemon threads; yields the Recorder."""
    srv = _QuietServer(("127.0.0.1", 0), RecordingHandler)
    rec = Recorder(f"127.0.0.1:{srv.server_address[1]}")
    srv.recorder = rec  # type: ignore[attr-defined]
    srv.responder = responder  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        rec.stopping.set()
        srv.shutdown()
        srv.server_close()


def leaks(rec: Recorder, secrets: list[str]) -> list[str]:
    """The secrets (shortened) found anywhere in what `rec` received."""
    data = rec.received()
    return [s[:8] + "…" for s in secrets if s and s.encode() in data]


# -- names, resolution, proxies --------------------------------------------------------------------


@pytest.fixture
def fake_dns(monkeypatch):
    """`*.test` names connect to 127.0.0.1; proxy variables removed so nothing is sent through one.

    `is_loopback` judges the literal name, so `realm.test` is not loopback: that is how rules 3
    and 4 of the credential gate can be tested with servers that all live on 127.0.0.1.
    """
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.rstrip(".").endswith(".test"):
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    return fake


def named(rec: Recorder, name: str) -> str:
    """'name.test:port' for a recording server."""
    return f"{name}.test:{rec.port}"


def classify(client, public: tuple[str, ...] = ("registry.test", "realm.test", "evil.test")) -> None:
    """Make the gate see `public` names as public addresses and everything else as private.

    The seam is `client.transport.gate.resolve(host) -> [ip strings]` (issue 10's contract). Today's
    code has no gate; it classifies through socket.getaddrinfo, which fake_dns maps to 127.0.0.1,
    so without the gate every name is private and the tests fail on the defect they describe.
    """
    def resolve(host: str) -> list[str]:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return [PUBLIC_IP] if name.strip("[]") in public else ["127.0.0.1"]

    gate = getattr(client.transport, "gate", None)
    if gate is not None:
        gate.resolve = resolve


# -- time and memory -------------------------------------------------------------------------------


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


@dataclass
class Bounds:
    """What a `bounded` block measured."""

    elapsed: float = 0.0
    rss_growth: int = 0


@contextlib.contextmanager
def bounded(seconds: float, rss: int = RSS_BOUND) -> Iterator[Bounds]:
    """Assert the block ends within `seconds` and grows peak RSS by less than `rss` bytes.

    The peak is reset with /proc/self/clear_refs "5" and read back as VmHWM, as
    benchmarks/child.py does; the whole process counts, server threads included.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status("VmRSS")
    out = Bounds()
    start = time.monotonic()
    try:
        yield out
    finally:
        out.elapsed = time.monotonic() - start
        out.rss_growth = _status("VmHWM") - before
    assert out.elapsed < seconds * TIME_SCALE, f"took {out.elapsed:.1f}s, bound {seconds}s (x{TIME_SCALE})"
    assert out.rss_growth < rss, f"peak RSS grew {out.rss_growth / MiB:.0f} MiB, bound {rss / MiB:.0f} MiB"


def outcome(call: Callable[[], object]) -> tuple[object, BaseException | None]:
    """Run `call`; (result, None) or (None, exception) for any Exception (never hides BaseException)."""
    try:
        return call(), None
    except Exception as exc:  # noqa: BLE001 - the tests inspect the type: that is the point
        return None, exc


def assert_in_tree(exc: BaseException | None, *, words: tuple[str, ...] = ()) -> None:
    """`exc` is None or an rx.RegistryExplorerError whose message names one of `words`."""
    if exc is None:
        return
    assert isinstance(exc, rx.RegistryExplorerError), f"{type(exc).__name__} escaped: {exc!r}"[:500]
    if words:
        text = str(exc).lower()
        assert any(w.lower() in text for w in words), f"message does not say what went wrong: {exc}"


# -- documents -------------------------------------------------------------------------------------


def layer_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], *, pax: dict | None = None) -> bytes:
    """A gzipped tar of (name, data) files and prepared TarInfo entries (empty data for TarInfo)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax or {}) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m, io.BytesIO(b"\0" * m.size) if m.size else None)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return gzip.compress(buf.getvalue(), mtime=0)


def image(layers: list[bytes], *, layer_digests: list[str] | None = None) -> tuple[bytes, dict[str, bytes]]:
    """An OCI manifest over `layers` (digests may be overridden) and its blobs by digest (config included)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/good"]},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    blobs = {sha256(config): config}
    descs = []
    for i, data in enumerate(layers):
        digest = layer_digests[i] if layer_digests else sha256(data)
        blobs[digest] = data
        descs.append({"mediaType": OCI_LAYER_GZ, "digest": digest, "size": len(data)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                           "layers": descs}).encode()
    return manifest, blobs


def index_of(children: list[tuple[str, bytes]]) -> bytes:
    """An OCI index listing (media type, raw) children, in order, repeats kept."""
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": t, "digest": sha256(raw), "size": len(raw)} for t, raw in children]}).encode()


def tree_snapshot(root) -> set[str]:
    """Every path under `root` (relative), for before/after comparisons."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def static_registry(files: dict[str, tuple[bytes, str]]) -> Responder:
    """A registry without auth serving exact bytes by path (query ignored); Docker-Content-Digest is sent."""
    def respond(h: RecordingHandler, s: Seen) -> None:
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        if path not in files:
            return h.json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": path}]})
        body, ctype = files[path]
        h.reply(200, body, {"Content-Type": ctype, "Docker-Content-Digest": sha256(body)})
    return respond


def plain_client(**kwargs) -> rx.Client:
    """A client with no credentials and no retries (a hostile test must see the first outcome)."""
    kwargs.setdefault("cache", False)  # a hostile test sees the wire, never an earlier test's cached document
    return rx.Client(docker_config={}, retries=0, timeout=kwargs.pop("timeout", 5), **kwargs)
