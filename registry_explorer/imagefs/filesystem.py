"""`ImageFS`: one image's merged filesystem as files - resolve, stat, list, read - for every door.

`read_file`/`open_file` on a source, `docker://`, `rx cat`, `%rx`, the Explorer's preview and the
listings all come here, so the same path gives the same bytes or the same error class at each
door: `PathNotFound` (also FileNotFoundError), `NotAFile` (also IsADirectoryError) for a directory
or a device, `SymlinkLoop` (ELOOP). Paths are resolved by the one resolver (`tree.py`) and read
by the one reader (`reader.py`); the listing is `listing.image_entries` over the same indexes.

The manifest is fetched once and every later request is pinned to its digest, so one ImageFS
never mixes two images even if the tag moves. Small verified files are kept (LRU): the many small
ranged reads of pandas/Dask cost one Range request, not one each.
"""

from __future__ import annotations

import contextlib
import posixpath
import tempfile
import threading
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

from ..core.errors import NotADirectory, NotFound, TooLarge
from ..core.models import Descriptor
from ..http.trace import metered
from ..layers import Placed, normalize_path
from ..peek.build import local_copy
from ..peek.index import DEFAULT_SPAN
from ..peek.obtain import layer_index
from .listing import image_entries
from .reader import MAX_PEEK_BYTES, PeekFile, read_entry
from .tree import LayerView, MergedView, Node

__all__ = ["FILE_CACHE_ENTRIES", "ImageFS", "SMALL_FILE_BYTES"]

# Verified small files kept per image (LRU), and what counts as small: pandas reads a CSV in many
# small ranged reads, and each would otherwise cost a Range request of its own.
FILE_CACHE_ENTRIES = 8
SMALL_FILE_BYTES = 16 << 20


