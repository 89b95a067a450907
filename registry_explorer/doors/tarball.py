"""The merged filesystem of an image as one tar stream: what `rx export REF -` writes (`crane export`).

The listing is `ImageFS.entries()` (whiteouts and opaque directories already applied, `..`
dropped) and every file's bytes come from `ImageFS.open()`, verified against the layer's digest
or a verified index: this module never reads a layer itself. Names are the image's own paths,
relative and normalised (`./a//b/` -> `a/b`), so no member can name anything outside the
directory it is extracted into, whatever the layers said. Entries are written in path order,
which puts every directory before what it holds, and hard links last, so that their targets
precede them (`tar -x` links to a member it has already extracted).

A hard link stays a hard link when its target is a regular file of the merged filesystem;
otherwise (its target whited out, or not a file) it is written as a regular file with the
content it resolves to, which `tar -x` turns into the same file.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any, BinaryIO

from ..imagefs.filesystem import ImageFS
from ..layers import normalize_path

__all__ = ["write_image_tar"]

_TYPES = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "char": tarfile.CHRTYPE,
          "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


def _info(path: str, entry: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.mode = entry.mode & 0o7777
    info.uid, info.gid = max(0, entry.uid), max(0, entry.gid)
    info.mtime = entry.mtime if entry.mtime and entry.mtime > 0 else 0
    return info


def write_image_tar(fs: ImageFS, out: BinaryIO) -> int:
    """Write every entry of `fs` to `out` as a POSIX (pax) tar stream; returns how many were written."""
    placed = fs.entries()
    files: set[str] = set()  # regular files already in the stream: hard links may point at them
    count = 0
    order = sorted(placed, key=lambda p: (placed[p].entry.type == "hardlink", p))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in order:
            entry = placed[path].entry
            info = _info(path, entry)
            data = None
            if entry.type in _TYPES:
                info.type = _TYPES[entry.type]
                if entry.type == "symlink":
                    info.linkname = entry.linkname  # kept as the layer wrote it: a link is data, not a path we follow
            elif entry.type == "hardlink" and normalize_path(entry.linkname) in files:
                info.type, info.linkname = tarfile.LNKTYPE, normalize_path(entry.linkname)
            elif entry.type in ("file", "hardlink"):
                with fs.open(path) as f:  # verified bytes (a hard link's are its target's)
                    data = f.read()
                info.size = len(data)
                files.add(path)
            else:
                continue  # a type tar cannot express: nothing to write
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
            count += 1
    return count

