"""The Explorer's Files tab, as dive shows an image: a tree coloured by what each layer did, and a preview.

A view mixin of `Explorer` (explorer.py). The tree, the filter and the preview are the state's
(filetab.py, filetree.py); this builds the widgets, wires them and renders the rows. The tree is an
ipywidgets `Select` in a monospace font: it draws thousands of rows at once and keeps the keyboard
working; a row's first character (+ ~ -) is what its layer did, and the stylesheet colours rows by
it (ipywidgets writes each option's label into its `data-value` attribute, URI-encoded).
No tree library: ipytree 0.2.2 makes a widget model per node (500 nodes took 12.9 s to draw in Lab 4.6
here, and it renders names as HTML, a hostile file name's way in); ipydatagrid 1.4 draws on a canvas
(no text in the page to select, test or read aloud) and brings bqplot with a version clash in Lab 4;
itables' widget inlines about 1 MB of JavaScript per notebook.
CSS hooks: rx-files-layer, rx-files-load, rx-files-changes, rx-files-filter, rx-files-summary,
rx-files-hint, rx-files (the tree), rx-file-info.
"""

from __future__ import annotations

import ipywidgets as w
from traitlets import link

from ..filetab import FILES_SHOWN, MERGED
from ..labels import layer_label, plural
from . import render
from .viewkit import FULL_WIDTH, WIDE, hook

__all__ = ["FILES_SHOWN", "FilesPane", "TREE_CSS"]

# dive's colours: added green, modified amber, removed red and struck out; lighter on a dark theme.
TREE_CSS = """<style>
.rx-explorer .rx-tree select{font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:pre}
.rx-explorer .rx-tree option[data-value^="%2B"]{color:#1a7f37}
.rx-explorer .rx-tree option[data-value^="~"]{color:#9a6700}
.rx-explorer .rx-tree option[data-value^="-"]{color:#cf222e;text-decoration:line-through}
body[data-jp-theme-light="false"] .rx-explorer .rx-tree option[data-value^="%2B"]{color:#56d364}
body[data-jp-theme-light="false"] .rx-explorer .rx-tree option[data-value^="~"]{color:#e3b341}
body[data-jp-theme-light="false"] .rx-explorer .rx-tree option[data-value^="-"]{color:#ff7b72}
.rx-explorer .rx-files-legend{font-size:12px;opacity:.85}
</style>"""
LEGEND = ('<span class="rx-files-legend"><span style="color:#1a7f37">+ added</span> · '
          '<span style="color:#9a6700">~ modified</span> · <span style="color:#cf222e">- removed</span> · '
          'click a folder to open it, a file to preview it</span>')


class FilesPane:
    """Files: which layer (or the merged image), only changes, a filter, the tree and one file."""

    def _build_files(self) -> dict[str, w.Widget]:
        self.files_layer_dropdown = hook(w.Dropdown(options=[("merged filesystem", MERGED)], value=MERGED,
                                                    description="Layer", layout=w.Layout(width=WIDE)),
                                         "rx-files-layer")
        self.files_load_button = hook(w.Button(description="List files", layout=w.Layout(width="auto")),
                                      "rx-files-load")
        self.files_changes = hook(w.Checkbox(value=False, description="only changes", indent=False,
                                             layout=w.Layout(width="auto")), "rx-files-changes")
        self.files_filter_text = hook(w.Text(placeholder="filter: etc/ or *.conf", description="Filter",
                                             layout=w.Layout(width=WIDE)), "rx-files-filter")
        self.files_count = w.Label()
        self.files_summary = hook(w.HTML(), "rx-files-summary")
        self.files_hint = hook(w.HTML(), "rx-files-hint")
        self.files_select = hook(hook(w.Select(options=[], rows=16, layout=w.Layout(width=FULL_WIDTH)),
                                      "rx-files"), "rx-tree")
        self.file_info_html = hook(w.HTML(), "rx-file-info")
        return {
            "Files": w.VBox([w.HTML(TREE_CSS, layout=w.Layout(display="none")),
                             w.HBox([self.files_layer_dropdown, self.files_load_button, self.files_changes],
                                    layout=w.Layout(flex_flow="row wrap")),
                             w.HBox([self.files_filter_text, self.files_count], layout=w.Layout(flex_flow="row wrap")),
                             self.files_hint, self.files_summary, w.HTML(LEGEND), self.files_select,
                             self.file_info_html]),
        }

    def _wire_files(self) -> None:
        s = self.state
        self.files_layer_dropdown.observe(self._on_files_layer, names="value")
        self.files_load_button.on_click(lambda _: s.load_files(self.files_layer_dropdown.value))
        link((s, "file_filter"), (self.files_filter_text, "value"))
        link((s, "changes_only"), (self.files_changes, "value"))
        self.files_select.observe(self._on_file, names="value")
        s.observe(lambda _: self._render_files(), names=["tree_rows", "files_layer", "tree_summary"])
        s.observe(lambda _: self._render_file_info(), names="file_info")

    def _on_files_layer(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.load_files(change["new"])

    def _on_file(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.choose_row(change["new"])

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
        rows = s.tree_rows
        chosen = s.file_info.get("path")
        with self._sync():
            self.files_select.options = [(r["label"], r["path"]) for r in rows]
            paths = [r["path"] for r in rows]
            self.files_select.index = paths.index(chosen) if chosen in paths else None
            # A listing started from code (state.load_files(3)) moves the dropdown to match;
            # a digest the dropdown does not offer (a stale listing) leaves it alone.
            layers = {v for _, v in self.files_layer_dropdown.options}
            if self.files_layer_dropdown.value != s.files_layer and s.files_layer in layers:
                self.files_layer_dropdown.value = s.files_layer
        self.files_summary.value = render.esc(s.tree_summary)
        self.files_hint.value = render.esc(s.files_hint())
        self.files_hint.layout.display = "" if self.files_hint.value else "none"
        if not s.files_total:
            self.files_count.value = ""
        elif s.file_filter.strip():  # an empty list must not look like an empty layer
            more = f", showing {FILES_SHOWN}" if len(s.files) > FILES_SHOWN else ""
            self.files_count.value = f"filtered: {len(s.files)} of {plural(s.files_total, 'entry')}{more}"
        else:
            self.files_count.value = f"{plural(s.files_total, 'entry')}"

    def _render_file_info(self) -> None:
        self.file_info_html.value = render.file_info_html(self.state.file_info)
        # The tree keeps the chosen file highlighted; a folder click leaves no selection.
        if not self.state.file_info:
            with self._sync():
                self.files_select.index = None
