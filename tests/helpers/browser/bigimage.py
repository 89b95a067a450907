"""A single-layer image with a 256 MiB incompressible layer, and a throttled proxy.

The layer is a real, uncompressed tar (``application/vnd.oci.image.layer.v1.tar``) holding one
file of seeded pseudo-random bytes, sized so the blob is exactly 256 MiB. Being uncompressed, its
``diff_id`` is simply its own digest, so the config is not only plausible but correct.

The layer is generated once into a temporary file (hashed on the way), uploaded with a streamed
monolithic PUT straight from that file (``requests`` streams file objects), and the file is
deleted: the 256 MiB never sit in memory.
"""

from __future__ import annotations

import hashlib
import random
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin

import requests

from helpers.proxy import FaultProxy, _ProxyHandler
from registry_explorer.sandbox.push import PushError
from registry_explorer.sandbox.samples import CREATED, EPOCH, OCI_CONFIG, OCI_MANIFEST, Blob, dumps

OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
BIG_SIZE = 256 * 1024 * 1024
BIG_SEED = 20240256
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BigImage:
    repository: str
    tag: str
    manifest: Blob
    config: Blob
    layer_digest: str
    layer_size: int

    @property
    def layer_hex(self) -> str:
        return self.layer_digest.split(":", 1)[1]


def write_big_layer(path: Path, size: int = BIG_SIZE, seed: int = BIG_SEED) -> str:
    """Write the layer tar to ``path``; return its digest. Deterministic for (size, seed)."""
    data_len = size - 512 - 1024  # one header block, the file, two zero end blocks
    if data_len <= 0 or data_len % 512:
        raise ValueError(f"size {size} must leave a positive multiple of 512 for the file")
    info = tarfile.TarInfo("data/big.bin")
    info.size, info.mtime, info.mode = data_len, EPOCH, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    assert len(header) == 512, "plain ASCII fields: no PAX extended header expected"
    rnd = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        def put(b: bytes) -> None:
            h.update(b)
            f.write(b)

        put(header)
        left = data_len
        while left:
            n = min(CHUNK, left)
            put(rnd.randbytes(n))
            left -= n
        put(b"\0" * 1024)
    return "sha256:" + h.hexdigest()


def build_manifest(layer_digest: str, layer_size: int) -> tuple[Blob, Blob]:
    """(config, manifest) for the one-layer image; the config's diff_id is the layer digest."""
    config = Blob(OCI_CONFIG, dumps({
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created": CREATED,
                     "created_by": "/bin/sh -c head -c 268433920 /dev/urandom > /data/big.bin # buildkit"}],
    }))
    manifest = Blob(OCI_MANIFEST, dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": layer_size}],
    }))
    return config, manifest


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxies / CA bundles from the environment
    return s


def _upload(s: requests.Session, base: str, repository: str, digest: str, body, size: int) -> None:
    if s.head(f"{base}/v2/{repository}/blobs/{digest}", timeout=30).status_code == 200:
        return
    r = s.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=30)
    if r.status_code != 202 or "Location" not in r.headers:
        raise PushError(f"POST upload: {r.status_code} {r.text[:300]}")
    location = urljoin(r.url, r.headers["Location"])
    sep = "&" if "?" in location else "?"
    r = s.put(f"{location}{sep}digest={quote(digest, safe='')}", data=body, timeout=300,
              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    if r.status_code != 201:
        raise PushError(f"PUT blob {digest}: {r.status_code} {r.text[:300]}")


def push_big_image(base_url: str, workdir: Path, *, repository: str = "test/big", tag: str = "v1",
                   size: int = BIG_SIZE) -> BigImage:
    """Generate, upload (streamed from a temp file) and tag the big image on an auth-less registry."""
    base = base_url.rstrip("/")
    layer_path = Path(workdir) / "big-layer.tar"
    try:
        layer_digest = write_big_layer(layer_path, size)
        config, manifest = build_manifest(layer_digest, size)
        with _session() as s:
            with open(layer_path, "rb") as f:
                _upload(s, base, repository, layer_digest, f, size)
            _upload(s, base, repository, config.digest, config.data, config.size)
            r = s.put(f"{base}/v2/{repository}/manifests/{tag}", data=manifest.data,
                      headers={"Content-Type": manifest.media_type}, timeout=30)
            if r.status_code != 201:
                raise PushError(f"PUT manifest {tag}: {r.status_code} {r.text[:300]}")
    finally:
        layer_path.unlink(missing_ok=True)
    return BigImage(repository, tag, manifest, config, layer_digest, size)


# --- throttled proxy ---------------------------------------------------------------------


class _ThrottledHandler(_ProxyHandler):
    def _write_chunk(self, data: bytes, *, chunked: bool) -> None:
        super()._write_chunk(data, chunked=chunked)
        self.owner._throttle(len(data))


class ThrottledProxy(FaultProxy):
    """:class:`FaultProxy` that relays response bodies at most ``bytes_per_second`` (all
    connections together; ``None`` = unthrottled). Everything else is FaultProxy's."""

    _handler_cls = _ThrottledHandler

    def __init__(self, upstream_url: str, *, bytes_per_second: float | None = None, **kw):
        self.bytes_per_second = bytes_per_second
        self._bucket_lock = threading.Lock()
        self._next_free = 0.0  # monotonic time at which the bytes sent so far are "paid for"
        self.relayed = 0
        super().__init__(upstream_url, **kw)

    def _throttle(self, n: int) -> None:
        rate = self.bytes_per_second
        with self._bucket_lock:
            self.relayed += n
            if not rate:
                return
            now = time.monotonic()
            start = max(now, self._next_free)
            self._next_free = start + n / rate
            wait = self._next_free - now
        if wait > 0:
            time.sleep(wait)
