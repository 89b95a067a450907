"""`Cache`: a local, content-addressed store shared by everything that caches (documents, layer indexes).

Entries live at `<root>/<kind>/<algorithm>/<hex>`, keyed by the digest of what they describe
(a manifest's digest, a layer's digest). Content is immutable per digest, so an entry never
goes stale; it can only be damaged. Each entry therefore starts with a header that carries
the sha256 and length of its own payload: a truncated or corrupt file is detected on read,
deleted and reported as a miss, never returned.

Concurrency: writes go to a temporary file in the same directory and land with `os.replace`
(atomic on POSIX and Windows), so a reader sees either the old whole file or the new whole
file; two processes writing the same entry write the same bytes. Eviction unlinks files,
which an open reader keeps reading on POSIX. Least-recently-used eviction uses the file's
mtime, touched on every hit (atime is unreliable under `relatime`/`noatime` mounts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path

from ..core.reference import validate_digest

__all__ = ["DEFAULT_MAX_BYTES", "Cache", "default_cache_dir", "as_cache"]

# 2 GiB: indexes are ~1-4% of their layers and documents are KBs, so this holds the indexes of
# tens of GiB of layers while staying small next to the image stores users already have.
DEFAULT_MAX_BYTES = 2 << 30
# "RXC1 <sha256 hex> <payload length>\n": a fixed-format header, so a file cut anywhere fails.
_MAGIC = b"RXC1"
_HEADER_RE = re.compile(rb"^RXC1 ([0-9a-f]{64}) ([0-9]{1,19})\n")
_HEADER_MAX = 4 + 1 + 64 + 1 + 19 + 1
# A kind becomes a directory name: keep it to a safe, boring alphabet.
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TMP_PREFIX = ".tmp-"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/registry-explorer`, else `~/.cache/registry-explorer` (XDG base directory spec)."""
    base = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "registry-explorer"


class Cache:
    """A size-bounded, content-addressed, corruption-detecting on-disk cache (see the module docstring)."""

    def __init__(self, path: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive integer, not {max_bytes!r}")
        self.path = Path(path) if path is not None else default_cache_dir()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.hits = self.misses = self.rejected = 0  # counters for tests and the notebook

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}, max_bytes={self.max_bytes})"

    def path_for(self, kind: str, digest: str) -> Path:
        """Where the entry for (`kind`, `digest`) lives; both are validated (they become file names)."""
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise ValueError(f"cache kind must match {_KIND_RE.pattern}, not {kind!r}")
        algo, hexpart = validate_digest(digest).split(":", 1)
        return self.path / kind / algo / hexpart

    def get(self, kind: str, digest: str) -> bytes | None:
        """The payload stored for (`kind`, `digest`), or None (absent, or damaged and now removed)."""
        p = self.path_for(kind, digest)
        try:
            with open(p, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            self.misses += 1
            return None
        payload = _unwrap(raw)
        if payload is None:
            self.rejected += 1
            self.misses += 1
            self._discard(p)
            return None
        with contextlib.suppress(OSError):
            os.utime(p)  # mark as recently used for LRU eviction
        self.hits += 1
        return payload

    def put(self, kind: str, digest: str, data: bytes) -> Path:
        """Store `data` for (`kind`, `digest`) atomically, then evict least-recently-used entries over the bound."""
        data = bytes(data)
        p = self.path_for(kind, digest)
        blob = _wrap(data)
        if len(blob) > self.max_bytes:
            raise ValueError(f"a {len(blob)}-byte entry cannot fit a cache of {self.max_bytes} bytes")
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=p.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, p)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.evict(keep=p)
        return p

    def delete(self, kind: str, digest: str) -> None:
        """Remove one entry if present."""
        self._discard(self.path_for(kind, digest))

    def entries(self) -> list[tuple[Path, int, float]]:
        """Every entry file as (path, size, mtime), temporary files excluded."""
        out = []
        if not self.path.is_dir():
            return out
        for dirpath, _dirs, names in os.walk(self.path):
            for name in names:
                if name.startswith(_TMP_PREFIX):
                    continue
                fp = Path(dirpath) / name
                try:
                    st = fp.stat()
                except OSError:
                    continue  # evicted by another process meanwhile
                out.append((fp, st.st_size, st.st_mtime))
        return out

    def size(self) -> int:
        """Bytes held by all entries."""
        return sum(s for _, s, _ in self.entries())

    def evict(self, keep: Path | None = None) -> int:
        """Delete least-recently-used entries until the total fits `max_bytes`; returns bytes freed."""
        with self._lock:
            entries = self.entries()
            total = sum(s for _, s, _ in entries)
            freed = 0
            for fp, size, _ in sorted(entries, key=lambda e: e[2]):
                if total <= self.max_bytes:
                    break
                if keep is not None and fp == keep:
                    continue
                self._discard(fp)
                total -= size
                freed += size
            return freed

    def clear(self) -> None:
        """Delete every entry."""
        for fp, _, _ in self.entries():
            self._discard(fp)

    @staticmethod
    def _discard(p: Path) -> None:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
            p.unlink()


def _wrap(data: bytes) -> bytes:
    return b"%s %s %d\n" % (_MAGIC, hashlib.sha256(data).hexdigest().encode(), len(data)) + data


def _unwrap(raw: bytes) -> bytes | None:
    """The payload of a stored entry, or None if its header, length or digest do not hold."""
    m = _HEADER_RE.match(raw[:_HEADER_MAX])
    if m is None:
        return None
    payload = raw[m.end():]
    if len(payload) != int(m.group(2)) or hashlib.sha256(payload).hexdigest().encode() != m.group(1):
        return None
    return payload


def as_cache(value) -> Cache | None:
    """Normalise a `cache=` argument: a Cache, a path, True (the default location), or None/False (none)."""
    if value is None or value is False:
        return None
    if value is True:
        return Cache()
    if isinstance(value, Cache):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Cache(value)
    raise ValueError(f"cache= takes a path, an rx.Cache, True or False, not {type(value).__name__}")
