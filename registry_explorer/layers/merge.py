"""Merging listed layers: the final filesystem (whiteouts applied) and dive's wasted-space score.

Pure functions over `Entry` lists (no I/O): `merge_layers` follows the OCI layer spec's
whiteout rules, `efficiency` reproduces dive's score. Part of `layerfs` (which re-exports
these names).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .tar import WHITEOUT_PREFIX, Entry, _parent


class Placed(NamedTuple):
    """An entry of a merged filesystem with the layer that last wrote it."""

    entry: Entry
    layer_index: int
    layer_digest: str


# --- merging ---------------------------------------------------------------------------------


class PathTree:
    """Paths with payloads plus a parent -> children index, so removing a subtree is cheap."""

    def __init__(self):
        self.nodes: dict[str, Any] = {}
        self.kids: defaultdict[str, set[str]] = defaultdict(set)

    def set(self, path: str, payload: Any) -> None:
        """Set the node at `path` to `payload`, linking it under its parent (and parents a tar never wrote)."""
        p = path
        while p != ".":
            siblings = self.kids[_parent(p)]
            if p in siblings:
                break  # linked already, and so are its ancestors
            siblings.add(p)
            p = _parent(p)
        self.nodes[path] = payload

    def remove(self, path: str) -> None:
        """Remove `path` and everything below it."""
        self.remove_children(path)
        self.nodes.pop(path, None)
        siblings = self.kids.get(_parent(path)) if path != "." else None
        if siblings:
            siblings.discard(path)

    def remove_children(self, path: str) -> None:
        """Remove everything below `path`, keeping `path` itself."""
        stack = list(self.kids.pop(path, ()))
        while stack:
            p = stack.pop()
            self.nodes.pop(p, None)
            stack.extend(self.kids.pop(p, ()))

    def subtree(self, path: str) -> Iterator[Any]:
        """Payloads of `path` and its descendants."""
        stack = [path]
        while stack:
            p = stack.pop()
            if p in self.nodes:
                yield self.nodes[p]
            stack.extend(self.kids.get(p, ()))


def merge_layers(layers: Iterable[tuple[int, str, Iterable[Entry]]]) -> list[Placed]:
    """The final filesystem of stacked layers (base first), sorted by path, with who wrote what.

    Per the OCI layer spec, a layer's whiteouts apply to the layers below it only: a `.wh.x`
    removes x and everything under it; an opaque whiteout hides the lower contents of its
    directory, but not the entries of its own layer. Writing a non-directory over a directory
    removes the directory's contents, as extracting does (containerd's applier).
    """
    tree = PathTree()
    for index, digest, entries in layers:
        entries = list(entries)
        for e in entries:  # whiteouts first: they never hide entries of their own layer
            if e.whiteout == "file":
                tree.remove(e.path)
            elif e.whiteout == "opaque":
                tree.remove_children(e.path)
        for e in entries:
            if e.whiteout:
                continue
            if e.type != "dir" and e.path != "." and tree.kids.get(e.path):
                # A file or link over a directory - written, or only implied by a tar that omitted it -
                # removes what was under it, as extraction does (a non-directory has no children).
                tree.remove_children(e.path)
            tree.set(e.path, Placed(e, index, digest))
    return [tree.nodes[p] for p in sorted(tree.nodes)]


# --- wasted space, as dive computes it ---------------------------------------------------------


@dataclass(frozen=True)
class PathUsage:
    """dive's EfficiencyData for one path: every version of it across layers."""

    path: str
    count: int  # versions: writes, plus whiteouts that removed it
    total_size: int  # dive's CumulativeSize: bytes of all versions
    min_size: int  # dive's minDiscoveredSize: the smallest version (0 for a removal)
    layers: tuple[int, ...]

    @property
    def wasted_size(self) -> int:
        """What the efficiency score charges this path: total_size - min_size."""
        return self.total_size - self.min_size


@dataclass(frozen=True)
class Efficiency:
    """dive's image efficiency: the score, the inefficient paths and the byte totals."""

    score: float
    inefficient: list[PathUsage] = field(repr=False)  # paths with count > 1, most wasted first
    wasted_bytes: int  # dive's WastedBytes: sum of total_size over the inefficient paths
    total_bytes: int  # dive's SizeBytes: sum of entry sizes over all layers
    user_bytes: int  # dive's UserSizeBytes: the same without the first (base) layer
    discovered_bytes: int  # sum of total_size over every path: the score's denominator

    @property
    def wasted_user_ratio(self) -> float:
        """dive's WastedUserPercent (a ratio): wasted_bytes / user_bytes."""
        return self.wasted_bytes / self.user_bytes if self.user_bytes else 0.0


class _Node(NamedTuple):
    size: int
    is_dir: bool
    whiteout: bool = False


