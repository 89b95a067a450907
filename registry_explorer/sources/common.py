"""The read API every content source shares: walk indexes to an image, read its config, fetch blobs.

`Client` (a registry) and `Layout` (an OCI image layout directory) each provide only
`parse`, `manifest` and `raw_blob`; everything here is built on those, so both behave alike.
The contract they satisfy together is `protocol.Source`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core import mediatypes as mt
from ..core.digest import VerifyingReader, hasher_for, verify
from ..core.errors import (
    BlobTooLarge,
    ConnectionFailed,
    InvalidManifest,
    PlatformNotFound,
)
from ..core.limits import MAX_INDEX_DEPTH, MAX_WALK_MANIFESTS
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..core.platform import DEFAULT_PLATFORM, Platform, describe, select
from ..core.reference import validate_digest
from ..imagefs.filesystem import ImageFS
from ..imagefs.reader import PeekFile
from ..peek.index import DEFAULT_SPAN, LayerIndex
from ..peek.indexes import LayerIndexes
from ..peek.obtain import layer_index
from .cache import as_cache
from .download import ProgressCallback, fetch_blobs

# blob() holds a whole blob in memory; configs are KBs, so 16 MiB is generous and still safe.
BLOB_LIMIT = 16 << 20
# Streaming chunk: large enough to amortise syscalls and hashing calls.
CHUNK = 1 << 20
DEFAULT_WORKERS = 4


class SourceBase:
    """Shared read API over `parse`, `manifest`, `raw_blob` and `read_range`, which subclasses provide."""

    workers: int = DEFAULT_WORKERS
    cache = None  # an rx.Cache for layer indexes (and, where _caches_documents, small blobs)
    _caches_documents = False
    origin = "registry"  # where this source's bytes come from, for DigestMismatch messages

    def _init_source(self, cache) -> None:
        """What every source holds: its disk cache (or None) and its layer indexes (memory, then that cache)."""
        self.cache = as_cache(cache)
        self.indexes = LayerIndexes(self.cache, on_disk_hit=lambda chain: self.trace.cached(
            "layer-index", chain.layer_digest))

    def parse(self, text):  # pragma: no cover - abstract
        """Parse a reference in this source's syntax."""
        raise NotImplementedError

    def manifest(self, ref, descriptor: Descriptor | None = None) -> Manifest | Index:  # pragma: no cover
        """Fetch a verified manifest or index."""
        raise NotImplementedError

    def raw_blob(self, ref, descriptor: Descriptor, offset: int = 0):  # pragma: no cover - abstract
        """Context manager yielding the UNVERIFIED blob from `offset` (read/readinto, `.start`).

        Callers verify what they read: `open_blob` wraps it in a VerifyingReader, `download.fetch_to`
        hashes every byte it writes and renames the file only after the digest checked."""
        raise NotImplementedError

    def read_range(self, ref, descriptor: Descriptor, start: int, end: int) -> bytes:  # pragma: no cover
        """Exactly bytes [start, end) of a blob, unverified (the caller checks them); RangeRefused if not."""
        raise NotImplementedError

    # -- files of an image: the one image filesystem (imagefs/) --------------------------------------

    def open_file(self, ref, path: str, *, platform=None, layer=None, span: int = DEFAULT_SPAN) -> PeekFile:
        """A read-only seekable file of the image (merged filesystem; or one layer with `layer=`), verified."""
        return ImageFS(self, ref, platform, layer=layer, span=span).open(path)

    def read_file(self, ref, path: str, *, platform=None, layer=None, limit: int | None = None,
                  span: int = DEFAULT_SPAN) -> bytes:
        """The bytes of one file of an image (all of them, verified; then cut to `limit` if given)."""
        return ImageFS(self, ref, platform, layer=layer, span=span).read_file(path, limit)

    def layer_index(self, ref, layer_descriptor: Descriptor, *, span: int = DEFAULT_SPAN, **limits) -> LayerIndex:
        """The `LayerIndex` of one layer: known, from a TOC the manifest vouches for, or built in one verified pass."""
        return layer_index(self, self.parse(ref), layer_descriptor, span=span, **limits)

    def cached_layer_index(self, layer_descriptor: Descriptor) -> LayerIndex | None:
        """The index that serves this layer descriptor if one is already known (memory or cache), no request."""
        return self.indexes.find(layer_descriptor)

    @contextlib.contextmanager
    def open_blob(self, ref, descriptor: Descriptor) -> Iterator[VerifyingReader]:
        """Stream a blob: yields a file-like reader that raises DigestMismatch at EOF if corrupt."""
        with self.raw_blob(self.parse(ref), descriptor) as raw:
            yield VerifyingReader(raw, descriptor.digest, descriptor.size if descriptor.size >= 0 else None,
                                  what=f"blob {descriptor.digest}", origin=self.origin)

    def image(self, ref, platform: str | Platform | None = None) -> Manifest:
        """The image manifest for `platform` (default linux/amd64), walking indexes as needed."""
        ref = self.parse(ref)
        wanted = Platform.parse(platform or DEFAULT_PLATFORM)
        doc = self.manifest(ref)
        if isinstance(doc, Manifest):
            return doc
        return self._select_image(ref, wanted, doc, 0, set())

    def _select_image(self, ref, wanted: Platform, index: Index, depth: int, seen: set) -> Manifest:
        """Walk `index` down to the manifest for `wanted` (bounded depth, each nested index once)."""
        if depth >= MAX_INDEX_DEPTH:
            raise InvalidManifest(f"{ref}: indexes nest deeper than {MAX_INDEX_DEPTH} levels")
        seen.add(index.digest)
        children = index.manifests
        hits = select(wanted, children)
        if hits:
            doc = self.manifest(ref, descriptor=children[hits[0]])
            return doc if isinstance(doc, Manifest) else self._select_image(ref, wanted, doc, depth + 1, seen)
        # OCI image-spec (image-index.md) lets an entry be an index itself; one without a
        # platform stands for all of its children, and containerd walks into it: so do we.
        available = describe(c for c in children if not c.is_attestation)
        for child in children:
            if child.platform is None and mt.is_index(child.media_type) and child.digest not in seen:
                nested = self.manifest(ref, descriptor=child)
                if not isinstance(nested, Index):
                    continue
                try:
                    return self._select_image(ref, wanted, nested, depth + 1, seen)
                except PlatformNotFound as exc:
                    available += exc.available
        raise PlatformNotFound(str(wanted), available)

    def config(self, ref_or_manifest, platform: str | Platform | None = None) -> ImageConfig:
        """The image config of a reference (walking indexes for `platform`) or of a fetched Manifest."""
        if isinstance(ref_or_manifest, Manifest):
            manifest = ref_or_manifest
            if manifest.reference is None:
                raise ValueError("this Manifest was not fetched from a registry; pass a reference instead")
        elif isinstance(ref_or_manifest, Index):
            raise TypeError("config() needs an image manifest or a reference, not an Index; use image() first")
        else:
            manifest = self.image(ref_or_manifest, platform)
        desc = manifest.config
        if desc is None:
            raise InvalidManifest(f"{manifest.reference}: a {manifest.media_type} manifest has no config blob")
        raw = self.blob(manifest.reference, desc)
        return ImageConfig.parse(raw, desc)

    def blob(self, ref, descriptor: Descriptor, *, limit: int = BLOB_LIMIT) -> bytes:
        """A whole blob in memory, verified; capped at `limit` (use open_blob/fetch_blobs for layers)."""
        ref = self.parse(ref)
        what = f"blob {descriptor.digest}"
        if descriptor.data is not None:
            verify(descriptor.data, descriptor.digest, size=descriptor.size, what=what + " (embedded data)")
            return descriptor.data
        if descriptor.size > limit:
            raise BlobTooLarge(what, limit, descriptor.size, hint="; stream it with open_blob() or fetch_blobs()")
        # Remote sources only: a layout's blobs are already local files.
        cache = getattr(self, "cache", None) if self._caches_documents else None
        if cache is not None and descriptor.size >= 0:
            hit = cache.get("blob", descriptor.digest)
            # A hit must satisfy the descriptor exactly as a fetch would (size and digest).
            if hit is not None and len(hit) == descriptor.size and _digest_ok(hit, descriptor.digest):
                self.trace.cached("config" if mt.is_config(descriptor.media_type) else "blob", descriptor.digest,
                                  len(hit))
                return hit
        data = self._blob_fetch(ref, descriptor, limit, what)
        if cache is not None and descriptor.size >= 0:
            cache.put("blob", descriptor.digest, data)
        return data

    def _blob_fetch(self, ref, descriptor: Descriptor, limit: int, what: str) -> bytes:
        chunks, total = [], 0
        started = time.monotonic()
        deadline = getattr(self, "deadline", None)  # a config is a document: the same total deadline
        with self.open_blob(ref, descriptor) as reader:
            while chunk := reader.read(CHUNK):
                if deadline is not None and time.monotonic() - started > deadline:
                    raise ConnectionFailed(f"reading {what} took longer than {deadline:g}s (the server sends "
                                           "too slowly); raise deadline= if this registry is just slow",
                                           kind="timeout")
                total += len(chunk)
                if total > limit:  # only reachable when the size is unknown (schema1)
                    raise BlobTooLarge(what, limit, None)
                chunks.append(chunk)
        return b"".join(chunks)

    def fetch_blobs(self, ref, descriptors: Sequence[Descriptor], dest: str | os.PathLike, *,
                    workers: int | None = None, progress: ProgressCallback | None = None,
                    cancel: threading.Event | None = None) -> list[Path]:
        """Download blobs to `<dest>/<algorithm>-<hex>`, verified, atomically, several at once (`download.py`).

        If any blob fails the others still finish; then, of several blobs, `FetchFailed` says which
        failed (`.failures`) and what was written (`.succeeded`); one blob's failure is raised as it
        is. `cancel` stops every download at its next chunk (Cancelled).
        """
        return fetch_blobs(self, self.parse(ref), descriptors, dest, workers=workers or self.workers,
                           progress=progress, cancel=cancel)

