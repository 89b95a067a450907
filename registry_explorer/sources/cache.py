"""`Cache`: a local, content-addressed store shared by everything that caches (documents, layer indexes).

Entries live at `<root>/<kind>/<algorithm>/<hex>`, keyed by the digest of what they describe
(a manifest's digest, a layer's digest). Content is immutable per digest, so an entry never
goes stale; it can only be damaged. Each entry therefore starts with a header that carries
the sha256 and length of its own payload: a truncated or corrupt file is detected on read,
deleted and reported as a miss, never returned.

Trust: the directory is a trust boundary (`private_dir.py`): refused unless it is the user's own and
not writable by group or others, walked without following links, created private. A layer index
cannot be re-checked without its whole layer, so a cache others can write would let them choose
what `read_file` returns as `verified-index`.

Concurrency: writes go to a temporary file in the same directory and land with `os.replace`
(atomic on POSIX and Windows), so a reader sees either the old whole file or the new whole
file; two processes writing the same entry write the same bytes. Eviction unlinks files,
which an open reader keeps reading on POSIX. Least-recently-used eviction uses the file's
mtime, touched on every hit (atime is unreliable under `relatime`/`noatime` mounts).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import stat
import threading
from pathlib import Path

from ..core.errors import UnsafeCache
from ..core.reference import validate_digest
from .private_dir import DESCRIPTOR_RELATIVE, check_root, open_file_in, opened_chain

log = logging.getLogger(__name__)

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
        if not DESCRIPTOR_RELATIVE:
            raise UnsafeCache("this platform cannot open files relative to a directory without following links "
                              "(no O_NOFOLLOW/openat), so no disk cache is kept; pass cache=False")
        fd = check_root(self.path, create=False)  # an existing directory that is not private is refused now
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}, max_bytes={self.max_bytes})"

    def path_for(self, kind: str, digest: str) -> Path:
        """Where the entry for (`kind`, `digest`) lives; both are validated (they become file names)."""
        return self.path.joinpath(*self._names(kind, digest))

    @staticmethod
    def _names(kind: str, digest: str) -> list[str]:
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise ValueError(f"cache kind must match {_KIND_RE.pattern}, not {kind!r}")
        return [kind, *validate_digest(digest).split(":", 1)]

    def get(self, kind: str, digest: str) -> bytes | None:
        """The payload stored for (`kind`, `digest`), or None (absent, or damaged and now removed)."""
        *dirs, name = self._names(kind, digest)
        with opened_chain(self.path, dirs, create=False) as dfd:
            raw = _read_entry(dfd, name) if dfd is not None else None
            if raw is None:
                self.misses += 1
                return None
            payload = _unwrap(raw)
            if payload is None:  # damaged, or not a regular file: removed, never returned
                self.rejected += 1
                self.misses += 1
                _unlink(dfd, name)
                return None
            with contextlib.suppress(OSError):
                os.utime(name, dir_fd=dfd, follow_symlinks=False)  # mark as recently used (LRU eviction)
        self.hits += 1
        return payload

    def put(self, kind: str, digest: str, data: bytes) -> Path:
        """Store `data` for (`kind`, `digest`) atomically, then evict least-recently-used entries over the bound."""
        *dirs, name = self._names(kind, digest)
        blob = _wrap(bytes(data))
        if len(blob) > self.max_bytes:
            raise ValueError(f"a {len(blob)}-byte entry cannot fit a cache of {self.max_bytes} bytes")
        p = self.path_for(kind, digest)
        try:
            with opened_chain(self.path, dirs, create=True) as dfd:
                tmp = f"{_TMP_PREFIX}{secrets.token_hex(8)}"
                fd = open_file_in(dfd, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(blob)
                    os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)  # never through a link: names in dfd
                except BaseException:
                    _unlink(dfd, tmp)
                    raise
        except OSError as exc:
            # A cache is a shortcut: a full disk or a read-only directory costs the next call a fetch,
            # never this call its answer. (An unsafe directory is UnsafeCache, raised above, not this.)
            log.warning("not cached: %s %s (%s)", kind, digest, exc)
            return p
        self.evict(keep=p)
        return p

    def delete(self, kind: str, digest: str) -> None:
        """Remove one entry if present."""
        *dirs, name = self._names(kind, digest)
        with opened_chain(self.path, dirs, create=False) as dfd:
            if dfd is not None:
                _unlink(dfd, name)

    def entries(self) -> list[tuple[Path, int, float]]:
        """Every entry file as (path, size, mtime): regular files only, temporary files and links excluded."""
        out = []
        if not self.path.is_dir():
            return out
        for dirpath, _dirs, names in os.walk(self.path):  # os.walk does not descend into linked directories
            for name in names:
                if name.startswith(_TMP_PREFIX):
                    continue
                fp = Path(dirpath) / name
                try:
                    st = fp.lstat()
                except OSError:
                    continue  # evicted by another process meanwhile
                if stat.S_ISREG(st.st_mode):
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
                _discard(fp)
                total -= size
                freed += size
            return freed

    def clear(self) -> None:
        """Delete every entry."""
        for fp, _, _ in self.entries():
            _discard(fp)


def _read_entry(dfd: int, name: str) -> bytes | None:
    """The bytes of regular file `name` in `dfd`; None if absent; b"" (damaged) if it is a link or not regular."""
    try:
        fd = open_file_in(dfd, name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return b"" if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO) else None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return b""  # a FIFO or a device planted in the cache: never read from it
        return f.read()


def _unlink(dfd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        os.unlink(name, dir_fd=dfd)


def _discard(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        p.unlink()  # unlink removes a link itself, never what it points to


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
    """Normalise a `cache=` argument: a Cache, a path, True (the default location), or None/False (none).

    Where the platform cannot walk a directory without following links (Windows), the default is no
    disk cache rather than an unsafe one; an explicit path then raises UnsafeCache.
    """
    if value is None or value is False:
        return None
    if value is True:
        return Cache() if DESCRIPTOR_RELATIVE else None
    if isinstance(value, Cache):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Cache(value)
    raise ValueError(f"cache= takes a path, an rx.Cache, True or False, not {type(value).__name__}")
