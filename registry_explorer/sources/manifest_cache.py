"""A Client's manifests by digest: a memory LRU, then the on-disk cache, re-hashed on every disk hit.

Manifests are immutable per digest, so caching them is always safe; what is not safe is believing
a disk entry without hashing it again (the cache directory is outside the process), and calling
a cache hit the registry's answer: each disk hit is recorded in the trace as one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..core.digest import manifest_digest
from ..http.trace import Trace

__all__ = ["MANIFEST_CACHE_ENTRIES", "ManifestCache"]

# Manifests are KBs; 256 of them cover the index walks of a census unit several times over.
MANIFEST_CACHE_ENTRIES = 256


class ManifestCache:
    """Manifests by digest: a memory LRU, then the disk cache (re-hashed; a hit is noted in the trace)."""

    def __init__(self, cache, trace: Trace):
        self._cache, self._trace = cache, trace
        self._memory: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[bytes, str] | None:
        """(raw, media type) of a manifest already seen, or None."""
        with self._lock:
            hit = self._memory.get(digest)
            if hit is not None:
                self._memory.move_to_end(digest)
                return hit
        hit = _disk_manifest(self._cache, digest)
        if hit is not None:  # valid content, but not the registry's answer: the trace says so
            self._trace.cached("manifest", digest, len(hit[0]))
            self._remember(digest, *hit)
        return hit

    def put(self, digest: str, raw: bytes, media_type: str) -> None:
        """Keep a verified manifest in memory and in the disk cache."""
        if self._cache is not None:
            self._cache.put("manifest", digest, media_type.encode("ascii", "replace") + b"\n" + raw)
        self._remember(digest, raw, media_type)

    def _remember(self, digest: str, raw: bytes, media_type: str) -> None:
        with self._lock:
            self._memory[digest] = (raw, media_type)
            self._memory.move_to_end(digest)
            while len(self._memory) > MANIFEST_CACHE_ENTRIES:
                self._memory.popitem(last=False)


def _disk_manifest(cache, digest: str):
    """(raw, media type) from the on-disk cache, re-hashed: a hit must still be what `digest` names."""
    payload = cache.get("manifest", digest) if cache is not None else None
    if payload is None or b"\n" not in payload:
        return None
    ctype_b, raw = payload.split(b"\n", 1)
    ctype = ctype_b.decode("ascii", "replace")
    if manifest_digest(raw, ctype, digest.split(":", 1)[0]) != digest:
        cache.delete("manifest", digest)  # never used: it is not the document the digest names
        return None
    return raw, ctype


