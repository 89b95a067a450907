"""Extract files from a layer safely: registry data never chooses where a file lands.

A hostile layer can name `/etc/passwd`, `../../x`, or a symlink `a -> /` followed by `a/x`.
Like Python's `tarfile` "data" filter (PEP 706) and containerd's archive code, every member
must stay inside the destination after resolving the links already written; anything else is
refused and reported. Extraction goes to a temporary directory beside the destination and is
moved into place only after the layer's digest checked out, so a corrupt download writes nothing.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from ..core.errors import DigestMismatch, RegistryExplorerError
from ..layers import IN_CHUNK, OPAQUE_WHITEOUT, WHITEOUT_PREFIX, iter_members

# Files get at most rwxr-xr-x: no setuid/setgid/sticky bits from a registry.
MODE_MASK = 0o755


class UnsafePath(RegistryExplorerError):
    """A layer member would land outside the destination (absolute path, '..' or a symlink escape)."""


@dataclass
class Extraction:
    """What `extract_layer` wrote, and what it refused (path -> reason)."""

    dest: Path
    written: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def check_member_path(name: str) -> str:
    """The member's path relative to the destination, or UnsafePath for absolute paths and '..'."""
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafePath(f"absolute path {name[:200]!r} in layer")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePath(f"path {name[:200]!r} climbs out with '..'")
    if not parts:
        raise UnsafePath(f"empty path {name[:200]!r}")
    return "/".join(parts)


def _inside(root: Path, target: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(target)]) == real_root


def extract_layer(client, ref, descriptor, dest: str | os.PathLike, *, paths: list[str] | None = None) -> Extraction:
    """Extract a layer (or only members matching the `paths` glob patterns) into `dest`, safely.

    Regular files, directories, and links that stay inside `dest` are written; absolute
    paths, '..', escaping symlinks, devices and whiteouts are refused and listed in `.refused`.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"extraction destination {dest} is not empty; choose a new or empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".rx-extract-", dir=dest.parent))
    result = Extraction(dest)
    try:
        with client.open_blob(ref, descriptor) as blob:
            for tar, info in iter_members(blob, descriptor.media_type, what=f"layer {descriptor.digest}"):
                _extract_one(tar, info, work, paths, result)
            while blob.read(IN_CHUNK):  # reach EOF so the digest is verified before anything moves
                pass
            if getattr(blob, "verified", True) is False:
                raise DigestMismatch(descriptor.digest, "unverified", what=f"layer {descriptor.digest}")
        if dest.exists():
            dest.rmdir()
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def _extract_one(tar: tarfile.TarFile, info: tarfile.TarInfo, root: Path, paths, result: Extraction) -> None:
    name = info.name
    try:
        rel = check_member_path(name)
    except UnsafePath as exc:
        result.refused[name] = str(exc)
        return
    base = rel.rsplit("/", 1)[-1]
    if base.startswith(WHITEOUT_PREFIX) or base == OPAQUE_WHITEOUT:
        result.refused[rel] = "whiteout (a deletion marker, not a file)"
        return
    if paths is not None and not any(fnmatch(rel, p) for p in paths):
        return
    target = root / rel
    # The parent must resolve inside root: a symlink written earlier must not redirect us.
    if not _inside(root, target.parent):
        result.refused[rel] = "its parent directory is a symlink that leads outside the destination"
        return
    # A layer may not fight the tree it builds: an entry under something that is not a directory, or
    # a file or symlink in place of a directory, would otherwise surface as raw OS errors.
    here = root
    for part in rel.split("/")[:-1]:
        here = here / part
        if os.path.lexists(here) and not here.is_dir():
            result.refused[rel] = f"its parent {here.relative_to(root).as_posix()!r} is not a directory in this layer"
            return
    if target.is_dir() and not target.is_symlink() and not info.isdir():
        result.refused[rel] = "it would replace a directory with a file or link"
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _inside(root, target.parent):
        result.refused[rel] = "its parent directory is a symlink that leads outside the destination"
        return
    if os.path.lexists(target) and not target.is_dir():
        target.unlink()  # a later layer entry replaces an earlier one
    if info.isdir():
        target.mkdir(exist_ok=True)
        os.chmod(target, (info.mode & MODE_MASK) | 0o700)
    elif info.isreg():
        src = tar.extractfile(info)
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out, IN_CHUNK)
        os.chmod(target, (info.mode & MODE_MASK) | 0o600)
    elif info.issym():
        link = info.linkname
        resolved = (root / link.lstrip("/")) if link.startswith("/") else (target.parent / link)
        if not _inside(root, resolved):
            result.refused[rel] = f"symlink to {link[:200]!r} leads outside the destination"
            return
        os.symlink(link if not link.startswith("/") else os.path.relpath(resolved, target.parent), target)
    elif info.islnk():
        try:
            src_rel = check_member_path(info.linkname)
        except UnsafePath as exc:
            result.refused[rel] = f"hard link: {exc}"
            return
        src = root / src_rel
        if not _inside(root, src) or not src.is_file():
            result.refused[rel] = f"hard link to {info.linkname[:200]!r}, which is not an extracted file"
            return
        os.link(src, target)
    else:
        result.refused[rel] = "device, fifo or other special file"
        return
    result.written.append(rel)
