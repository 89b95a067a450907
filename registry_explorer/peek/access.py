"""Peek without pulling: `open_file`, `read_file` and `layer_index` on every Source (issue 12).

`PeekMixin` is mixed into `SourceBase`, so `Client` and `Layout` behave alike. A path is
resolved in the merged filesystem, top layer first: whiteouts and opaque directories hide the
layers below, symlinks are followed inside the image (an absolute target restarts at the image
root; `..` stops at it). The bytes come from the cheapest honest route:

1. an index in memory or in `self.cache` -> one Range request, checked against a digest that
   came from verified data (`verified-index` / `estargz-entry-digest`);
2. eStargz (TOC digest annotation) -> footer and TOC by Range, verified, then the entry;
3. otherwise one verified streamed pass that builds the index, committed to the cache only
   after the layer digest checked (`layer-digest`).

A registry that ignores or garbles Range falls back to the verified stream; the trace
exchange gets a `note` saying why.
"""

from __future__ import annotations

import io
import posixpath
import threading
from collections import OrderedDict

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, NotFound
from ..core.models import Descriptor
from ..http.values import content_range
from ..layers.tar import Entry, normalize_path
from .build import build_index
from .index import DEFAULT_SPAN, IndexEntry, LayerIndex
from .ranged import RangeRefused, read_entry_ranged

__all__ = ["MAX_SYMLINK_HOPS", "PeekFile", "PeekMixin"]

# Linux's MAXSYMLINKS: more hops than this is a loop (ELOOP).
MAX_SYMLINK_HOPS = 40
# open_file holds a file in memory to check it whole against its digest; bound what that may cost.
MAX_PEEK_BYTES = 1 << 30
_CACHE_KIND = "layer-index"
# Layer indexes kept in memory per source (least recently used dropped): a few MB each for big layers.
MEMORY_INDEXES = 32
TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"


class PeekFile(io.BytesIO):
    """A read-only, seekable file read from an image: `.size`, `.path`, `.layer`, `.verification`.

    Also `.requests` and `.bytes_moved`: what reading it cost on the wire (0 and 0 for a file
    served from a local layer copy made in the same call).
    """

    def __init__(self, data: bytes, *, path: str, layer: Descriptor, verification: str,
                 requests: int = 0, bytes_moved: int = 0, kind: str = ""):
        super().__init__(data)
        self.size = len(data)
        self.path = path
        self.layer = layer
        self.verification = verification
        self.requests = requests
        self.bytes_moved = bytes_moved
        self.kind = kind

    def writable(self) -> bool:
        """Read-only."""
        return False

    def write(self, *_a) -> int:
        """Read-only: always raises io.UnsupportedOperation."""
        raise io.UnsupportedOperation("PeekFile is read-only")

    def __repr__(self) -> str:
        return f"PeekFile({self.path!r}, size={self.size}, verification={self.verification!r})"

    def reopen(self) -> PeekFile:
        """A fresh file over the same verified bytes (position 0; nothing moved on the wire for it)."""
        return PeekFile(self.getbuffer().tobytes(), path=self.path, layer=self.layer,
                        verification=self.verification, kind=self.kind)


class _LayerView:
    """One layer's index as lookups: path -> entry, whiteouts, opaque directories."""

    def __init__(self, pos: int, desc: Descriptor, index: LayerIndex):
        self.pos, self.desc, self.index = pos, desc, index
        self.by_path: dict[str, IndexEntry] = {}
        self.whiteouts: set[str] = set()
        self.opaque: set[str] = set()
        for e in index.entries:
            if e.entry.whiteout == "file":
                self.whiteouts.add(e.entry.path)
            elif e.entry.whiteout == "opaque":
                self.opaque.add(e.entry.path)
            else:
                self.by_path[e.entry.path] = e
        # Tars may omit parent directories ("data/x" without "data"): they exist all the same.
        self.implicit: set[str] = set()
        for path in self.by_path:
            parent = posixpath.dirname(path)
            while parent and parent not in self.implicit:
                self.implicit.add(parent)
                parent = posixpath.dirname(parent)

    def hides(self, path: str) -> bool:
        """True when this layer's whiteouts hide `path` in the layers below."""
        p = path
        while True:
            if p in self.whiteouts:
                return True
            parent = posixpath.dirname(p) or "."
            if parent in self.opaque:
                return True
            if p == "." or parent == p:
                return False
            p = parent


