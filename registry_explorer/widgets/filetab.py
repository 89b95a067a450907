"""The Files tab as state: listing layers, the dive-like tree (filetree.py), the filter and the preview.

Nothing is listed until asked for (a listing streams whole layers, once, verified); each layer's
entries are kept by digest (content-addressed, never stale), so switching between the merged view
and a layer view costs no request once the layers are known. The preview reads one file through
the image filesystem (content.py) and shows text as text, anything else as a hex dump.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from traitlets import Bool, Dict, Int, List, Unicode, observe

from ..core import mediatypes as mt
from ..core.units import human_size
from ..imagefs.listing import image_layers, layer_entries
from ..layers import Entry
from .content import PREVIEW_LIMIT, as_text, read_preview
from .filetree import DIR_PAGE, MORE, FileTree, hexdump
from .labels import plural, read_cost_note
from .state_base import StateCore, serialized

__all__ = ["FILES_SHOWN", "MERGED", "FilesMixin"]

MERGED = "merged"
FILE_FIELDS = ("path", "type", "size", "mode", "linkname", "whiteout", "layer_index", "layer_digest")
FILES_SHOWN = 1000  # rows of a filtered list: a <select> with tens of thousands of options freezes a browser


def _row(e: Entry, layer_index: int, layer_digest: str) -> dict[str, Any]:
    return {"path": e.path, "type": e.type, "size": e.size, "mode": e.mode, "linkname": e.linkname,
            "whiteout": e.whiteout, "layer_index": layer_index, "layer_digest": layer_digest}


class FilesMixin(StateCore):
    """load_files()/filter_files()/select_file(), and the tree: toggle_dir(), choose_row(), changes_only."""

    files_layer = Unicode(MERGED, help="'merged' or the layer digest whose files are listed.")
    file_filter = Unicode("", help="Substring (or glob with * ? [) the file list is filtered by.")
    files = List(help="File rows (path, type, size, ...) of files_layer matching file_filter.")
    files_total = Int(0, help="How many entries files_layer has before filtering.")
    file_info = Dict(help="The chosen file: its row, plus 'content' (text), 'hex' (binary) and 'note'.")
    tree_rows = List(help="The visible rows of the tree (or of the filtered list): label, path, change, ...")
    tree_summary = Unicode("", help="What the view shows: entries, what the layer changed, wasted space.")
    changes_only = Bool(False, help="Show only what the chosen layer changed (and the folders above it).")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._layer_lists: dict[str, list[Entry]] = {}  # layer digest -> its entries
        self._trees: dict[str, FileTree] = {}  # "<manifest digest>/<merged or layer digest>" -> tree
        self._tree: FileTree | None = None
        self._open: set[str] = set()
        self._pages: dict[str, int] = {}
        self._all_files: list[dict] = []

    def _clear_files(self) -> None:
        self._all_files = []
        self._tree = None
        self._open, self._pages = set(), {}
        self.files = []
        self.files_total = 0
        self.files_layer = MERGED
        self.file_info = {}
        self.tree_rows = []
        self.tree_summary = ""

    # -- listing -------------------------------------------------------------------------------------

    def _listed(self, pinned, wanted) -> list[tuple[int, str, list[Entry]]]:
        """(index, digest, entries) of the layers `wanted` ([(i, descriptor)]), listing those not known yet."""
        missing = [d for _, d in wanted if d.digest not in self._layer_lists]
        if len(missing) > 1 and len(missing) == len(self.manifest.layers):
            for _, digest, entries in image_layers(self.client, pinned):  # every layer: in parallel
                self._layer_lists[digest] = entries
        else:
            for d in missing:
                self._layer_lists[d.digest] = layer_entries(self.client, pinned, d)
        return [(i, d.digest, self._layer_lists[d.digest]) for i, d in wanted]

    @serialized
    def load_files(self, layer: str | int = MERGED) -> bool:
        """Show the files of the merged image ('merged') or of one layer (index or digest) as a tree."""
        m = self.manifest
        if m is None or self.ref is None:
            return self._say("Resolve an image first; its layers hold the files.")
        layers = m.layers
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not 0 <= layer < len(layers):
                return self._say(f"Layer {layer} does not exist; the image has {plural(len(layers), 'layer')}.")
            layer = layers[layer].digest
        key = MERGED if layer == MERGED else str(layer)
        position = next((i for i, d in enumerate(layers) if d.digest == key), None)
        if key != MERGED and position is None:
            return self._say(f"{key} is not a layer of the image shown.")
        # A layer view needs the layers below it; the merged view needs them all.
        wanted = [(i, d) for i, d in enumerate(layers) if key == MERGED or i <= position]
        # Artifacts (SBOMs, signatures, attestations) carry blobs that are not tar archives.
        odd = next(((i, d) for i, d in wanted if d.media_type and not mt.is_layer(d.media_type)), None)
        if odd is not None:
            return self._say(f"Layer {odd[0]} is {odd[1].media_type}, not a filesystem layer; "
                             "it has no files to list.")
        cache_key = f"{m.digest}/{key}"
        tree = self._trees.get(cache_key)
        what = "the merged filesystem" if key == MERGED else f"layer {position}"
        if tree is None:
            with self._operation(f"Listing the files of {what}…"):
                try:
                    # Pinned to the manifest itself, so no platform walk happens again.
                    listed = self._listed(self.ref.repo().with_digest(m.digest), wanted)
                    tree = FileTree.build(listed, None if key == MERGED else position)
                except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                    return self._fail(exc, "listing files")
            self._trees[cache_key] = tree
        if key == MERGED:
            rows = [_row(n.entry, n.layer_index, n.layer_digest) for p, n in sorted(tree.nodes.items())
                    if n.layer_index >= 0]
        else:
            rows = [_row(e, position, key) for e in self._layer_lists[key]]
        self._tree, self._open, self._pages = tree, set(), {}
        self._all_files = rows
        self.files_total = len(rows)
        self.file_info = {}
        self.files_layer = key
        self.tree_summary = self._files_summary(tree, what, len(rows))
        self.status = f"{what[0].upper()}{what[1:]} has {plural(len(rows), 'entry')}."
        self._apply_filter()
        return True

    def _files_summary(self, tree: FileTree, what: str, n: int) -> str:
        c = tree.counts
        if tree.layer is None:
            done = f"{plural(c['added'], 'path')} added, {c['modified']:,} written over a lower layer"
        else:
            done = (f"this layer adds {c['added']:,}, modifies {c['modified']:,} and removes {c['removed']:,} "
                    f"(+ ~ -)")
        waste = (f"wasted space {human_size(tree.wasted_bytes)} in paths written more than once "
                 f"(efficiency {tree.efficiency:.1%})") if tree.wasted_bytes else "no wasted space"
        return f"{what[0].upper()}{what[1:]}: {plural(n, 'entry')}; {done}; {waste}."

    # -- the tree ------------------------------------------------------------------------------------

    @observe("file_filter", "changes_only")
    def _on_filter(self, change) -> None:
        self._apply_filter()

    def filter_files(self, text: str) -> None:
        """Keep the files whose path contains `text` (or matches it as a glob when it has * ? [)."""
        self.file_filter = text

    @serialized
    def _apply_filter(self) -> None:
        pattern = self.file_filter.strip()
        rows = self._all_files
        if pattern:
            if any(c in pattern for c in "*?["):
                rows = [r for r in rows if fnmatch.fnmatchcase(r["path"], pattern.lstrip("/"))]
            else:
                low = pattern.lower().lstrip("/")
                rows = [r for r in rows if low in r["path"].lower()]
        self.files = rows
        self._render_tree()

    def _render_tree(self) -> None:
        tree = self._tree
        if tree is None:
            self.tree_rows = []
        elif self.file_filter.strip():
            paths = [r["path"] for r in self.files if r["path"] in tree.nodes][:FILES_SHOWN]
            self.tree_rows = [tree.row(p, 0, full=True) for p in paths]
        else:
            self.tree_rows = tree.rows(self._open, changes_only=self.changes_only, pages=self._pages)

    @serialized
    def toggle_dir(self, path: str) -> bool:
        """Open a folder of the tree (its children are shown) or close it again."""
        if self._tree is None or path not in self._tree.nodes or not self._tree.nodes[path].is_dir:
            return False
        self._open ^= {path}
        self._render_tree()
        return True

    @serialized
    def choose_row(self, value: str) -> bool:
        """A row of the tree was clicked: a folder opens or closes, "… more" shows more, a file is previewed."""
        if value.startswith(MORE):
            folder = value[len(MORE):]
            self._pages[folder] = self._pages.get(folder, DIR_PAGE) + DIR_PAGE
            self._render_tree()
            return True
        node = self._tree.nodes.get(value) if self._tree is not None else None
        if node is not None and node.is_dir and not self.file_filter.strip():
            return self.toggle_dir(value)
        return self.select_file(value)

    # -- one file ------------------------------------------------------------------------------------

    @serialized
    def select_file(self, path: str) -> bool:
        """Show one entry: its facts, and its content (text as text, anything else as a hex dump)."""
        node = self._tree.nodes.get(path) if self._tree is not None else None
        row = _row(node.entry, node.layer_index, node.layer_digest) if node is not None else \
            next((r for r in self._all_files if r["path"] == path), None)
        if row is None:
            return self._say(f"{path!r} is not in the file list; load_files() first.")
        info = dict(row, content=None, hex=None, note="", change=node.change if node is not None else "")
        if node is not None and node.change == "removed":
            info["note"] = (f"Removed by layer {self._tree.layer} (a whiteout); it was written by layer "
                            f"{node.layer_index}, whose bytes still travel with the image.")
        elif row.get("whiteout"):
            info["note"] = "A whiteout: this layer deletes the path from the layers below."
        elif row["type"] == "symlink":
            info["note"] = f"A symbolic link to {row['linkname']}."
        elif row["type"] == "hardlink":
            info["note"] = f"A hard link to {row['linkname']}."
        elif row["type"] != "file":
            info["note"] = f"A {row['type']}; it has no content to show."
        elif row["size"] > PREVIEW_LIMIT:
            info["note"] = f"{human_size(row['size'])}: too large to preview (limit {human_size(PREVIEW_LIMIT)})."
        elif not self._preview(path, row, info):
            return False
        self.file_info = info
        return True

    def _preview(self, path: str, row: dict, info: dict) -> bool:
        desc = next((d for d in self.manifest.layers if d.digest == row["layer_digest"]), None)
        if desc is None:
            return self._say(f"The layer holding {path} is not part of the image shown.")
        with self._operation(f"Reading {path}…"):
            try:
                data, how = read_preview(self.client, self.ref, desc, path)
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "reading a file")
        text = as_text(data) if data is not None else None
        if data is None:
            info["note"] = "Not found in its layer's tar stream."
        elif not data:
            info["note"] = "An empty file."
        elif text is None:
            info["hex"] = hexdump(data)
            info["note"] = "Binary content, shown as a hex dump: offset, 16 bytes in hex, and the bytes as ASCII."
        info["content"] = text
        info.update(how)  # verification, verified_by, requests, bytes moved (issue 12)
        info["cost_note"] = read_cost_note(how, row["size"])
        self.status = f"{path}: {human_size(row['size'])}."
        return True
