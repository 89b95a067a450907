"""Getting the index of one layer: already known, from a TOC the manifest vouches for, or built in one pass.

The order is the cost order: an index this source already holds under a chain that serves the
descriptor (no request), a TOC read by Range (a few requests, vouched for by the manifest's
annotation), else one verified streaming pass over the whole layer (`build.build_index`). A
built index is remembered only after the layer digest checked; a TOC index only after the TOC
hashed to the manifest's anchor (`trust.py`).
"""

from __future__ import annotations

from pathlib import Path

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, RangeRefused
from ..core.models import Descriptor
from .build import build_index
from .estargz import read_toc_index
from .index import DEFAULT_SPAN, LayerIndex
from .trust import estargz_toc_digest

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
    toc_digest = estargz_toc_digest(desc)
    if toc_digest and mt.compression(desc.media_type) in ("gzip", "unknown"):
        try:
            return read_toc_index(lambda a, b: source.read_range(ref, desc, a, b), desc, toc_digest)
        except RangeRefused:
            return None  # noted in the trace; the full pass below still gives a verified index
    return None
