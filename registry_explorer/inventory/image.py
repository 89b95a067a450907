"""What is installed in one image, and which layer installed it: the package databases read without pulling.

`installed(source, ref)` finds every package database in the image's merged listing (`ImageFS.entries`,
built from the layer indexes: no request once they are known), reads each one through the one image
filesystem (`ImageFS`, ranged reads through a verified index or a TOC; one verified pass at most per
layer that has no index yet) and parses it with the pure parsers of this folder.

Which layer installed a package (`layer`, counted from 0 as in `frames.layers`): the layers that wrote
the database's path are read top first, each from its own copy (`ImageFS(..., layer=i)`), down to the
first layer that hides the path (a whiteout, an opaque directory, a file written over a directory):

* a whole-file database (dpkg ``status``, ``rpmdb.sqlite``, apk ``installed``) is rewritten by every
  layer that changes it: a package's layer is the lowest copy of the unbroken run, from the top, of
  copies listing that (name, version, architecture). A package removed in one layer and installed
  again later is attributed to the later layer, as is an upgrade. Copies with the same content digest
  (from the index) are read once.
* a one-file-per-package database (distroless ``status.d/<name>``, ``*.dist-info/METADATA``,
  ``node_modules/<name>/package.json``, jars) is attributed to the lowest layer of the unbroken run of
  writers of that file with the same content digest: the layer that put this version there.

A database that cannot be read (rpm's Berkeley DB or ndb, a damaged file, a read that failed) is an
entry of `.errors`, never a failure of the whole call. What it cost is measured (`http.trace.metered`).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core import mediatypes as mt
from ..core.errors import RegistryExplorerError, TooLarge
from ..core.models import ImageConfig, Manifest
from ..http.trace import metered
from ..imagefs.filesystem import ImageFS
from ..imagefs.tree import LayerView
from ..layers import Placed
from ..peek.index import IndexEntry
from ..peek.obtain import layer_index
from . import (
    DATABASE_PATTERNS,
    PackageRecord,
    UnsupportedDatabase,
    apk,
    distinct_per_site,
    dpkg,
    ecosystems,
    parser_for,
    python_dists,
    rpmdb,
)
from .dpkg import is_status_d

__all__ = ["ECOSYSTEMS", "MAX_DATABASE_FILES", "Installed", "installed"]

ECOSYSTEMS = tuple(dict.fromkeys(e for e, _, _ in DATABASE_PATTERNS))
# Database files read for one image: a big Node.js application has ~5,000 package.json files; each is a
# read (a Range request once the layer is indexed), so a hostile image naming millions is refused.
MAX_DATABASE_FILES = 100_000
# Databases rewritten whole by each layer that changes them (the rest is one file per package).
_WHOLE_FILE = ("rpm", "apk")
_ERROR_FIELDS = ("database", "layer", "ecosystem", "error", "format", "message")


def size_limit(ecosystem: str) -> int:
    """The largest database file of `ecosystem` its parser reads (checked before a byte of it is fetched)."""
    return {"deb": dpkg.MAX_TEXT_DATABASE_BYTES, "apk": apk.MAX_TEXT_DATABASE_BYTES, "rpm": rpmdb.MAX_RPMDB_BYTES,
            "python": python_dists.MAX_METADATA_BYTES, "npm": ecosystems.MAX_METADATA_BYTES,
            "java": ecosystems.MAX_ARCHIVE_BYTES}[ecosystem]


@dataclass(frozen=True)
class Found:
    """One installed package and the layer that installed it."""

    record: PackageRecord
    layer: int | None


@dataclass
class Installed:
    """The packages of one image (`.found`), the databases read, what could not be read, and the cost.

    `errors` are dicts (database, layer, ecosystem, error, format, message); `databases` are dicts (path,
    ecosystem, layers read, packages); `requests` and `bytes_moved` are what the whole call moved on the
    wire (as a proxy counts it); `pull_bytes` is the compressed size of the image's layers (what a pull
    would move).
    """

    reference: str
    digest: str
    manifest: Manifest
    config: ImageConfig | None
    found: list[Found] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    databases: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bytes_moved: int = 0
    pull_bytes: int = 0


def installed(source: Any, ref: Any, platform: Any = None, *, ecosystems: Iterable[str] | None = None) -> Installed:
    """The installed packages of an image (see the module docstring); `ecosystems` limits what is read."""
    wanted = _ecosystems(ecosystems)
    with metered() as cost:
        fs = ImageFS(source, ref, platform)
        manifest = fs.manifest
        out = Installed(str(fs.pinned), manifest.digest, manifest, None,
                        pull_bytes=sum(max(d.size, 0) for d in manifest.layers))
        if manifest.config is not None and mt.is_config(manifest.config.media_type):
            out.config = source.config(manifest)
        _Reader(source, fs, out, wanted).run()
    out.requests, out.bytes_moved = cost.requests, cost.bytes_moved
    return out


def _ecosystems(ecosystems: Iterable[str] | None) -> tuple[str, ...]:
    if ecosystems is None:
        return ECOSYSTEMS
    chosen = (ecosystems,) if isinstance(ecosystems, str) else tuple(ecosystems)
    bad = [e for e in chosen if e not in ECOSYSTEMS]
    if bad:
        raise ValueError(f"unknown ecosystems {bad}; choose from {list(ECOSYSTEMS)}")
    return chosen


class _Reader:
    """One `installed` call: the merged listing, each layer's view and filesystem, the records read."""

    def __init__(self, source: Any, fs: ImageFS, out: Installed, wanted: tuple[str, ...]):
        self.source, self.fs, self.out, self.wanted = source, fs, out, wanted
        self.pinned = fs.pinned
        self._views: dict[int, LayerView] = {}
        self._layer_fs: dict[int, ImageFS] = {}
        self._read: dict[tuple[int, str], bytes | RegistryExplorerError] = {}  # (layer, path) read in a batch

    # -- layers ------------------------------------------------------------------------------------

    def view(self, pos: int) -> LayerView:
        """Layer `pos`'s index as lookups (the listing already built or loaded it: no request)."""
        if pos not in self._views:
            desc = self.out.manifest.layers[pos]
            self._views[pos] = LayerView(pos, desc, layer_index(self.source, self.pinned, desc))
        return self._views[pos]

    def layer_fs(self, pos: int) -> ImageFS:
        """The filesystem of layer `pos` alone: it reads that layer's own copy of a path."""
        if pos not in self._layer_fs:
            self._layer_fs[pos] = ImageFS(self.source, self.pinned, layer=pos)
        return self._layer_fs[pos]

    def writers(self, path: str, top: int) -> list[tuple[int, IndexEntry]]:
        """(layer, entry) of each layer that wrote `path`, from `top` down to the first layer hiding it below."""
        out = []
        for pos in range(top, -1, -1):
            view = self.view(pos)
            hit = view.entry(path)  # None where a later non-directory of the same layer removed it
            if hit is not None and hit.entry.type in ("file", "hardlink"):
                out.append((pos, hit))
            if view.hides(path) or (hit is not None and hit.entry.type not in ("file", "hardlink")):
                break
        return out

    def size_of(self, pos: int, entry: IndexEntry) -> int:
        """A layer's file size (a hard link's target's in the same layer)."""
        if entry.entry.type == "hardlink":
            target = self.view(pos).by_path.get(entry.entry.linkname)
            return target.entry.size if target is not None else 0
        return entry.entry.size

    def digest_of(self, pos: int, entry: IndexEntry) -> str:
        """The content digest of a layer's file (a hard link's target in the same layer), '' if unknown."""
        if entry.entry.type == "hardlink":
            target = self.view(pos).by_path.get(entry.entry.linkname)
            return target.digest if target is not None else ""
        return entry.digest

    # -- the run -------------------------------------------------------------------------------------

    def run(self) -> None:
        placed = self.fs.entries()
        dbs = []
        for path, ecosystem, parser, place in self.candidates(placed):
            writers = self.writers(path, place.layer_index)
            if not writers:  # the listing and the layer's own index disagree: read what the listing says
                writers = [(place.layer_index, IndexEntry(place.entry))]
            size, limit = self.size_of(*writers[0]), size_limit(ecosystem)
            if size > limit:  # refused from the index's size: a hostile database costs no download
                self.error(path, writers[0][0], ecosystem, "TooLarge", None,
                           f"{path} is {size} bytes, more than the {limit} its parser reads; not read")
                continue
            dbs.append((path, ecosystem, parser, writers))
        # Every database's top copy, read layer by layer: close files share Range requests (read_files).
        by_layer: dict[int, list[str]] = {}
        for path, _, _, writers in dbs:
            by_layer.setdefault(writers[0][0], []).append(path)
        for pos, paths in by_layer.items():
            self._read.update({(pos, p): data for p, data in self.layer_fs(pos).read_files(paths).items()})
        python: list[tuple[PackageRecord, int | None]] = []
        for path, ecosystem, parser, writers in dbs:
            found = self.database(path, ecosystem, parser, writers)
            if ecosystem == "python":
                python.extend(found)
            else:
                self.out.found.extend(Found(r, layer) for r, layer in found)
        layer_of = {id(r): layer for r, layer in python}
        self.out.found.extend(Found(r, layer_of[id(r)]) for r in distinct_per_site([r for r, _ in python]))

    def candidates(self, placed: dict[str, Placed]) -> list[tuple[str, str, Any, Placed]]:
        """(real path, ecosystem, parser, placed entry) of every database file of the merged filesystem."""
        out: dict[str, tuple[str, str, Any, Placed]] = {}
        merged = None
        for path, p in placed.items():
            found = parser_for(path)
            if found is None or found[0] not in self.wanted:
                continue
            real = path
            if p.entry.type == "symlink":  # a database reached through a link: read (and name) its target once
                merged = merged or self.fs.merged()
                try:
                    node = merged.resolve(path)
                except RegistryExplorerError:
                    continue
                if node.layer is None or node.entry.type not in ("file", "hardlink"):
                    continue
                real, p = node.path, placed.get(node.path, Placed(node.entry, node.layer.pos, node.layer.desc.digest))
            elif p.entry.type not in ("file", "hardlink"):
                continue  # an *.egg-info directory: its PKG-INFO is the database
            out.setdefault(real, (real, found[0], found[1], p))
        rows = [c for c in out.values() if not self._superseded(c[0], c[1], out)]
        if len(rows) > MAX_DATABASE_FILES:
            raise TooLarge(f"{self.pinned}: package database files", MAX_DATABASE_FILES, len(rows),
                           hint="; pass ecosystems= to read fewer kinds")
        self._wal_warnings(placed, [r[0] for r in rows if r[1] == "rpm"])
        return sorted(rows)

    @staticmethod
    def _superseded(path: str, ecosystem: str, found: dict) -> bool:
        """rpm reads one backend: a Packages (bdb) or Packages.db (ndb) left beside an rpmdb.sqlite is not read."""
        return ecosystem == "rpm" and not path.endswith(".sqlite") and \
            posixpath.join(posixpath.dirname(path), "rpmdb.sqlite") in found

    def _wal_warnings(self, placed: dict[str, Placed], paths: list[str]) -> None:
        # rpm opens rpmdb.sqlite in WAL mode; SQLite folds the WAL into the file when the last connection
        # closes. A non-empty -wal means rpm did not close it: what was written since is not in the file.
        for path in paths:
            wal = placed.get(path + "-wal")
            if wal is not None and wal.entry.type == "file" and wal.entry.size > 0:
                self.error(path, wal.layer_index, "rpm", "UncheckpointedWal", "sqlite-wal",
                           f"{path}-wal holds {wal.entry.size} bytes rpm did not fold into {path}: packages "
                           "installed or removed since its last checkpoint are not listed")

    def error(self, path: str, layer: int | None, ecosystem: str, error: str, fmt: str | None, message: str) -> None:
        self.out.errors.append(dict(zip(_ERROR_FIELDS, (path, layer, ecosystem, error, fmt, message))))

    def parse(self, pos: int, path: str, ecosystem: str, parser) -> list[PackageRecord] | None:
        """The records of layer `pos`'s copy of `path`; None (and an `.errors` entry) if it cannot be read."""
        try:
            data = self._read.pop((pos, path), None)
            if isinstance(data, RegistryExplorerError):
                raise data
            return parser(data if data is not None else self.layer_fs(pos).read_file(path), path)
        except UnsupportedDatabase as exc:
            self.error(path, pos, ecosystem, type(exc).__name__, exc.format, str(exc))
        except RegistryExplorerError as exc:
            self.error(path, pos, ecosystem, type(exc).__name__, None, str(exc))
        return None

    def database(self, path: str, ecosystem: str, parser, writers) -> list[tuple[PackageRecord, int | None]]:
        """The records of one database with the layer that installed each (see the module docstring)."""
        top_pos = writers[0][0]
        records = self.parse(top_pos, path, ecosystem, parser)
        info = {"path": path, "ecosystem": ecosystem, "layers_read": [top_pos], "packages": 0}
        self.out.databases.append(info)
        if records is None:
            return []
        info["packages"] = len(records)
        if ecosystem in _WHOLE_FILE or (ecosystem == "deb" and not is_status_d(path)):
            layers = self._whole_file(path, ecosystem, parser, writers, records, info)
        else:
            layers = [self._same_file(writers)] * len(records)
        return list(zip(records, layers))

    def _same_file(self, writers: list[tuple[int, IndexEntry]]) -> int:
        """The lowest layer of the unbroken run of writers with the top copy's content digest."""
        top_digest = self.digest_of(*writers[0])
        layer = writers[0][0]
        for pos, entry in writers[1:]:
            if not top_digest or self.digest_of(pos, entry) != top_digest:
                break
            layer = pos
        return layer

    def _whole_file(self, path, ecosystem, parser, writers, records, info) -> list[int]:
        """Each record's layer: the lowest copy of the unbroken run (from the top) of copies listing it."""
        keys = [(r.name, r.version, r.architecture) for r in records]
        layer_of = dict.fromkeys(keys, writers[0][0])
        alive = set(keys)
        previous_digest, previous = self.digest_of(*writers[0]), Counter(keys)
        for pos, entry in writers[1:]:
            if not alive:
                break
            digest = self.digest_of(pos, entry)
            if not digest or digest != previous_digest:
                if self.size_of(pos, entry) > size_limit(ecosystem):
                    break  # a lower copy too large to read: attribution stops at the copy above it
                lower = self.parse(pos, path, ecosystem, parser)
                if lower is None:
                    break  # an unreadable lower copy: attribution stops at the copy above it
                info["layers_read"].append(pos)
                previous = Counter((r.name, r.version, r.architecture) for r in lower)
            previous_digest = digest
            for key in list(alive):
                if key in previous:
                    layer_of[key] = pos
                else:
                    alive.discard(key)
        return [layer_of[k] for k in keys]
