"""The merged view of an image's layers, and the one symlink resolver of the package.

Layers are looked at top first and only as far down as a path needs (reading a file of the top
layer never lists the base layer). The rules are the OCI layer spec's
(https://github.com/opencontainers/image-spec/blob/main/layer.md), as `layers.merge.merge_layers`
applies them to whole listings (a property test checks the two agree):

* a layer's own entries win over its whiteouts (whiteouts apply to the layers below only);
* `.wh.x` hides `x` and everything under it below; `.wh..wh..opq` hides a directory's lower contents;
* a non-directory written over a directory hides what the lower layers had under it;
* a tar may omit parent directories (`data/x` without `data`): they exist all the same.

Resolving a path follows symlinks inside the image only, as a chroot would: `..` at the root stays
at the root, an absolute target restarts at the image root, a relative one at the link's directory,
and more than `MAX_SYMLINK_HOPS` links is a loop (`SymlinkLoop`, Linux's ELOOP). A hard link has
the content of its target in the same layer (tar links name an earlier member of the same archive).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import NotAFile, PathNotFound, SymlinkLoop
from ..core.models import Descriptor
from ..layers.merge import PathTree
from ..layers.tar import Entry, normalize_path
from ..peek.index import IndexEntry, LayerIndex

__all__ = ["MAX_SYMLINK_HOPS", "LayerView", "MergedView", "Node"]

# Linux's MAXSYMLINKS (fs/namei.c): more hops than this is a loop (ELOOP).
MAX_SYMLINK_HOPS = 40


class _ByPath(Mapping):
    """A layer's own entries by path (whiteouts excluded; a later member wins), looked up in its index."""

    def __init__(self, index: LayerIndex):
        self._index = index

    def __getitem__(self, path: str) -> IndexEntry:
        hit = self._index.find(path)
        if hit is None:
            raise KeyError(path)
        return hit

    def __iter__(self):
        return iter({p: None for p, e in zip(self._index.paths(), self._index.marks()) if not e})

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _replay(index: LayerIndex) -> tuple[dict[str, IndexEntry], set[str]]:
    """(path -> entry, paths written as non-directories) of a layer, replayed in archive order (layers/merge.py)."""
    own, replaced = PathTree(), set()
    for e in index.entries:
        if e.entry.whiteout is not None:
            continue
        if e.entry.type != "dir" and e.entry.path != ".":  # the root is a directory whatever a tar says
            replaced.add(e.entry.path)  # what the layers below had under it is gone
            if own.kids.get(e.entry.path):
                own.remove_children(e.entry.path)  # a later non-directory replaces what was under it
        own.set(e.entry.path, e)  # a later member for the same path wins, as extraction does
    return own.nodes, replaced


class LayerView:
    """One layer's index as lookups: path -> entry, whiteouts, opaque directories, implied directories.

    Lookups go to the index itself (no copy of its entries): a warm read of one file in a layer of
    6,000 makes one entry, not 6,000; the implied directories are worked out only when a path is
    not in the layer itself.
    """

    def __init__(self, pos: int, desc: Descriptor, index: LayerIndex):
        self.pos, self.desc, self.index = pos, desc, index
        self.whiteouts = index.marked("file")
        self.opaque = index.marked("opaque")
        # A tar that writes one path twice is replayed in archive order by the merge's own rules (rare:
        # real tools write each path once); otherwise every lookup goes straight to the index.
        self._replayed = _replay(index) if index.repeats_a_path() else None
        self.by_path: Mapping[str, IndexEntry] = self._replayed[0] if self._replayed else _ByPath(index)

    @property
    def implied(self) -> set[str]:
        """Directories that only exist because a path under them does (a tar may omit them)."""
        return self.index.implied()

    def entry(self, path: str) -> IndexEntry | None:
        """This layer's own entry for `path` (None for a directory it only implies: see `implies`)."""
        if self._replayed:
            return self._replayed[0].get(path)
        i = self.index.position(path)
        if i is None:
            return None
        parent = posixpath.dirname(path)
        while parent:  # an ancestor the layer wrote LATER as a non-directory removed it (extraction order)
            j = self.index.position(parent)
            if j is not None and j > i and self.index.row(j).entry.type != "dir":
                return None
            parent = posixpath.dirname(parent)
        return self.index.row(i)

    def implies(self, path: str) -> bool:
        """True when this layer writes something under `path` without writing `path` itself."""
        return path in self.implied and self.entry(path) is None

    def _replaced(self, path: str) -> bool:
        """True when this layer wrote `path` as a non-directory (at any point of its tar); never the root."""
        if path == ".":
            return False
        if self._replayed:
            return path in self._replayed[1]
        hit = self.index.find(path)
        return hit is not None and hit.entry.type != "dir"

    def hides(self, path: str) -> bool:
        """True when this layer hides `path` in the layers below it."""
        p = path
        while p != ".":
            if p in self.whiteouts:
                return True
            parent = posixpath.dirname(p) or "."
            if parent in self.opaque:
                return True
            if self._replaced(parent):
                return True  # a file or link written over a directory replaces what was under it
            p = parent
        return False


