"""Listings of layers and images: each layer's entries from its index, or one verified pass that builds it.

`layer_entries` answers from the layer's index when one serves the descriptor (no request at
all), else builds it in the same single verified pass that lists the layer, so the next look at
the layer (a listing, a file read, the widget preview) costs no download. `image_entries` is the
merged filesystem (whiteouts applied, `layers.merge.merge_layers`) with the layer that wrote
each path.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, MissingExtra
from ..layers import Entry, Placed, iter_layer, merge_layers
from ..peek.obtain import layer_index

__all__ = ["image_entries", "image_layers", "layer_entries"]


def layer_entries(source: Any, ref: Any, layer_descriptor: Any, **limits: Any) -> list[Entry]:
    """The tar entries of one layer blob, streamed once and verified.

    From the layer's index (see the module docstring). `limits` (max_entries, max_path,
    max_bytes) are passed to `layers.iter_layer`; a call with limits streams, since an index
    built under other limits must not bypass them.
    """
    if not limits:
        indexed = _indexed_entries(source, ref, layer_descriptor)
        if indexed is not None:
            return indexed
    return list(iter_layer(source, ref, layer_descriptor, **limits))


def _indexed_entries(source: Any, ref: Any, desc: Any) -> list[Entry] | None:
    try:
        return layer_index(source, ref, desc).files
    except MissingExtra:  # no indexed_gzip: list by streaming, as before
        return None


def image_layers(source: Any, ref: Any, platform: Any = None, **limits: Any) -> list[tuple[int, str, list[Entry]]]:
    """Every layer of the image listed, base first, as (index, digest, entries).

    Layers stream in parallel (up to `source.workers`), one pass each. Artifacts carry blobs
    that are not tar archives (SBOMs, signatures), so a non-layer media type is refused before
    anything is downloaded rather than failing halfway through a tar parse.
    """
    manifest = source.image(ref, platform)
    pinned = manifest.reference or source.parse(ref)  # by digest: no second platform walk per layer
    descs = manifest.layers
    for i, d in enumerate(descs):
        if d.media_type and not mt.is_layer(d.media_type):
            raise InvalidManifest(f"{pinned}: layer {i} is {d.media_type}, not a filesystem layer")
    if not descs:
        return []
    # A manifest may list one layer many times (a hostile one: 40 times); each digest is read once.
    unique = list({d.digest: d for d in descs}.values())
    workers = max(1, min(source.workers, len(unique)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rx-layerfs") as pool:
        # Each task runs in a copy of this thread's context, so a cost meter around the call sees its requests.
        futures = {d.digest: pool.submit(copy_context().run, layer_entries, source, pinned, d, **limits)
                   for d in unique}
        listed = {digest: fut.result() for digest, fut in futures.items()}
    return [(i, d.digest, listed[d.digest]) for i, d in enumerate(descs)]


def image_entries(source: Any, ref: Any, platform: Any = None, **limits: Any) -> list[Placed]:
    """The merged filesystem of an image (whiteouts applied): each path with the layer that last wrote it."""
    return merge_layers(image_layers(source, ref, platform, **limits))
