"""What changed between two images, file by file, from their layer indexes alone (no file bytes are read).

Each image's merged filesystem is built from its layers' indexes (`peek`: known, from a TOC, or built in
one verified pass that also records every regular file's sha256), with the OCI whiteout rules of
`layers.merge.merge_layers`; so once both images' layers are indexed, a diff costs no blob request.

A path's state is what an extraction of the image would show (GNU tar, or `sources.extract`): its type,
size, mode, owner, symlink target and, for a regular file, the sha256 of its content. A hard link is a
regular file with its target's content (tar links name an earlier member of the same layer). Directories
that no layer lists but that hold listed paths exist as an extraction makes them (0755, root).

Every path whose state differs is a change, directories included, and a removed directory lists each
path under it: ``added``, ``removed``, ``type changed``, ``modified`` (a file's digest, a symlink's
target), ``metadata only`` (mode or owner). A changed mtime alone is not a change (rebuilds touch every
file); both mtimes are kept for the reader.
"""

from __future__ import annotations

import hashlib
import posixpath
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest
from ..core.models import Manifest
from ..layers import merge_layers, normalize_path
from ..peek.index import IndexEntry, LayerIndex
from ..peek.obtain import layer_index

__all__ = ["CHANGES", "FileState", "ImageState", "changes", "image_state"]

CHANGES = ("added", "removed", "type changed", "modified", "metadata only")
_EMPTY = "sha256:" + hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class FileState:
    """One path of a merged filesystem as an extraction shows it; `layer` wrote it (None: an implied directory)."""

    path: str
    type: str  # file (hard links too), dir, symlink, char, block, fifo, other
    size: int
    mode: int
    uid: int
    gid: int
    mtime: float
    linkname: str  # a symlink's target ('' otherwise)
    digest: str | None  # a regular file's sha256 (None for the rest; '' when the index does not know it)
    layer: int | None


@dataclass
class ImageState:
    """The merged filesystem of one image: `files` by path, the manifest and its pinned reference."""

    reference: str
    manifest: Manifest
    files: dict[str, FileState]


def _indexes(source: Any, pinned: Any, manifest: Manifest) -> dict[str, LayerIndex]:
    """Each distinct layer's index (known: no request), in parallel as `imagefs.listing` lists layers."""
    unique = list({d.digest: d for d in manifest.layers}.values())
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(source.workers, len(unique))), thread_name_prefix="rx-diff") as pool:
        # Each task runs in a copy of this context, so a cost meter around the call counts its requests.
        futures = {d.digest: pool.submit(copy_context().run, layer_index, source, pinned, d) for d in unique}
        return {digest: f.result() for digest, f in futures.items()}


def image_state(source: Any, ref: Any, platform: Any = None) -> ImageState:
    """The merged filesystem of an image with a content digest per regular file (see the module docstring)."""
    manifest = source.image(ref, platform)
    pinned = manifest.reference or source.parse(ref)
    for i, d in enumerate(manifest.layers):
        if d.media_type and not mt.is_layer(d.media_type):
            raise InvalidManifest(f"{pinned}: layer {i} is {d.media_type}, not a filesystem layer")
    indexes = _indexes(source, pinned, manifest)
    # A layer's own entries by path: a later tar member for one path wins, as extraction does.
    own: dict[str, dict[str, IndexEntry]] = {}
    for digest, idx in indexes.items():
        own[digest] = {e.entry.path: e for e in idx.entries if e.entry.whiteout is None}
    merged = merge_layers((i, d.digest, indexes[d.digest].files) for i, d in enumerate(manifest.layers))
    files: dict[str, FileState] = {}
    for p in merged:
        if p.entry.path == "." or ".." in p.entry.path.split("/"):
            continue  # the root is no change; '..' names nothing inside the image
        files[p.entry.path] = _state(p.entry.path, own[p.layer_digest].get(p.entry.path), p, own[p.layer_digest])
    for path in list(files):
        parent = posixpath.dirname(path)
        while parent and parent not in files:  # implied parents: what extracting a child creates
            files[parent] = FileState(parent, "dir", 0, 0o755, 0, 0, 0.0, "", None, None)
            parent = posixpath.dirname(parent)
    return ImageState(str(pinned), manifest, files)


def _state(path: str, ie: IndexEntry | None, placed: Any, layer: dict[str, IndexEntry]) -> FileState:
    e = placed.entry
    kind, size, digest, link = e.type, e.size, None, ""
    if kind == "hardlink":
        target = layer.get(normalize_path(e.linkname))
        kind = "file"
        size = target.entry.size if target is not None and target.entry.type == "file" else 0
        digest = _digest(target) if target is not None and target.entry.type == "file" else ""
    elif kind == "file":
        digest = _digest(ie) if ie is not None else ""
    elif kind == "symlink":
        link = e.linkname
    return FileState(path, kind, size, e.mode, e.uid, e.gid, e.mtime, link, digest, placed.layer_index)


def _digest(ie: IndexEntry | None) -> str:
    if ie is None:
        return ""
    if not ie.digest and ie.entry.size == 0:
        return _EMPTY  # TOCs leave out the digest of an empty file
    return ie.digest


def _change(a: FileState | None, b: FileState | None) -> str | None:
    if a is None:
        return "added"
    if b is None:
        return "removed"
    if a.type != b.type:
        return "type changed"
    if a.type == "file" and (a.digest != b.digest or not a.digest or a.size != b.size):
        return "modified"  # an unknown digest ('') is never taken for the same content
    if a.type == "symlink" and a.linkname != b.linkname:
        return "modified"
    if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid):
        return "metadata only"
    return None


def changes(a: ImageState, b: ImageState) -> list[tuple[str, str, FileState | None, FileState | None]]:
    """(path, change, state in a, state in b) for every path whose state differs, sorted by path."""
    out = []
    for path in sorted(set(a.files) | set(b.files)):
        x, y = a.files.get(path), b.files.get(path)
        change = _change(x, y)
        if change is not None:
            out.append((path, change, x, y))
    return out