def walk(source, ref, root: Manifest | Index) -> tuple[list[Manifest | Index], dict[str, Descriptor]]:
    """Every manifest under `root` (each once, parents first) and every blob they name, by digest.

    A server writes these documents, so the walk is bounded (MAX_INDEX_DEPTH, MAX_WALK_MANIFESTS)
    and keeps a visited set: an index that lists each child twice, 30 levels deep, would
    otherwise mean 2**30 walks. Every digest is validated here, before any becomes a file name.
    """
    docs: list[Manifest | Index] = []
    blobs: dict[str, Descriptor] = {}
    seen: set[str] = set()
    stack: list[tuple[Manifest | Index, int]] = [(root, 0)]
    while stack:
        doc, depth = stack.pop()
        if doc.digest in seen:
            continue
        seen.add(doc.digest)
        if len(seen) > MAX_WALK_MANIFESTS:
            raise InvalidManifest(f"{ref}: more than {MAX_WALK_MANIFESTS} manifests under one index")
        docs.append(doc)
        if isinstance(doc, Index):
            if depth >= MAX_INDEX_DEPTH:
                raise InvalidManifest(f"{ref}: indexes nest deeper than {MAX_INDEX_DEPTH} levels")
            for child in doc.manifests:
                validate_digest(child.digest)
                if child.digest not in seen:
                    stack.append((source.manifest(ref, descriptor=child), depth + 1))
            continue
        for d in ([doc.config] if doc.config is not None else []) + doc.layers:
            validate_digest(d.digest)
            # Foreign (non-distributable) layers live at their `urls`, not in the registry.
            if d.urls and ("foreign" in d.media_type or "nondistributable" in d.media_type):
                continue
            blobs.setdefault(d.digest, d)
    return docs, blobs


def _digest_ok(data: bytes, digest: str) -> bool:
    h = hasher_for(digest)
    h.update(data)
    return f"{h.name}:{h.hexdigest()}" == digest
