"""Getting the index of one layer: already known, from a TOC the manifest vouches for, or built in one pass.

The order is the cost order: an index this source already holds under a chain that serves the
descriptor (no request), a TOC read by Range (one or two requests, vouched for by the manifest's
annotation: zstd:chunked for a zstd layer, eStargz for a gzip one), else one verified streaming
pass over the whole layer (`build.build_index`). A built index is remembered only after the layer
digest checked; a TOC index only after the TOC hashed to the manifest's anchor (`trust.py`).

A registry that does not honour Range, or a TOC that hashes right but cannot be used (a writer's
format this reader does not know), falls back to the full pass, which the layer digest vouches
for. A TOC that does not hash to the manifest's anchor is an error: something served wrong bytes.
"""

from __future__ import annotations

from pathlib import Path

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, RangeRefused
from ..core.models import Descriptor
from .build import build_index
from .estargz import read_toc_index
from .index import DEFAULT_SPAN, LayerIndex
from .trust import estargz_toc_digest, zstd_chunked_checksum, zstd_chunked_position
from .zstdchunked import read_zstd_toc_index

__all__ = ["layer_index"]


def layer_index(source, ref, desc: Descriptor, *, span: int = DEFAULT_SPAN, keep: Path | None = None,
                **limits) -> LayerIndex:
    """The `LayerIndex` of `desc` for `source` (see the module docstring); `keep` as in `build_index`."""
    if isinstance(span, bool) or not isinstance(span, int) or span <= 0:
        raise ValueError("span must be a positive number of bytes")
    hit = source.indexes.find(desc)
    if hit is not None and (hit.span == span or hit.kind != "gzip-checkpoints"):
        return hit
    if not mt.is_layer(desc.media_type or mt.OCI_LAYER_GZIP):
        raise InvalidManifest(f"{desc.digest} is {desc.media_type}, not a layer")
    idx = _toc_index(source, ref, desc)
    if idx is None:
        idx = build_index(source, ref, desc, span=span, keep=keep, **limits)
    source.indexes.remember(idx)  # only now: both routes raised if what vouches for the index did not hold
    return idx


def _toc_index(source, ref, desc: Descriptor) -> LayerIndex | None:
    """The index from the layer's own TOC when the manifest names one and the registry honours Range."""
    def fetch(start: int, end: int) -> bytes:
        return source.read_range(ref, desc, start, end)

    kind = mt.compression(desc.media_type)
    checksum, position, toc_digest = zstd_chunked_checksum(desc), zstd_chunked_position(desc), estargz_toc_digest(desc)
    try:
        if checksum and position and kind in ("zstd", "unknown"):
            return read_zstd_toc_index(fetch, desc, checksum, position, source.origin)
        if toc_digest and kind in ("gzip", "unknown"):
            return read_toc_index(fetch, desc, toc_digest, source.origin)
    except (RangeRefused, InvalidManifest):
        return None  # a refused Range is noted in the trace; the full pass below gives a verified index
    return None
