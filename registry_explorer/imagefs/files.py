"""One image's merged filesystem as files: list it, stat it, read a file (whole or a byte range), verified.

This is the logic behind the front doors (the `docker://` fsspec filesystem, `rx cat`, `%rx cat`):
they only translate. Two ways to read a file, chosen in ONE place (`open_file` below):

* the source's own `open_file(ref, path, platform=)` (issue 12's layer index and ranged reads),
  when the source has one: a feature check, because that method is optional in `protocol.Source`;
* otherwise a verified stream: the file's layer is streamed once (`layerfs.iter_members`), the
  file's bytes are spooled aside, the rest of the layer is read so its digest is checked, and only
  then are the bytes handed out. A few verified files are kept (LRU), so the many small ranged
  reads of `pandas`/`dask` do not stream the layer again.

Listing uses `queries.image_entries` (the merged filesystem, whiteouts applied).
"""

from __future__ import annotations

import io
import posixpath
import tempfile
import threading
from collections import OrderedDict, defaultdict
from typing import Any

from ..core.errors import DigestMismatch, InvalidManifest, NotFound, RegistryExplorerError
from ..layers import IN_CHUNK, Placed, iter_members, normalize_path

# Verified files kept per image (the LRU of the stream fallback); each is spooled to disk past SPOOL_BYTES.
FILE_CACHE_ENTRIES = 8
SPOOL_BYTES = 16 << 20
# Linux's MAXSYMLINKS: a chain longer than this is a loop (or hostile).
MAX_SYMLINK_HOPS = 40


class PathNotFound(RegistryExplorerError, FileNotFoundError):
    """No such path in the image's merged filesystem (also FileNotFoundError, as fsspec and pandas expect)."""


class NotAFile(RegistryExplorerError, IsADirectoryError):
    """The path is a directory or a special file, which has no bytes to read."""


def open_file(source: Any, ref: Any, path: str, *, platform: Any = None) -> Any:
    """A read-only, seekable binary file of `path` in the image (see `ImageFiles.open`)."""
    return ImageFiles(source, ref, platform).open(path)