_IMPLICIT = _Node(0, False)  # dive's FileInfo{} for a parent directory the tar never listed


def _set_with_parents(tree: PathTree, path: str, node: _Node) -> None:
    """Set `node` at `path`, creating missing parents as dive does (an empty FileInfo)."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        p = "/".join(parts[:i])
        if p not in tree.nodes:
            tree.set(p, _IMPLICIT)
    tree.set(path, node)


def _dive_tree(entries: Iterable[Entry]) -> PathTree:
    """One layer as dive's FileTree: parents created implicitly, opaque markers dropped."""
    tree = PathTree()
    for e in entries:
        if e.path == "." and e.whiteout is None:
            continue  # dive skips the root entry
        if e.whiteout == "opaque":
            # dive's AddPath creates the parents, then refuses the `.wh..wh.` name itself.
            if e.path != "." and e.path not in tree.nodes:
                _set_with_parents(tree, e.path, _IMPLICIT)
            continue
        if e.whiteout == "file":
            parent, name = posixpath.split(e.path)
            _set_with_parents(tree, posixpath.join(parent, WHITEOUT_PREFIX + name), _Node(0, False, True))
        else:
            _set_with_parents(tree, e.path, _Node(e.size, e.type == "dir"))
    return tree


def _target(path: str) -> str:
    parent, name = posixpath.split(path)
    return posixpath.join(parent, name[len(WHITEOUT_PREFIX):])


def _children_first(tree: PathTree) -> Iterator[str]:
    """Paths in dive's VisitDepthChildFirst order: children by name, then the node."""
    out: list[str] = []
    stack: list[tuple[str, bool]] = [(c, False) for c in sorted(tree.kids.get(".", ()), reverse=True)]
    while stack:
        p, expanded = stack.pop()
        if expanded:
            out.append(p)
            continue
        stack.append((p, True))
        stack.extend((c, False) for c in sorted(tree.kids.get(p, ()), reverse=True))
    return iter(out)


def efficiency(layers: Sequence[Iterable[Entry]]) -> Efficiency:
    """dive's efficiency score and wasted bytes for layers listed base first (pure).

    Reproduces https://github.com/wagoodman/dive/blob/main/dive/filetree/efficiency.go
    (Efficiency) and dive/image/docker/analyzer.go (WastedBytes):

    * every leaf of each layer's own tree is a version of its path: its tar size, or for a
      whiteout the summed sizes under the removed path in the layers below *if it was a
      directory* (0 if it was a file);
    * score = sum over paths of min_size / sum over paths of total_size (1.0 if no bytes),
      i.e. 1 - sum(total_size - min_size) / sum(total_size);
    * wasted_bytes = sum of total_size over paths with more than one version.

    Like dive, opaque whiteouts are ignored and a deleted directory's files are not charged
    one by one. One deviation: dive stops visiting a layer at a whiteout of a path that does
    not exist below it; here that whiteout just counts 0 bytes.
    """
    usage: dict[str, list] = {}  # path -> [count, total, min, layers]
    stacked = PathTree()  # dive's StackTreeRange of the layers below the current one
    total_bytes = user_bytes = 0
    for index, entries in enumerate(layers):
        entries = list(entries)
        layer_bytes = sum(e.size for e in entries)
        total_bytes += layer_bytes
        if index:
            user_bytes += layer_bytes
        tree = _dive_tree(entries)
        order = list(_children_first(tree))
        for path in order:
            if tree.kids.get(path):
                continue  # dive visits leaves only
            node = tree.nodes[path]
            if node.whiteout:
                path = _target(path)
                below = stacked.nodes.get(path)
                size = sum(n.size for n in stacked.subtree(path)) if below is not None and below.is_dir else 0
            else:
                size = node.size
            u = usage.setdefault(path, [0, 0, size, []])
            u[0] += 1
            u[1] += size
            u[2] = min(u[2], size)
            u[3].append(index)
        for path in order:  # dive's FileTree.Stack: whiteouts remove, the rest overwrite payloads
            node = tree.nodes[path]
            if node.whiteout:
                stacked.remove(_target(path))
                continue
            _set_with_parents(stacked, path, node)
    discovered = sum(u[1] for u in usage.values())
    minimum = sum(u[2] for u in usage.values())
    score = minimum / discovered if discovered else 1.0
    inefficient = [PathUsage(p, u[0], u[1], u[2], tuple(u[3])) for p, u in usage.items() if u[0] > 1]
    inefficient.sort(key=lambda x: (-x.wasted_size, -x.total_size, x.path))
    return Efficiency(
        score=score,
        inefficient=inefficient,
        wasted_bytes=sum(x.total_size for x in inefficient),
        total_bytes=total_bytes,
        user_bytes=user_bytes,
        discovered_bytes=discovered,
    )
