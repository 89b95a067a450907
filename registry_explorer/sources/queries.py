"""Queries: the fetching half of the frames, returning models and plain rows, never DataFrames.

Each function takes a `Source` (a `Client`, a `Layout`, or anything with that protocol) and
does the requests a frame needs: concurrent tag HEADs, one streamed pass per layer, the two
images of a comparison. `registry_explorer.frames` turns the results into DataFrames; keeping
the fetching here lets the frames stay pure (no HTTP library is imported on their account) and
lets notebook code use the rows without pandas.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, MissingExtra, RegistryExplorerError
from ..core.models import ImageConfig, Manifest
from ..layers import Entry, Placed, iter_layer, merge_layers
from .protocol import Source

__all__ = ["TAG_WORKERS", "image_entries", "image_layers", "image_pair", "layer_entries", "tag_rows"]

# HEADing thousands of tags one by one is slow; too many at once trips registry rate limits.
TAG_WORKERS = 8


def tag_rows(source: Source, repo: Any, *, workers: int = TAG_WORKERS) -> list[dict[str, Any]]:
    """One dict per tag (tag, digest, media_type, size): each tag HEADed concurrently.

    A tag that fails to resolve (deleted between listing and HEAD, or a manifest type the
    registry refuses to serve for our Accept header) keeps its row with None values, so one
    bad tag does not hide the others.
    """
    ref = source.parse(repo)
    names = source.tags(ref)

    def head(tag: str) -> dict[str, Any]:
        try:
            d = source.resolve(ref.with_tag(tag))
        except RegistryExplorerError:
            return {"tag": tag, "digest": None, "media_type": None, "size": None}
        return {"tag": tag, "digest": d.digest, "media_type": d.media_type, "size": d.size}

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names) or 1)), thread_name_prefix="rx-tags") as pool:
        return list(pool.map(head, names))


def image_pair(source: Source, ref_a: Any, ref_b: Any, *, platform: Any = None
               ) -> tuple[Manifest, ImageConfig, Manifest, ImageConfig]:
    """The manifests and configs of two images (for `platform` when they are indexes)."""
    ma, mb = source.image(ref_a, platform), source.image(ref_b, platform)
    return ma, source.config(ma), mb, source.config(mb)


def layer_entries(source: Source, ref: Any, layer_descriptor: Any, **limits: Any) -> list[Entry]:
    """The tar entries of one layer blob, streamed once and verified.

    A source with layer indexes (issue 12: `cached_layer_index`/`layer_index`) answers from the
    index when it has one (no request at all), else builds it in the same single verified pass,
    so the next look at the layer (a listing, open_file, the widget preview) costs no download.
    `limits` (max_entries, max_path, max_bytes) are passed to `layerfs.iter_layer`; a call with
    limits streams, since an index built under other limits must not bypass them.
    """
    if not limits:
        indexed = _indexed_entries(source, ref, layer_descriptor)
        if indexed is not None:
            return indexed
    return list(iter_layer(source, ref, layer_descriptor, **limits))


def _indexed_entries(source: Any, ref: Any, desc: Any) -> list[Entry] | None:
    cached, build = getattr(source, "cached_layer_index", None), getattr(source, "layer_index", None)
    if not callable(cached) or not callable(build):
        return None
    index = cached(desc)
    if index is None:
        try:
            index = build(ref, desc)
        except MissingExtra:  # no indexed_gzip: list by streaming, as before
            return None
    return index.files


def image_layers(source: Source, ref: Any, platform: Any = None, **limits: Any) -> list[tuple[int, str, list[Entry]]]:
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
        listed = dict(zip((d.digest for d in unique),
                          pool.map(lambda d: layer_entries(source, pinned, d, **limits), unique)))
    return [(i, d.digest, listed[d.digest]) for i, d in enumerate(descs)]


def image_entries(source: Source, ref: Any, platform: Any = None, **limits: Any) -> list[Placed]:
    """The merged filesystem of an image (whiteouts applied): each path with the layer that last wrote it."""
    return merge_layers(image_layers(source, ref, platform, **limits))
