"""The Files tab as dive shows it: the merged filesystem as a tree, each entry marked by what its layer did.

Pure functions over listed layers (`imagefs.listing`: `(index, digest, entries)` base first), no I/O
and no ipywidgets, so the tree is tested headless:

- the **merged** view is the whole image; each entry is *added* (its path first appears in the layer
  that wrote it) or *modified* (that layer wrote over a path from a lower layer);
- a **layer** view is the filesystem of layers 0..i, with what layer i did marked against the layers
  below: added, modified, and *removed* (its whiteouts: the removed paths are shown, struck out);
  everything else is unchanged;
- wasted space is dive's (`layers.merge.efficiency`): paths with several versions across layers.

Directories are expanded on demand (`rows(open)`), and a folder shows at most `page` children at a
time, so a layer of 100,000 entries costs a handful of rows until the user opens what they want.
"""

from __future__ import annotations

import posixpath
import stat
from dataclasses import dataclass, field
from typing import Any

from ..core.units import human_size
from ..layers import Entry, efficiency

__all__ = ["ADDED", "MARKS", "MODIFIED", "REMOVED", "FileTree", "Node", "hexdump"]

ADDED, MODIFIED, REMOVED = "added", "modified", "removed"
# The first character of a row's label: the view colours a row by it (dive's colours).
MARKS = {ADDED: "+", MODIFIED: "~", REMOVED: "-", "": " "}
DIR_PAGE = 500  # children of one folder shown at a time
MORE = "\0more:"  # the value of a "… N more" row (no path starts with NUL)


@dataclass(slots=True)
class Node:
    """One path of the tree: the entry that is there (or was, for a removed one) and what happened to it."""

    path: str
    entry: Entry
    layer_index: int
    layer_digest: str
    change: str = ""
    wasted: bool = False
    changed_below: int = 0  # changed paths under a directory (layer views)

    @property
    def is_dir(self) -> bool:
        return self.entry.type == "dir"

    @property
    def name(self) -> str:
        return posixpath.basename(self.path) or "/"


def _same_dir(a: Entry, b: Entry) -> bool:
    """A directory listed again by a later layer (every layer lists the parents of what it adds) is
    not a modification unless its owner or permissions changed."""
    return a.type == b.type == "dir" and (a.mode, a.uid, a.gid) == (b.mode, b.uid, b.gid)


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "."


def _rewritten(layers: list[tuple[int, str, list[Entry]]]) -> bool:
    """True if some file is written in two layers, or removed: only then is there wasted space (dive)."""
    seen: set[str] = set()
    for _, _, entries in layers:
        mine = set()
        for e in entries:
            if e.whiteout:
                return True
            if e.type != "dir":
                mine.add(e.path)
        if seen & mine:
            return True
        seen |= mine
    return False


