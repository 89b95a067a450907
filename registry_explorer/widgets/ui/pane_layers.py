"""The Explorer's Layers, Config and History tabs: the layer table, blob selection and fetch progress.

A view mixin of `Explorer` (view.py): it builds these tabs' widgets, wires them to the state
and renders the state into them. What to fetch and when is decided by `ExplorerState`.
"""

from __future__ import annotations

import ipywidgets as w
from traitlets import link

from ..labels import digest12
from . import render
from .viewkit import FULL_WIDTH, WIDE, done_of, hook, scrolling


class LayersPane:
    """Layers (table, blob selection, fetch with progress), Config and History."""

    def _build_layers(self) -> dict[str, w.Widget]:
        self.layers_html = scrolling(hook(w.HTML(), "rx-layers-table"))
        self.layer_select = hook(w.SelectMultiple(options=[], rows=6, description="Blobs",
                                                  layout=w.Layout(width=FULL_WIDTH)), "rx-layer-select")
        self.dest_text = hook(w.Text(description="Save to", placeholder="the notebook's folder",
                                     layout=w.Layout(width=WIDE)), "rx-dest")
        self.dest_note = hook(w.Label(), "rx-dest-note")  # where the files go, said before Fetch
        self.fetch_button = hook(w.Button(description="Fetch", icon="download", button_style="success"), "rx-fetch")
        self.cancel_button = hook(w.Button(description="Cancel", icon="stop", disabled=True), "rx-cancel")
        self.overall_bar = hook(w.IntProgress(value=0, min=0, max=1, description="overall",
                                              layout=w.Layout(width=WIDE)), "rx-progress-overall")
        self.overall_label = w.Label()
        self.blob_bars: dict[str, tuple[w.IntProgress, w.Label]] = {}
        self.blob_box = w.VBox()
        self.fetched_html = hook(w.HTML(), "rx-fetched")
        self.config_html = scrolling(hook(w.HTML(), "rx-config"))
        self.history_html = scrolling(hook(w.HTML(), "rx-history"))
        return {
            "Layers": w.VBox([self.layers_html, self.layer_select,
                              w.HBox([self.dest_text, self.fetch_button, self.cancel_button]), self.dest_note,
                              w.HBox([self.overall_bar, self.overall_label]), self.blob_box, self.fetched_html]),
            "Config": self.config_html,
            "History": self.history_html,
        }

    def _wire_layers(self) -> None:
        s = self.state
        self.layer_select.observe(self._on_layer_select, names="value")
        link((s, "dest"), (self.dest_text, "value"))
        self.fetch_button.on_click(lambda _: s.fetch())
        self.cancel_button.on_click(lambda _: s.cancel())
        s.observe(lambda _: self._render_choices(), names=["choices", "selected"])
        s.observe(lambda _: self._render_progress(), names="progress")
        s.observe(lambda _: self._render_overall(), names="overall")
        s.observe(lambda _: self._render_fetching(), names="fetching")
        s.observe(lambda _: self._render_fetched(), names=["fetched", "fetched_from"])
        s.observe(lambda _: self._render_dest(), names="dest")

    def _on_layer_select(self, change) -> None:
        if not self._syncing:
            self.state.select(list(change["new"]))

    def _render_layer_panes(self) -> None:
        s = self.state
        shown = s.manifest is not None
        self.layers_html.value = render.layers_table(s.layers)
        self.config_html.value = render.config_pane(s.config) if shown else ""
        self.history_html.value = render.history_table(s.build_history) if shown else ""

    def _render_choices(self) -> None:
        s = self.state
        with self._sync():
            if list(self.layer_select.options) != list(s.choices):
                self.layer_select.options = list(s.choices)
            valid = {d for _, d in s.choices}
            self.layer_select.value = tuple(d for d in s.selected if d in valid)

    def _render_fetching(self) -> None:
        fetching = self.state.fetching
        self.fetch_button.disabled = fetching
        self.cancel_button.disabled = not fetching
        if fetching:
            for bar, _ in self.blob_bars.values():
                bar.bar_style = ""
            self.overall_bar.bar_style = ""
        elif self.blob_bars:  # a fetch ended: colour the bars by outcome
            for bar, _ in self.blob_bars.values():
                bar.bar_style = "success" if bar.value >= bar.max else "warning"
            full = self.overall_bar.value >= self.overall_bar.max
            self.overall_bar.bar_style = "success" if full else "warning"

    def _render_progress(self) -> None:
        progress = dict(self.state.progress)
        # Bars are rebuilt only for a new fetch (one per blob, in selection order); progress reports
        # arrive many times a second and must only move the existing bars.
        if set(progress) != set(self.blob_bars):
            self.blob_bars = {}
            for digest, (_, total) in progress.items():
                bar = hook(w.IntProgress(value=0, min=0, max=max(total, 1), description=digest12(digest)[7:],
                                         layout=w.Layout(width=WIDE)), "rx-progress-blob")
                self.blob_bars[digest] = (bar, w.Label())
            self.blob_box.children = [w.HBox([bar, label]) for bar, label in self.blob_bars.values()]
            self.overall_bar.bar_style = ""
        for digest, (done, total) in progress.items():
            bar, label = self.blob_bars[digest]
            bar.max = max(total, 1)
            bar.value = min(done, bar.max)
            label.value = done_of(done, total)

    def _render_overall(self) -> None:
        done, total = self.state.overall
        self.overall_bar.max = max(total, 1)
        self.overall_bar.value = min(done, self.overall_bar.max)
        self.overall_label.value = done_of(done, total) if total else ""

    def _render_dest(self) -> None:
        self.dest_note.value = self.state.destination_note()

    def _render_fetched(self) -> None:
        self.fetched_html.value = render.fetched_list(self.state.fetched, self.state.fetched_from)