class PeekMixin:
    """open_file / read_file / layer_index over `image`, `_fetch_to` and `_raw_blob` (see module docstring)."""

    def _peek_memory(self) -> OrderedDict:
        # Per source, also with cache=False: a second open_file of a layer never streams it again.
        mem = self.__dict__.get("_peek_indexes")
        if mem is None:
            mem = self.__dict__.setdefault("_peek_indexes", OrderedDict())
            self.__dict__.setdefault("_peek_lock", threading.Lock())
        return mem

    def cached_layer_index(self, layer_descriptor: Descriptor) -> LayerIndex | None:
        """The index of a layer if one is already known (memory or cache), without any request."""
        mem = self._peek_memory()
        with self._peek_lock:
            hit = mem.get(layer_descriptor.digest)
            if hit is not None:
                mem.move_to_end(layer_descriptor.digest)
        if hit is not None and hit.layer_size == layer_descriptor.size:
            return hit
        cache = getattr(self, "cache", None)
        raw = cache.get(_CACHE_KIND, layer_descriptor.digest) if cache is not None else None
        if raw is None:
            return None
        try:
            idx = LayerIndex.from_bytes(raw, layer_digest=layer_descriptor.digest)
        except InvalidManifest:
            cache.delete(_CACHE_KIND, layer_descriptor.digest)  # rebuilt, never used
            return None
        if idx.layer_size != layer_descriptor.size:
            return None
        self._keep_in_memory(idx)
        return idx

    def _keep_in_memory(self, index: LayerIndex) -> None:
        mem = self._peek_memory()
        with self._peek_lock:
            mem[index.layer_digest] = index
            mem.move_to_end(index.layer_digest)
            while len(mem) > MEMORY_INDEXES:
                mem.popitem(last=False)

    def _remember(self, index: LayerIndex) -> None:
        self._keep_in_memory(index)
        cache = getattr(self, "cache", None)
        if cache is not None:
            cache.put(_CACHE_KIND, index.layer_digest, index.to_bytes())

    def layer_index(self, ref, layer_descriptor: Descriptor, *, span: int = DEFAULT_SPAN, **limits) -> LayerIndex:
        """The `LayerIndex` of one layer: from memory or the cache, from its eStargz TOC, or built in one verified pass."""
        if span <= 0:
            raise ValueError("span must be a positive number of bytes")
        hit = self.cached_layer_index(layer_descriptor)
        if hit is not None and (hit.span == span or hit.kind == "estargz-toc"):
            return hit
        if not mt.is_layer(layer_descriptor.media_type or mt.OCI_LAYER_GZIP):
            raise InvalidManifest(f"{layer_descriptor.digest} is {layer_descriptor.media_type}, not a layer")
        idx = self._estargz_index(ref, layer_descriptor)
        if idx is None:
            idx = build_index(self, self.parse(ref), layer_descriptor, span=span, **limits)
        self._remember(idx)  # only now: build_index raised if the digest did not verify
        return idx

    def _estargz_index(self, ref, desc: Descriptor) -> LayerIndex | None:
        toc_digest = (desc.annotations or {}).get(TOC_ANNOTATION)
        if not toc_digest or mt.compression(desc.media_type) not in ("gzip", "unknown"):
            return None
        from .estargz import read_toc_index

        return read_toc_index(lambda a, b: self._range_bytes(ref, desc, a, b), desc, toc_digest)

    # -- byte ranges -------------------------------------------------------------------------

    def _range_bytes(self, ref, desc: Descriptor, start: int, end: int) -> bytes:
        """Exactly bytes [start, end) of a blob, or RangeRefused (noted in the trace)."""
        if getattr(self, "transport", None) is None:  # a local source: a plain file read
            with self._raw_blob(self.parse(ref), desc, offset=start) as raw:
                data = raw.read(end - start)
            if len(data) != end - start:
                raise RangeRefused(f"blob {desc.digest} is shorter than its descriptor")
            return data
        resp = self._blob_response(self.parse(ref), desc, headers={"Range": f"bytes={start}-{end - 1}"}, ok=(416,))
        try:
            reason = None
            parsed = content_range(resp.headers.get("Content-Range")) if resp.status == 206 else None
            if resp.status == 200:
                reason = "the registry ignored Range (200 with the whole blob)"
            elif resp.status == 416:
                reason = "the registry refused the Range (416)"
            elif parsed is None or parsed[0] != start or parsed[1] != end - 1 \
                    or (parsed[2] is not None and parsed[2] != desc.size):
                reason = f"Content-Range {resp.headers.get('Content-Range')!r} is not bytes {start}-{end - 1}/{desc.size}"
            if reason is None:
                data = resp.read_all(end - start, f"range of blob {desc.digest}")
                if len(data) != end - start:
                    reason = f"the 206 body has {len(data)} bytes, not {end - start}"
        finally:
            resp.close()
        if reason is not None:
            if getattr(resp, "exchange", None) is not None:
                resp.exchange.note = "range fallback: " + reason + "; streaming the verified layer instead"
            raise RangeRefused(reason)
        return data

    # -- files -----------------------------------------------------------------------------------

    def _layer_views(self, ref, platform, layer, span):
        manifest = self.image(ref, platform)
        pinned = manifest.reference or self.parse(ref)
        layers = list(manifest.layers)
        if layer is not None:
            if isinstance(layer, Descriptor):
                match = [i for i, d in enumerate(layers) if d.digest == layer.digest]
                if not match:
                    raise NotFound(f"layer {layer.digest} is not in {pinned}")
                positions = match[-1:]
            elif isinstance(layer, int) and not isinstance(layer, bool) and -len(layers) <= layer < len(layers):
                positions = [layer % len(layers)]
            else:
                raise ValueError(f"layer= must be a layer index within 0..{len(layers) - 1} or a Descriptor")
        else:
            positions = list(range(len(layers)))
        cache: dict[int, _LayerView] = {}

        def view(pos: int) -> _LayerView:
            if pos not in cache:
                cache[pos] = _LayerView(pos, layers[pos], self.layer_index(pinned, layers[pos], span=span))
            return cache[pos]

        return pinned, list(reversed(positions)), view

    def _lookup(self, path: str, order, view) -> tuple[IndexEntry, _LayerView] | None:
        for pos in order:
            v = view(pos)
            hit = v.by_path.get(path)
            if hit is None and path in v.implicit:
                hit = IndexEntry(Entry(path=path, type="dir", size=0, mode=0o755, uid=0, gid=0, mtime=0.0))
            if hit is not None:
                return hit, v
            if v.hides(path):
                return None
        return None

    def _resolve(self, path: str, order, view, what: str) -> tuple[IndexEntry, _LayerView]:
        queue = [p for p in normalize_path(path).split("/") if p != "."]
        done: list[str] = []
        hops = 0
        found = None
        while queue:
            comp = queue.pop(0)
            if comp == "..":
                if done:
                    done.pop()  # `..` at the root stays at the root: never outside the image
                continue
            cur = "/".join(done + [comp])
            found = self._lookup(cur, order, view)
            if found is None:
                raise NotFound(f"{what}: no {cur!r} in the image")
            entry = found[0].entry
            if entry.type == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise InvalidManifest(f"{what}: more than {MAX_SYMLINK_HOPS} symlinks (a loop)")
                target = entry.linkname
                if target.startswith("/"):
                    done = []
                queue = [p for p in target.split("/") if p not in ("", ".")] + queue
                found = None
                continue
            if queue and entry.type != "dir":
                raise NotFound(f"{what}: {cur!r} is a {entry.type}, not a directory")
            done.append(comp)
        if found is None:
            raise NotFound(f"{what}: {path!r} resolves to the image root, not a file")
        hit, v = found
        if hit.entry.type == "hardlink":  # the content lives at the link target, in the same layer
            target = v.by_path.get(normalize_path(hit.entry.linkname))
            if target is None or target.entry.type != "file":
                raise NotFound(f"{what}: hard link {hit.entry.path!r} -> {hit.entry.linkname!r} has no target")
            hit = target
        if hit.entry.type != "file":
            raise NotFound(f"{what}: {path!r} is a {hit.entry.type}, not a regular file")
        return hit, v

    def open_file(self, ref, path: str, *, platform=None, layer=None, span: int = DEFAULT_SPAN) -> PeekFile:
        """A read-only seekable file of the image (merged filesystem; or one layer with `layer=`), verified."""
        if not isinstance(path, str) or not path.strip():
            raise ValueError("path must be a non-empty string")
        pinned, order, view = self._layer_views(ref, platform, layer, span)
        hit, v = self._resolve(path, order, view, f"{pinned}")
        if hit.entry.size > MAX_PEEK_BYTES:
            from ..core.errors import TooLarge

            raise TooLarge(f"{hit.entry.path}", MAX_PEEK_BYTES, hit.entry.size, hint="; extract the layer instead")
        return self._read_hit(pinned, hit, v)

    def read_file(self, ref, path: str, *, platform=None, layer=None, limit: int | None = None,
                  span: int = DEFAULT_SPAN) -> bytes:
        """The bytes of one file of an image (all of them, verified; then cut to `limit` if given)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError("limit must be a non-negative integer")
        with self.open_file(ref, path, platform=platform, layer=layer, span=span) as f:
            return f.read() if limit is None else f.read(limit)

    def _read_hit(self, pinned, hit: IndexEntry, v: _LayerView) -> PeekFile:
        idx, desc = v.index, v.desc
        meta = dict(path=hit.entry.path, layer=desc, kind=idx.kind)
        if idx.kind != "stream-only":
            try:
                data, label, blob = read_entry_ranged(idx, hit, lambda a, b: self._range_bytes(pinned, desc, a, b))
                return PeekFile(data, verification=label, requests=blob.requests if blob else 0,
                                bytes_moved=blob.bytes_moved if blob else 0, **meta)
            except RangeRefused:
                pass  # noted in the trace; the verified stream below still gives the right bytes
        return PeekFile(self._stream_entry(pinned, desc, hit), verification="layer-digest", **meta)

    def _stream_entry(self, pinned, desc: Descriptor, hit: IndexEntry) -> bytes:
        """One file's bytes from a verified full stream of the layer (the digest checks before they are returned)."""
        import tempfile
        from pathlib import Path

        from ..layers.compress import decompressed

        with tempfile.TemporaryDirectory(prefix="rx-peek-") as tmp:
            local = self._fetch_to(pinned, desc, Path(tmp) / "layer", None)
            with open(local, "rb") as f:
                stream = decompressed(f, desc.media_type, f"layer {desc.digest}")
                _skip(stream, hit.offset)
                data = _read_n(stream, hit.entry.size)
        if len(data) != hit.entry.size:
            raise InvalidManifest(f"{hit.entry.path}: the layer ends before the file does")
        if hit.digest:
            from .ranged import _check

            _check(data, hit.digest, f"{hit.entry.path} in layer {desc.digest}")
        return data


def _skip(stream, n: int) -> None:
    while n > 0:
        chunk = stream.read(min(n, 1 << 20))
        if not chunk:
            return
        n -= len(chunk)


def _read_n(stream, n: int) -> bytes:
    parts = []
    while n > 0:
        chunk = stream.read(min(n, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)

