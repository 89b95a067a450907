"""Where a source keeps its layer indexes: a small memory LRU and the on-disk cache, filed by chain of trust.

Every index is filed under the key of the chain it was built under (`trust.Chain.key`), and found
only through `trust.chains_for(descriptor)`: a TOC index built for one manifest's TOC digest is
invisible to a descriptor that names another TOC digest or none (security issue 21, class 1).
A stored TOC index is re-hashed against its anchor on every load, so even a forged cache entry
cannot make a TOC index vouch for other bytes; a verified-index entry cannot be re-checked
without the whole layer, which is why the cache directory must be private (sources/cache.py).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from ..core.errors import InvalidManifest
from ..core.models import Descriptor
from .estargz import index_from_toc
from .index import TOC_KINDS, LayerIndex
from .stored import decode, encode
from .trust import ESTARGZ_TOC, VERIFIED_INDEX, ZSTD_CHUNKED_TOC, Chain, chains_for
from .zstdchunked import index_from_zstd_toc

__all__ = ["MEMORY_INDEXES", "LayerIndexes"]

# Layer indexes kept in memory per source (least recently used dropped): a few MB each for big layers.
MEMORY_INDEXES = 32
_CACHE_KIND = "layer-index"
_WINDOWS_KIND = "layer-zran"  # a gzip index's windows, in groups (peek/stored.py)


def chain_of(index: LayerIndex) -> Chain:
    """The chain an index was built under (what it is filed by)."""
    return Chain(index.chain, index.layer_digest, index.layer_size, index.anchor)


def _cache_key(chain: Chain, part: str = "") -> str:
    # The cache files entries under a digest; the chain key holds the layer digest and the anchor.
    return "sha256:" + hashlib.sha256((chain.key + part).encode()).hexdigest()


def _group_key(chain: Chain, g: int) -> str:
    return _cache_key(chain, f" zran {g}")


def _rebuilt(index: LayerIndex) -> LayerIndex | None:
    """A stored TOC index rebuilt from its TOC bytes after re-hashing them against the anchor, else None.

    The stored entries are never believed: a cache entry is not the manifest, so only the TOC that
    hashes to the manifest's anchor decides what the layer holds.
    """
    rebuild = _REBUILD.get(index.chain)
    if rebuild is None or "sha256:" + hashlib.sha256(index.toc).hexdigest() != index.anchor:
        return None
    try:
        return rebuild(index.toc, index.layer_digest, index.layer_size, index.media_type, index.anchor,
                       index.toc_offset)
    except InvalidManifest:
        return None


# TOC chain -> how its index is made from verified TOC bytes (the same function the first read used).
_REBUILD = {ESTARGZ_TOC: index_from_toc, ZSTD_CHUNKED_TOC: index_from_zstd_toc}


class LayerIndexes:
    """Layer indexes of one source (memory, then the disk cache), each used only where its chain holds."""

    def __init__(self, cache=None, memory: int = MEMORY_INDEXES, on_disk_hit=None):
        self.cache = cache
        self._on_disk_hit = on_disk_hit  # told of every index served from disk (the trace records it)
        self._memory = memory
        self._mem: OrderedDict[str, LayerIndex] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, desc: Descriptor) -> LayerIndex | None:
        """The index that may serve `desc` (strongest chain first), without any request; None if none is known."""
        for chain in chains_for(desc):
            hit = self._get(chain)
            if hit is not None:
                return hit
        return None

    def _get(self, chain: Chain) -> LayerIndex | None:
        with self._lock:
            hit = self._mem.get(chain.key)
            if hit is not None:
                self._mem.move_to_end(chain.key)
                return hit
        if self.cache is None:
            return None
        raw = self.cache.get(_CACHE_KIND, _cache_key(chain))
        if raw is None:
            return None
        cache = self.cache
        try:
            idx = decode(raw, layer_digest=chain.layer_digest,
                         load_group=lambda g: cache.get(_WINDOWS_KIND, _group_key(chain, g)))
        except InvalidManifest:
            idx = None
        if idx is not None and idx.kind in TOC_KINDS:
            idx = _rebuilt(idx) if chain_of(idx) == chain else None
        if idx is None or chain_of(idx) != chain or (idx.kind in TOC_KINDS) != (chain.name != VERIFIED_INDEX):
            self.cache.delete(_CACHE_KIND, _cache_key(chain))  # never used: rebuilt on the next read
            return None
        self._keep(idx)
        if self._on_disk_hit is not None:
            self._on_disk_hit(chain)
        return idx

    def _keep(self, index: LayerIndex) -> None:
        key = chain_of(index).key
        with self._lock:
            self._mem[key] = index
            self._mem.move_to_end(key)
            while len(self._mem) > self._memory:
                self._mem.popitem(last=False)

    def remember(self, index: LayerIndex) -> None:
        """Keep a freshly built (and so verified) index in memory and in the disk cache."""
        self._keep(index)
        if self.cache is not None:
            chain = chain_of(index)
            head, groups = encode(index)
            for g, payload in enumerate(groups):  # the windows first: a head is never stored without them
                self.cache.put(_WINDOWS_KIND, _group_key(chain, g), payload)
            self.cache.put(_CACHE_KIND, _cache_key(chain), head)

    def forget(self, desc: Descriptor) -> None:
        """Drop every index that could serve `desc` (a ranged read through it failed its digests)."""
        for chain in chains_for(desc):
            with self._lock:
                self._mem.pop(chain.key, None)
            if self.cache is not None:
                self.cache.delete(_CACHE_KIND, _cache_key(chain))