@dataclass(frozen=True)
class Node:
    """A resolved path: the entry that answers for it and the layer it lives in (`layer` None for the root)."""

    path: str
    entry: Entry
    index_entry: IndexEntry | None
    layer: LayerView | None

    @property
    def kind(self) -> str:
        """'file' | 'directory' | 'other' (fsspec's vocabulary; a hard link is a file)."""
        return {"file": "file", "hardlink": "file", "dir": "directory"}.get(self.entry.type, "other")


_ROOT = Entry(path=".", type="dir", size=0, mode=0o755, uid=0, gid=0, mtime=0.0)


class MergedView:
    """The merged filesystem of layers `order` (top first), each `LayerView` made on demand by `view(pos)`."""

    def __init__(self, order: Sequence[int], view: Callable[[int], LayerView], name: str):
        self._order = list(order)
        self._view = view
        self.name = name  # how errors name the image

    def lookup(self, path: str) -> tuple[IndexEntry, LayerView] | None:
        """The entry answering for `path` (no symlink followed), or None when no layer has it or one hides it.

        A directory a layer only implies (its tar omitted it) exists, but with the metadata of the
        nearest layer below that wrote it, if one did: extraction makes it once and keeps it.
        """
        implied_by: LayerView | None = None
        for pos in self._order:
            v = self._view(pos)
            hit = v.entry(path)
            if hit is not None and (implied_by is None or hit.entry.type == "dir"):
                return hit, v
            if hit is not None or v.hides(path):
                break
            if implied_by is None and v.implies(path):
                implied_by = v
        if implied_by is None:
            return None
        synthetic = IndexEntry(Entry(path=path, type="dir", size=0, mode=0o755, uid=0, gid=0, mtime=0.0))
        return synthetic, implied_by

    def resolve(self, path: str, *, follow: bool = True) -> Node:
        """The node `path` names, following symlinks inside the image (the last one too unless `follow` is False)."""
        if not isinstance(path, str):
            raise ValueError("path must be a string")
        queue = [p for p in normalize_path(path).split("/") if p != "."]
        done: list[str] = []
        hops = 0
        found: tuple[IndexEntry, LayerView] | None = None
        while queue:
            comp = queue.pop(0)
            if comp == "..":
                if done:
                    done.pop()  # `..` at the root stays at the root: never outside the image
                found = None
                continue
            here = "/".join([*done, comp])
            found = self.lookup(here)
            if found is None:
                raise PathNotFound(f"{self.name}: no {here!r} in the image (resolving {path!r})")
            entry = found[0].entry
            if entry.type == "symlink" and (queue or follow):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise SymlinkLoop(f"{self.name}: more than {MAX_SYMLINK_HOPS} symlinks resolving {path!r} "
                                      "(a loop)")
                if entry.linkname.startswith("/"):
                    done = []
                queue = [p for p in entry.linkname.split("/") if p not in ("", ".")] + queue
                found = None
                continue
            if queue and entry.type != "dir":
                raise PathNotFound(f"{self.name}: {here!r} is a {entry.type}, not a directory (resolving {path!r})")
            done.append(comp)
        real = "/".join(done) or "."
        if found is None:  # the root, or a path that came back to a directory through `..`
            if real == ".":
                return Node(".", _ROOT, None, None)
            found = self.lookup(real)
            if found is None:
                raise PathNotFound(f"{self.name}: no {real!r} in the image (resolving {path!r})")
        return Node(real, found[0].entry, found[0], found[1])

    def content_node(self, path: str) -> Node:
        """The node whose bytes `path` has: symlinks followed, a hard link taken to its target; NotAFile else."""
        node = self.resolve(path)
        if node.entry.type == "hardlink":
            target = node.layer.by_path.get(normalize_path(node.entry.linkname)) if node.layer else None
            if target is None or target.entry.type != "file":
                raise PathNotFound(f"{self.name}: hard link {node.path!r} -> {node.entry.linkname!r} has no "
                                   "regular file as its target in its layer")
            node = Node(node.path, target.entry, target, node.layer)
        if node.entry.type != "file":
            what = "a directory" if node.entry.type == "dir" else f"a {node.entry.type}"
            raise NotAFile(f"{self.name}: {path!r} is {what}, not a regular file")
        return node