@dataclass
class FileTree:
    """The tree of one view (merged, or layer `layer`), with each node's change and the wasted paths."""

    nodes: dict[str, Node]
    kids: dict[str, list[str]]
    layer: int | None  # None: the merged view
    wasted_bytes: int = 0
    efficiency: float = 1.0
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, layers: list[tuple[int, str, list[Entry]]], layer: int | None = None) -> FileTree:
        """The merged view (`layer=None`) or the view of layer `layer` (layers above it are ignored)."""
        upto = [item for item in layers if layer is None or item[0] <= layer]
        nodes: dict[str, Node] = {}
        for index, digest, entries in upto:
            top = layer is not None and index == layer
            for e in entries:  # whiteouts first: they never hide entries of their own layer
                if e.whiteout:
                    doomed = [p for p in nodes if p == e.path or p.startswith(e.path.rstrip("/") + "/")
                              or (e.path == "." and p != ".")]
                    if e.whiteout == "opaque":
                        doomed = [p for p in doomed if p != e.path]
                    for p in doomed:
                        if top:
                            nodes[p].change = REMOVED
                        else:
                            del nodes[p]
            for e in entries:
                if e.whiteout or e.path == ".":
                    continue
                old = nodes.get(e.path)
                if old is not None and old.change != REMOVED and _same_dir(old.entry, e):
                    continue
                was_there = old is not None and (old.change != REMOVED or old.layer_index < index)
                if old is not None and old.entry.type == "dir" and e.type != "dir":
                    for p in [p for p in nodes if p.startswith(e.path + "/")]:
                        if top:
                            nodes[p].change = REMOVED
                        else:
                            del nodes[p]
                change = MODIFIED if was_there else ADDED
                nodes[e.path] = Node(e.path, e, index, digest, change if (layer is None or top) else "")
        tree = cls._index(nodes, layer)
        if not _rewritten(upto):
            return tree  # every path written once: dive's score is 1.0, nothing wasted (and no slow pass)
        eff = efficiency([entries for _, _, entries in upto])
        tree.efficiency, tree.wasted_bytes = eff.score, eff.wasted_bytes
        for usage in eff.inefficient:
            node = nodes.get(usage.path)
            if node is not None:
                node.wasted = True
        return tree

    @classmethod
    def _index(cls, nodes: dict[str, Node], layer: int | None) -> FileTree:
        kids: dict[str, list[str]] = {}
        for path in list(nodes):  # parents a tar never listed are implied (dive does the same)
            parent = _parent(path)
            while parent != "." and parent not in nodes:
                nodes[parent] = Node(parent, Entry(parent, "dir", 0, 0o755, 0, 0, 0.0), -1, "", "")
                parent = _parent(parent)
        for path in nodes:
            kids.setdefault(_parent(path), []).append(path)
        dirs = {p for p, n in nodes.items() if n.entry.type == "dir"}
        for children in kids.values():
            # Folders first, then by name: the order of dive and of most file managers.
            children.sort(key=lambda p: (p not in dirs, p))
        counts = {ADDED: 0, MODIFIED: 0, REMOVED: 0}
        for node in nodes.values():
            if node.change:
                counts[node.change] += 1
                if layer is not None:
                    parent = _parent(node.path)
                    while parent != ".":
                        nodes[parent].changed_below += 1
                        parent = _parent(parent)
        return cls(nodes, kids, layer, counts=counts)

    def changed(self, path: str) -> bool:
        """True if `path` or something under it changed (for "only changes")."""
        node = self.nodes.get(path)
        return node is not None and bool(node.change or node.changed_below)

    def rows(self, open_dirs: set[str], *, changes_only: bool = False, pages: dict[str, int] | None = None
             ) -> list[dict[str, Any]]:
        """The visible rows, depth first: the top level, and the children of every open folder."""
        pages = pages or {}
        out: list[dict[str, Any]] = []
        stack: list[tuple[str, int, int]] = [(".", -1, 0)]  # (path, depth, hidden children for a "more" row)
        while stack:
            path, depth, more = stack.pop()
            if more:
                out.append({"path": MORE + path, "change": "", "is_dir": False, "depth": depth,
                            "label": f"  {' ' * 21}{'  ' * depth}  … {more:,} more in /{path.lstrip('.')}: "
                                     f"click to show {DIR_PAGE:,} more, or filter"})
                continue
            if path != ".":
                out.append(self.row(path, depth, path in open_dirs))
                if path not in open_dirs:
                    continue
            children = [c for c in self.kids.get(path, ()) if not changes_only or self.changed(c)]
            shown = pages.get(path, DIR_PAGE)
            if len(children) > shown:
                stack.append((path, depth + 1, len(children) - shown))
            stack.extend((c, depth + 1, 0) for c in reversed(children[:shown]))
        return out

    def row(self, path: str, depth: int = 0, is_open: bool = False, *, full: bool = False) -> dict[str, Any]:
        """One row: the label the view shows (mark, mode, size, tree, name) and the facts behind it."""
        node = self.nodes[path]
        e = node.entry
        twisty = ("▾ " if is_open else "▸ ") if node.is_dir else "  "
        name = ("/" + path) if full else node.name
        if node.is_dir:
            name += "/"
        elif e.type == "symlink":
            name += f" → {e.linkname}"
        elif e.type == "hardlink":
            name += f" ⇒ /{e.linkname}"
        size = human_size(e.size) if e.type == "file" else ""
        notes = []
        if node.is_dir and node.changed_below and self.layer is not None:
            notes.append(f"{node.changed_below:,} changed inside")
        if node.wasted:
            notes.append("wasted")
        tail = f"   ({', '.join(notes)})" if notes else ""
        label = f"{MARKS[node.change]} {stat.filemode(_type_bits(e.type) | e.mode)} {size:>10}  {'  ' * depth}{twisty}{name}{tail}"
        return {"path": path, "label": label, "change": node.change, "is_dir": node.is_dir, "depth": depth,
                "type": e.type, "size": e.size, "layer_index": node.layer_index, "wasted": node.wasted}


_TYPE_BITS = {"dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR, "block": stat.S_IFBLK,
              "fifo": stat.S_IFIFO}


def _type_bits(kind: str) -> int:
    return _TYPE_BITS.get(kind, stat.S_IFREG)


def hexdump(data: bytes, limit: int = 4096) -> str:
    """`hexdump -C` style lines (offset, 16 bytes in hex, the printable ASCII) of the first `limit` bytes."""
    lines = []
    for off in range(0, min(len(data), limit), 16):
        chunk = data[off:off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<48}  |{text}|")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit:,} more bytes not shown")
    return "\n".join(lines)
