"""The Explorer's Files tab: the layer choice, the filtered file list and the chosen file's details.

A view mixin of `Explorer` (view.py). Listing, filtering and previewing happen in the state
(listings.py); whether opening the tab lists files by itself is decided in tabs.py.
"""

from __future__ import annotations

import ipywidgets as w
from traitlets import link

from ...core.units import human_size
from ..labels import layer_label, plural
from ..listings import MERGED
from . import render
from .viewkit import FULL_WIDTH, WIDE, hook

# A <select> with tens of thousands of options freezes the browser; filtering narrows it.
FILES_SHOWN = 1000


def _file_label(row: dict) -> str:
    """'/etc/motd  file, 45 B' for the file list."""
    if row.get("whiteout"):
        return f"/{row['path']}  (whiteout)"
    if row["type"] == "file":
        return f"/{row['path']}  file, {human_size(row['size'])}"
    return f"/{row['path']}  {row['type']}"


class FilesPane:
    """Files: which layer (or the merged filesystem), a filter, the list, and one file's details."""

    def _build_files(self) -> dict[str, w.Widget]:
        self.files_layer_dropdown = hook(w.Dropdown(options=[("merged filesystem", MERGED)], value=MERGED,
                                                    description="Layer", layout=w.Layout(width=WIDE)),
                                         "rx-files-layer")
        self.files_load_button = hook(w.Button(description="List files"), "rx-files-load")
        self.files_filter_text = hook(w.Text(placeholder="filter: etc/ or *.conf", description="Filter"),
                                      "rx-files-filter")
        self.files_count = w.Label()
        self.files_select = hook(w.Select(options=[], rows=12, layout=w.Layout(width=FULL_WIDTH)), "rx-files")
        self.file_info_html = hook(w.HTML(), "rx-file-info")
        return {
            "Files": w.VBox([w.HBox([self.files_layer_dropdown, self.files_load_button]),
                             w.HBox([self.files_filter_text, self.files_count]),
                             self.files_select, self.file_info_html]),
        }

    def _wire_files(self) -> None:
        s = self.state
        self.files_layer_dropdown.observe(self._on_files_layer, names="value")
        self.files_load_button.on_click(lambda _: s.load_files(self.files_layer_dropdown.value))
        link((s, "file_filter"), (self.files_filter_text, "value"))
        self.files_select.observe(self._on_file, names="value")
        s.observe(lambda _: self._render_files(), names=["files", "files_layer"])
        s.observe(lambda _: self._render_file_info(), names="file_info")

    def _on_files_layer(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.load_files(change["new"])

    def _on_file(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.select_file(change["new"])

    def _render_files_pane(self) -> None:
        """A new image: its layers in the dropdown (merged first), then its (empty) listing."""
        m = self.state.manifest
        options = [("merged filesystem", MERGED)]
        if m is not None:
            options += [(layer_label(i, d), d.digest) for i, d in enumerate(m.layers)]
        with self._sync():
            self.files_layer_dropdown.options = options
            self.files_layer_dropdown.value = MERGED
        self._render_files()
        self._render_file_info()

    def _render_files(self) -> None:
        s = self.state
        rows = s.files[:FILES_SHOWN]
        options = [(_file_label(r), r["path"]) for r in rows]
        with self._sync():
            self.files_select.options = options
            self.files_select.index = None
            # A listing started from code (state.load_files(3)) moves the dropdown to match;
            # a digest the dropdown does not offer (a stale listing) leaves it alone.
            layers = {v for _, v in self.files_layer_dropdown.options}
            if self.files_layer_dropdown.value != s.files_layer and s.files_layer in layers:
                self.files_layer_dropdown.value = s.files_layer
        if not s.files_total:
            self.files_count.value = ""
        elif len(s.files) > len(rows):
            self.files_count.value = f"showing {len(rows)} of {len(s.files)} matches; filter to narrow"
        else:
            shown = "filtered: " if s.file_filter.strip() else ""  # an empty list must not look like an empty layer
            self.files_count.value = f"{shown}{len(s.files)} of {plural(s.files_total, 'entry')}"

    def _render_file_info(self) -> None:
        self.file_info_html.value = render.file_info_html(self.state.file_info)