class ImageFiles:
    """The merged filesystem of one image (for `platform`), listed once and read verified."""

    def __init__(self, source: Any, ref: Any, platform: Any = None, *, cache_entries: int = FILE_CACHE_ENTRIES):
        self.source = source
        self.ref = source.parse(ref)
        self.platform = platform
        self._lock = threading.Lock()
        self._manifest = None
        self._nodes: dict[str, Placed] | None = None
        self._kids: dict[str, list[str]] = {}
        self._files: OrderedDict[tuple[str, str], _Spool] = OrderedDict()
        self._cache_entries = cache_entries

    # -- listing ---------------------------------------------------------------------------

    @property
    def manifest(self):
        """The image manifest (fetched once; pinned by digest for every later request)."""
        with self._lock:
            if self._manifest is None:
                self._manifest = self.source.image(self.ref, self.platform)
            return self._manifest

    def _index(self) -> dict[str, Placed]:
        if self._nodes is None:
            from ..sources.queries import image_entries

            manifest = self.manifest
            placed = image_entries(self.source, manifest.reference or self.ref, self.platform)
            nodes: dict[str, Placed] = {}
            kids: defaultdict[str, set[str]] = defaultdict(set)
            for p in placed:
                path = p.entry.path
                if path == "." or ".." in path.split("/"):  # '..' names nothing inside the image
                    continue
                nodes[path] = p
                # Parents a layer never wrote as entries still exist as directories (extraction makes them).
                while path != ".":
                    parent = posixpath.dirname(path) or "."
                    kids[parent].add(path)
                    path = parent
            with self._lock:
                self._kids = {k: sorted(v) for k, v in kids.items()}
                self._nodes = nodes
        return self._nodes

    def resolve(self, path: str) -> str:
        """`path` with every symlink followed inside the image (an absolute target starts at its root)."""
        nodes = self._index()
        parts = [p for p in normalize_path(path).split("/") if p != "."]
        done: list[str] = []
        hops = 0
        while parts:
            comp = parts.pop(0)
            if comp == "..":
                if done:
                    done.pop()  # at the root, '..' stays at the root, as in a chroot
                continue
            here = "/".join([*done, comp])
            node = nodes.get(here)
            if node is not None and node.entry.type == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise PathNotFound(f"{self.ref}: too many symlinks resolving {path!r} (a loop?)")
                target = node.entry.linkname
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            done.append(comp)
        return "/".join(done) or "."

    def info(self, path: str) -> dict[str, Any]:
        """name, size, type ('file' | 'directory' | 'other') and the entry's fields; symlinks are followed."""
        nodes = self._index()
        real = self.resolve(path)
        node = nodes.get(real)
        if node is None:
            if real == "." or real in self._kids:
                return {"name": normalize_path(path), "size": 0, "type": "directory"}
            raise PathNotFound(f"{self.ref}: no {path!r} in the image")
        e = node.entry
        if e.type == "hardlink":  # a hard link has its target's content (same layer)
            target = nodes.get(e.linkname)
            size = target.entry.size if target is not None else 0
        else:
            size = e.size if e.type == "file" else 0
        kind = {"file": "file", "hardlink": "file", "dir": "directory"}.get(e.type, "other")
        return {"name": normalize_path(path), "size": size, "type": kind, "entry_type": e.type, "mode": e.mode,
                "uid": e.uid, "gid": e.gid, "mtime": e.mtime, "layer_index": node.layer_index,
                "layer_digest": node.layer_digest, "target": real}

    def listdir(self, path: str = ".") -> list[str]:
        """The names of a directory's entries (full paths inside the image), sorted."""
        info = self.info(path)
        if info["type"] != "directory":
            raise NotADirectoryError(f"{path!r} is not a directory in {self.ref}")
        return list(self._kids.get(self.resolve(path), ()))

    # -- reading ----------------------------------------------------------------------------

    def open(self, path: str) -> Any:
        """A read-only, seekable file of `path`'s verified bytes: ranged when the source can, else streamed.

        The one feature check of the front doors: `open_file` (issue 12's layer index and Range
        reads) is optional in `protocol.Source`, so a source without it is read through a
        verified stream of the file's layer.
        """
        opener = getattr(self.source, "open_file", None)
        if callable(opener):
            return self._opened(opener, path)
        info = self.info(path)
        if info["type"] != "file":
            raise NotAFile(f"{path!r} is a {info['type']} in {self.ref}, not a file")
        spool = self._verified(info)
        return io.BufferedReader(_View(spool), buffer_size=IN_CHUNK)

    def _opened(self, opener: Any, path: str) -> Any:
        """`opener`'s file for `path`; verified in-memory files (`reopen()`) are kept in the LRU, so the
        many small ranged reads of pandas/dask cost one Range request, not one each."""
        key = ("open_file", normalize_path(path))
        with self._lock:
            hit = self._files.get(key)
            if hit is not None:
                self._files.move_to_end(key)
                return hit.reopen()
        try:
            f = opener(self.ref, path, platform=self.platform)
        except NotFound as exc:  # fsspec and pandas expect FileNotFoundError for a missing path
            raise PathNotFound(str(exc)) from None
        if callable(getattr(f, "reopen", None)) and getattr(f, "size", SPOOL_BYTES + 1) <= SPOOL_BYTES:
            with self._lock:
                self._files[key] = f
                while len(self._files) > self._cache_entries:
                    self._files.popitem(last=False)[1].close()
            return f.reopen()
        return f

    def read(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes of `path` from `start` to `end` (Python slice semantics), verified."""
        with self.open(path) as f:
            size = f.seek(0, io.SEEK_END)
            lo, hi, _ = slice(start, end).indices(size)
            f.seek(lo)
            return f.read(max(0, hi - lo))

    def _verified(self, info: dict[str, Any]) -> _Spool:
        member = info["target"]
        node = self._index()[member]
        if node.entry.type == "hardlink":
            member = node.entry.linkname
        key = (info["layer_digest"], member)
        with self._lock:
            hit = self._files.get(key)
            if hit is not None:
                self._files.move_to_end(key)
                return hit
        spool = self._stream(node.layer_index, member)
        with self._lock:
            self._files[key] = spool
            while len(self._files) > self._cache_entries:
                self._files.popitem(last=False)[1].close()
        return spool

    def _stream(self, layer_index: int, member: str) -> _Spool:
        """Stream one layer, keep `member`'s bytes, read to the end so the digest is checked, then return."""
        manifest = self.manifest
        desc = manifest.layers[layer_index]
        what = f"layer {desc.digest}"
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        found = False
        try:
            with self.source.open_blob(manifest.reference or self.ref, desc) as blob:
                for tar, tinfo in iter_members(blob, desc.media_type, what=what):
                    if not found and tinfo.isreg() and normalize_path(tinfo.name) == member:
                        src = tar.extractfile(tinfo)
                        while chunk := src.read(IN_CHUNK):
                            out.write(chunk)
                        found = True
                # iter_members read the blob to its end: the VerifyingReader checked the digest.
                if getattr(blob, "verified", True) is False:
                    raise DigestMismatch(desc.digest, "unverified", what=what)
        except BaseException:
            out.close()
            raise
        if not found:
            out.close()
            raise InvalidManifest(f"{what}: listed {member!r} but its content was not in the layer")
        return _Spool(out)


class _Spool:
    """A verified file's bytes (memory or disk), shared by every reader under a lock."""

    def __init__(self, f):
        self._f = f
        self._lock = threading.Lock()
        f.seek(0, io.SEEK_END)
        self.size = f.tell()

    def pread(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes at `offset`."""
        with self._lock:
            self._f.seek(offset)
            return self._f.read(n)

    def close(self) -> None:
        """Drop the bytes (readers still holding it get an error on their next read)."""
        with self._lock:
            self._f.close()


class _View(io.RawIOBase):
    """An independent read position over a `_Spool`: read-only and seekable."""

    def __init__(self, spool: _Spool):
        super().__init__()
        self._spool = spool
        self._pos = 0

    def readable(self) -> bool:
        """Always True."""
        return True

    def seekable(self) -> bool:
        """Always True."""
        return True

    def readinto(self, buf) -> int:
        """Fill `buf` from the current position."""
        data = self._spool.pread(self._pos, len(buf))
        buf[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (SEEK_SET, SEEK_CUR, SEEK_END)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._spool.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        """The current position."""
        return self._pos
