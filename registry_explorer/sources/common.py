"""The read API every content source shares: walk indexes to an image, read its config, fetch blobs.

`Client` (a registry) and `Layout` (an OCI image layout directory) each provide only
`parse`, `manifest` and `_raw_blob`; everything here is built on those, so both behave alike.
The contract they satisfy together is `protocol.Source`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..core import mediatypes as mt
from ..core.digest import VerifyingReader, hasher_for, verify
from ..core.errors import (
    BlobTooLarge,
    Cancelled,
    ConnectionFailed,
    DigestMismatch,
    InvalidManifest,
    PlatformNotFound,
    RegistryError,
)
from ..core.limits import MAX_INDEX_DEPTH, MAX_WALK_MANIFESTS
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..core.platform import DEFAULT_PLATFORM, Platform, describe, select
from ..core.reference import validate_digest
from ..http.retry import RETRY_STATUSES
from ..imagefs.filesystem import ImageFS
from ..imagefs.reader import PeekFile
from ..peek.index import DEFAULT_SPAN, LayerIndex
from ..peek.obtain import layer_index
from ..peek.store import LayerIndexes
from .blobcopy import check, pipelined_copy
from .cache import as_cache

# blob() holds a whole blob in memory; configs are KBs, so 16 MiB is generous and still safe.
BLOB_LIMIT = 16 << 20
# Streaming chunk: large enough to amortise syscalls and hashing calls.
CHUNK = 1 << 20
DEFAULT_WORKERS = 4
# Downloads in flight are `<name>.partial`: recognisable, never mistaken for a verified blob.
PARTIAL_SUFFIX = ".partial"
# A broken download is resumed until this many attempts in a row made no progress, as
# containerd's httpReadSeeker does (errsWithNoProgress): a flaky link that keeps delivering
# bytes is not given up on just because it broke often.
RESUME_ATTEMPTS = 5
# ...but never more than this many resumes in all, so a server that sends a few bytes per
# connection cannot keep a fetch going forever.
RESUME_TOTAL_LIMIT = 64

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Descriptor, int, int], None]


class SourceBase:
    """Shared read API over `parse`, `manifest`, `_raw_blob` and `read_range`, which subclasses provide."""

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

    def _raw_blob(self, ref, descriptor: Descriptor, offset: int = 0):  # pragma: no cover - abstract
        """Context manager yielding the unverified blob from `offset` (read/readinto, `.start`)."""
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
        with self._raw_blob(self.parse(ref), descriptor) as raw:
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

    def fetch_blobs(
        self,
        ref,
        descriptors: Sequence[Descriptor],
        dest: str | os.PathLike,
        *,
        workers: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Path]:
        """Download blobs to `<dest>/<algorithm>-<hex>`, verified, atomically, several at once.

        A file appears under its final name only after its digest checked out. If any blob
        fails, the others still finish; then the first failure is raised, carrying
        `.failures` (digest -> exception) and `.succeeded` (paths written). Setting `cancel`
        stops every download at its next chunk and raises Cancelled.
        """
        ref = self.parse(ref)
        dest = Path(dest)
        if dest.exists() and not dest.is_dir():
            raise NotADirectoryError(f"fetch_blobs destination {dest} exists and is not a directory")
        dest.mkdir(parents=True, exist_ok=True)
        descs = list(descriptors)
        for d in descs:
            validate_digest(d.digest)
        from concurrent.futures import ThreadPoolExecutor  # imported on first use: import time matters

        unique = list({d.digest: d for d in descs}.values())  # the same blob twice is fetched once
        n = max(1, min(workers or self.workers, len(unique) or 1))
        results: dict[str, Path] = {}
        failures: dict[str, BaseException] = {}
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="rx-fetch") as pool:
            futures = {pool.submit(self._fetch_one, ref, d, dest, progress, cancel): d.digest for d in unique}
            for fut, digest in futures.items():
                try:
                    results[digest] = fut.result()
                except BaseException as exc:  # noqa: BLE001 - collected, the first re-raised below
                    failures[digest] = exc
        paths = [results[d.digest] for d in descs if d.digest in results]
        if failures:
            first = next(iter(failures.values()))
            first.failures = failures  # type: ignore[attr-defined]
            first.succeeded = paths  # type: ignore[attr-defined]
            raise first
        return paths

    def _fetch_one(self, ref, desc: Descriptor, dest: Path, progress, cancel=None) -> Path:
        return self._fetch_to(ref, desc, dest / desc.digest.replace(":", "-", 1), progress, cancel)

    def _fetch_to(self, ref, desc: Descriptor, final: Path, progress, cancel=None) -> Path:
        """Stream one blob to `final` via `<final>.partial`, renamed only after verification.

        A broken connection resumes with Range from the bytes already on disk (keeping the
        running hash) while attempts keep making progress (see RESUME_ATTEMPTS); a partial file left by an earlier process
        is resumed the same way. Corrupt content and cancellation delete the partial file; a
        download that still fails on the network keeps it, clearly named, for the next call.
        """
        what = f"blob {desc.digest}"
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"fetch of {desc.digest} was cancelled before it started")
        if final.is_file() and _file_matches(final, desc):
            if progress:
                progress(desc, desc.size, desc.size)
            return final
        size = desc.size if desc.size >= 0 else None
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        with _locked(partial) as out:
            hasher = hasher_for(desc.digest)
            offset = _adopt_partial(out, hasher, size)
            adopted = offset > 0  # bytes an earlier, interrupted fetch left behind
            stalled = resumes = 0  # attempts in a row without progress; attempts in all
            while True:
                try:
                    if size is None or offset < size:
                        with self._raw_blob(self.parse(ref), desc, offset=offset) as raw:
                            if raw.start != offset:  # the server ignored Range: start over
                                out.seek(0)
                                out.truncate()
                                hasher, offset = hasher_for(desc.digest), 0
                            pipelined_copy(
                                raw.readinto, out.write, hasher, start=offset, size=size,
                                progress=(lambda done: progress(desc, done, desc.size)) if progress else None,
                                cancel=cancel, what=desc.digest,
                            )
                    out.flush()
                    if size is not None and out.tell() < size:
                        # http.client reports a connection closed early as a clean EOF.
                        raise ConnectionFailed(f"connection closed after {out.tell()} of {size} bytes of {what}",
                                               kind="stream")
                    check(hasher, desc.digest, out.tell(), size, what=what)
                    break
                except ConnectionFailed as exc:
                    out.flush()
                    stalled = 0 if out.tell() > offset else stalled + 1
                    offset = out.tell()
                    resumes += 1
                    if stalled > RESUME_ATTEMPTS or resumes > RESUME_TOTAL_LIMIT or exc.kind in ("tls-verify", "tls-handshake", "redirect"):
                        if offset:
                            exc.partial = partial  # kept: a later fetch resumes from it
                        else:
                            out.close()
                            partial.unlink(missing_ok=True)  # nothing worth keeping
                        raise
                    log.info("resuming %s at byte %d after: %s", desc.digest, offset, exc)
                except RegistryError as exc:
                    if exc.status in RETRY_STATUSES:  # still failing after retries, but transient
                        exc.partial = partial
                        raise
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise
                except DigestMismatch:
                    if not adopted:
                        out.close()
                        partial.unlink(missing_ok=True)
                        raise
                    # The leftover partial file was not a prefix of this blob: start over once.
                    adopted = False
                    out.seek(0)
                    out.truncate()
                    hasher, offset = hasher_for(desc.digest), 0
                except BaseException:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise
            out.close()
            os.replace(partial, final)
        return final


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


@contextlib.contextmanager
def _locked(partial: Path):
    """Open (creating) the partial file with an exclusive lock, so two processes never interleave."""
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    f = os.fdopen(fd, "r+b", buffering=0)
    try:
        try:
            _lock_exclusive(f.fileno())
        except BlockingIOError:
            raise Cancelled(f"another process is already downloading {partial.name}; try again later") from None
        yield f
    finally:
        f.close()


def _lock_exclusive(fd: int) -> None:
    """flock(LOCK_EX | LOCK_NB) where fcntl exists (POSIX); on Windows, no cross-process lock."""
    try:
        import fcntl  # POSIX only: imported here so `import registry_explorer` works on Windows
    except ImportError:
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _adopt_partial(out, hasher, size: int | None) -> int:
    """Hash what an earlier attempt left in the partial file; returns where to resume."""
    out.seek(0, os.SEEK_END)
    have = out.tell()
    if have and size is not None and have > size:
        out.truncate(0)
        have = 0
    out.seek(0)
    while chunk := out.read(CHUNK):
        hasher.update(chunk)
    out.seek(have)
    return have


def _digest_ok(data: bytes, digest: str) -> bool:
    h = hasher_for(digest)
    h.update(data)
    return f"{h.name}:{h.hexdigest()}" == digest


def _file_matches(path: Path, desc: Descriptor) -> bool:
    """True when an existing file already holds exactly the blob (so it need not be fetched again)."""
    if desc.size >= 0 and path.stat().st_size != desc.size:
        return False
    h = hasher_for(desc.digest)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return f"{h.name}:{h.hexdigest()}" == desc.digest