class ImageFS:
    """The merged filesystem of one image (for `platform`; or of one layer with `layer=`), read verified."""

    def __init__(self, source: Any, ref: Any, platform: Any = None, *, layer: int | Descriptor | None = None,
                 span: int = DEFAULT_SPAN, cache_entries: int = FILE_CACHE_ENTRIES):
        self.source = source
        self.ref = source.parse(ref)
        self.platform = platform
        self.span = span
        self._layer = layer
        self._lock = threading.RLock()
        self._manifest = None
        self._views: dict[int, LayerView] = {}
        self._keep: Path | None = None  # during one read: where a full pass leaves its verified copy
        self._reading: contextlib.ExitStack | None = None  # during one read: what cleans that copy up
        self._placed: dict[str, Placed] | None = None
        self._kids: dict[str, list[str]] = {}
        self._files: OrderedDict[str, PeekFile] = OrderedDict()
        self._cache_entries = cache_entries

    def __repr__(self) -> str:
        return f"ImageFS({str(self.ref)!r}, platform={self.platform!r})"

    # -- the image -------------------------------------------------------------------------------

    @property
    def manifest(self):
        """The image manifest (fetched once; pinned by digest for every later request)."""
        with self._lock:
            if self._manifest is None:
                self._manifest = self.source.image(self.ref, self.platform)
            return self._manifest

    @property
    def pinned(self):
        """The reference pinned to the manifest's digest."""
        return self.manifest.reference or self.ref

    def _positions(self) -> list[int]:
        """Layer positions to look at, top first (one with `layer=`)."""
        layers = self.manifest.layers
        chosen = self._layer
        if chosen is None:
            return list(reversed(range(len(layers))))
        if isinstance(chosen, Descriptor):
            match = [i for i, d in enumerate(layers) if d.digest == chosen.digest]
            if not match:
                raise NotFound(f"layer {chosen.digest} is not in {self.pinned}")
            return match[-1:]
        if isinstance(chosen, int) and not isinstance(chosen, bool) and -len(layers) <= chosen < len(layers):
            return [chosen % len(layers)]
        raise ValueError(f"layer= must be a layer index within 0..{len(layers) - 1} or a Descriptor")

    def _view(self, pos: int) -> LayerView:
        with self._lock:
            hit = self._views.get(pos)
            if hit is None:
                desc = self.manifest.layers[pos]
                idx = layer_index(self.source, self.pinned, desc, span=self.span, keep=self._keep_dir(desc))
                hit = self._views[pos] = LayerView(pos, desc, idx)
            return hit

    def _keep_dir(self, desc: Descriptor) -> Path | None:
        """Where a full pass over `desc` made by this read keeps its copy: a temp dir, made only if a pass will be."""
        known = self.source.indexes.find(desc) if self._reading is not None else None
        if self._reading is None or (known is not None and (known.span == self.span or known.kind != "gzip-checkpoints")):
            return self._keep
        if self._keep is None:
            self._keep = Path(self._reading.enter_context(tempfile.TemporaryDirectory(prefix="rx-read-")))
        return self._keep

    def merged(self) -> MergedView:
        """The resolver over this image's layers."""
        return MergedView(self._positions(), self._view, str(self.pinned))

    # -- reading ----------------------------------------------------------------------------------

    def open(self, path: str) -> PeekFile:
        """A read-only seekable file of `path`'s verified bytes (symlinks and hard links followed)."""
        if not isinstance(path, str) or not path.strip():
            raise ValueError("path must be a non-empty string")
        with self._lock:
            key = normalize_path(path)
            hit = self._files.get(key)
            if hit is not None:
                self._files.move_to_end(key)
                return hit.reopen()
            with metered() as cost, contextlib.ExitStack() as stack:
                self._reading = stack  # a full pass made for this read leaves its verified copy in a temp dir
                try:
                    node = self.merged().content_node(path)
                    f = self._read(node, cost)
                finally:
                    self._reading = self._keep = None
            if f.size <= SMALL_FILE_BYTES:
                self._files[key] = f.reopen()  # later opens of it move nothing (and say so)
                while len(self._files) > self._cache_entries:
                    self._files.popitem(last=False)
            return f

    def _read(self, node: Node, cost) -> PeekFile:
        if node.entry.size > MAX_PEEK_BYTES:
            raise TooLarge(node.path, MAX_PEEK_BYTES, node.entry.size, hint="; extract the layer instead")
        v = node.layer
        local = local_copy(self._keep, v.desc) if self._keep is not None else None
        data, chain = read_entry(self.source, self.pinned, v.desc, v.index, node.index_entry, local)
        return PeekFile(data, path=node.entry.path, layer=v.desc, verification=chain, kind=v.index.kind,
                        requests=cost.requests, bytes_moved=cost.bytes_moved)

    def read_file(self, path: str, limit: int | None = None) -> bytes:
        """The bytes of one file (all of them, verified; then cut to `limit` if given)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError("limit must be a non-negative integer")
        with self.open(path) as f:
            return f.read() if limit is None else f.read(limit)

    def read(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes of `path` from `start` to `end` (Python slice semantics), verified."""
        with self.open(path) as f:
            lo, hi, _ = slice(start, end).indices(f.size)
            f.seek(lo)
            return f.read(max(0, hi - lo))

    # -- stat and listing -------------------------------------------------------------------------

    def info(self, path: str) -> dict[str, Any]:
        """name, size, type ('file' | 'directory' | 'other') and the entry's fields; symlinks are followed."""
        node = self.merged().resolve(path)
        name = normalize_path(path)
        if node.layer is None:
            return {"name": name, "size": 0, "type": "directory", "target": "."}
        e, size = node.entry, node.entry.size if node.entry.type == "file" else 0
        if e.type == "hardlink":  # a hard link has its target's content (same layer)
            target = node.layer.by_path.get(normalize_path(e.linkname))
            size = target.entry.size if target is not None else 0
        return {"name": name, "size": size, "type": node.kind, "entry_type": e.type, "mode": e.mode,
                "uid": e.uid, "gid": e.gid, "mtime": e.mtime, "layer_index": node.layer.pos,
                "layer_digest": node.layer.desc.digest, "target": node.path}

    def entries(self) -> dict[str, Placed]:
        """The merged listing: every path with the entry and layer that last wrote it (whiteouts applied)."""
        with self._lock:
            if self._placed is None:
                placed: dict[str, Placed] = {}
                kids: defaultdict[str, set[str]] = defaultdict(set)
                for p in image_entries(self.source, self.pinned, self.platform):
                    path = p.entry.path
                    if path == "." or ".." in path.split("/"):  # '..' names nothing inside the image
                        continue
                    placed[path] = p
                    while path != ".":  # parents a layer never wrote still exist as directories
                        parent = posixpath.dirname(path) or "."
                        kids[parent].add(path)
                        path = parent
                self._kids = {k: sorted(v) for k, v in kids.items()}
                self._placed = placed
            return self._placed

    def listdir(self, path: str = ".") -> list[str]:
        """The full paths of a directory's entries, sorted (symlinks to directories followed)."""
        info = self.info(path)
        if info["type"] != "directory":
            raise NotADirectory(f"{self.pinned}: {path!r} is a {info.get('entry_type', info['type'])}, not a directory")
        self.entries()
        return list(self._kids.get(info["target"], ()))
