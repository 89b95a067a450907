"""The Explorer widget: an ipywidgets view over ExplorerState. It observes traits and calls methods.

All logic lives in the state; this module only lays out widgets, copies state into them and
turns clicks into state calls. HTML panes are `widgets.HTML` values, never `with out:` blocks,
so saved notebooks compare cleanly (nbval).

CSS class hooks (`add_class`) are a contract with the browser tests: rx-explorer (root),
rx-reference, rx-resolve, rx-back, rx-forward, rx-status, rx-error, rx-descriptor, rx-platform,
rx-tabs; Layers: rx-layers-table, rx-layer-select, rx-dest, rx-fetch, rx-cancel,
rx-progress-blob, rx-progress-overall, rx-fetched; rx-config; rx-history; Files: rx-files-layer,
rx-files-load, rx-files-filter, rx-files, rx-file-info; Referrers: rx-referrers,
rx-load-referrers, rx-open-subject; HTTP: rx-trace, rx-trace-refresh, rx-trace-select, rx-curl;
Tags: rx-tags, rx-load-tags, rx-more-tags.
"""

from __future__ import annotations

import contextlib
import threading
import time

from traitlets import List, Unicode, dlink, link

from .. import mediatypes as mt
from ..extras import require
from ..units import human_size
from . import render
from .labels import digest12, layer_label
from .state import MERGED, ExplorerState

# ipywidgets is the `widgets` extra: without it, importing the view raises rx.MissingExtra.
w = require("ipywidgets", "widgets", "The Explorer widget")

TABS = ("Layers", "Config", "History", "Files", "Referrers", "HTTP", "Tags")
# A <select> with tens of thousands of options freezes the browser; filtering narrows it.
FILES_SHOWN = 1000
# Opening the Files tab lists the merged filesystem by itself only if that reads this little;
# otherwise the user asks ("List files" or a layer), since the listing streams every layer.
AUTO_LIST_BYTES = 64 << 20
# A click on Resolve this soon after the field resolved the same text on blur is that same click.
CLICK_AFTER_BLUR_S = 2.0


def _hook(widget: w.Widget, cls: str) -> w.Widget:
    widget.add_class(cls)
    return widget


def _main_shell(data, default):
    return None


def _route_to_main_shell(widget: w.Widget) -> None:
    """Have the kernel handle this widget's messages on the main shell, in the order they were sent.

    ipykernel 7 routes each comm's incoming messages to the subshell that last published on it,
    so a Text updated from a subshell callback moves there while Buttons stay on the main
    shell, and a click can then overtake the field edit sent before it. One shell for all of
    the Explorer's widgets restores the order the user acted in. `_reply_subshell_for` is
    ipykernel's hook for exactly this choice; kernels without it need nothing.
    """
    comm = getattr(widget, "comm", None)
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = _main_shell


def _walk(widget: w.Widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _file_label(row: dict) -> str:
    """'/etc/motd  file, 45 B' for the file list."""
    if row.get("whiteout"):
        return f"/{row['path']}  (whiteout)"
    if row["type"] == "file":
        return f"/{row['path']}  file, {human_size(row['size'])}"
    return f"/{row['path']}  {row['type']}"


def _int_or_dash(value) -> str:
    """A status code from the trace frame (a float when some are missing) as '200', or '—'."""
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "—"


class Explorer(w.VBox):
    """Browse a registry in Jupyter: resolve, pick a platform, read layers/config/files, fetch blobs.

    `explorer.reference`, `explorer.selected` and `explorer.fetched` follow what the user does,
    so later cells can use them; `explorer.state` holds everything else.
    """

    reference = Unicode("", help="The reference shown (linked to state.reference).")
    selected = List(Unicode(), help="Digests selected for fetching (linked to state.selected).")
    fetched = List(Unicode(), help="Full paths of the verified files of the last fetch.")
    status = Unicode("", help="The status sentence.")
    error = Unicode("", help="The error sentence, or ''.")
    platform = Unicode("", help="The platform shown.")

    def __init__(self, client=None, reference: str = "", **kwargs):
        self.state = ExplorerState(client)
        # Per thread: the fetch thread re-renders while a callback may run on another thread,
        # and one thread's "I am syncing" must not silence the other's user action.
        self._local = threading.local()
        self._text_resolved: tuple[str, float] = ("", 0.0)  # what the field resolved on Enter/blur, when
        self._referrers_for: str | None = None
        self._trace_dirty = True
        self._build()
        super().__init__(children=self._layout(), **kwargs)
        self.add_class("rx-explorer")
        link((self.state, "reference"), (self, "reference"))
        link((self.state, "selected"), (self, "selected"))
        for name in ("fetched", "status", "error", "platform"):
            dlink((self.state, name), (self, name))
        self._wire()
        for widget in _walk(self):
            _route_to_main_shell(widget)
        self._render_all()
        if reference:
            self.state.resolve(reference)

    # -- notebook API: thin delegates to the state -------------------------------------------------

    def resolve(self, reference: str | None = None, **kwargs) -> bool:
        """Resolve and show `reference` (see ExplorerState.resolve)."""
        return self.state.resolve(reference, **kwargs)

    def choose_platform(self, platform: str) -> bool:
        """Show `platform`'s image (see ExplorerState.choose_platform)."""
        return self.state.choose_platform(platform)

    def select(self, items) -> list[str]:
        """Select blobs to fetch: layer indexes, 'config' or digests."""
        return self.state.select(items)

    def fetch(self, background: bool = True, **kwargs) -> bool:
        """Fetch the selected blobs (in the background by default)."""
        return self.state.fetch(background, **kwargs)

    def cancel(self) -> bool:
        """Cancel the running fetch."""
        return self.state.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background fetch ends."""
        return self.state.wait(timeout)

    def back(self) -> bool:
        """Go back in the Explorer's history."""
        return self.state.back()

    def forward(self) -> bool:
        """Go forward in the Explorer's history."""
        return self.state.forward()

    def open_tag(self, tag: str) -> bool:
        """Resolve `tag` of the current repository."""
        return self.state.open_tag(tag)

    def open_referrer(self, digest: str) -> bool:
        """Resolve a referrer (any manifest digest) of the current repository."""
        return self.state.open_referrer(digest)

    # -- building ----------------------------------------------------------------------------------

    def _build(self) -> None:
        full = w.Layout(width="100%")
        self.back_button = _hook(w.Button(description="◀", tooltip="Back", layout=w.Layout(width="3em")), "rx-back")
        self.forward_button = _hook(w.Button(description="▶", tooltip="Forward", layout=w.Layout(width="3em")),
                                    "rx-forward")
        # continuous_update=False: the value reaches the kernel on Enter (or leaving the field).
        self.reference_text = _hook(w.Text(placeholder="alpine:3.20 or registry.example.com/org/app:tag",
                                           continuous_update=False, layout=w.Layout(flex="1 1 auto")),
                                    "rx-reference")
        self.resolve_button = _hook(w.Button(description="Resolve", button_style="primary"), "rx-resolve")
        self.status_html = _hook(w.HTML(), "rx-status")
        self.error_html = _hook(w.HTML(), "rx-error")
        self.descriptor_html = _hook(w.HTML(), "rx-descriptor")
        self.platform_dropdown = _hook(w.Dropdown(options=[], description="Platform",
                                                  layout=w.Layout(width="32em")), "rx-platform")

        # Layers
        self.layers_html = _hook(w.HTML(), "rx-layers-table")
        self.layer_select = _hook(w.SelectMultiple(options=[], rows=6, description="Blobs", layout=full),
                                  "rx-layer-select")
        self.dest_text = _hook(w.Text(description="Save to", layout=w.Layout(width="32em")), "rx-dest")
        self.fetch_button = _hook(w.Button(description="Fetch", icon="download", button_style="success"), "rx-fetch")
        self.cancel_button = _hook(w.Button(description="Cancel", icon="stop", disabled=True), "rx-cancel")
        self.overall_bar = _hook(w.IntProgress(value=0, min=0, max=1, description="overall",
                                               layout=w.Layout(width="32em")), "rx-progress-overall")
        self.overall_label = w.Label()
        self.blob_bars: dict[str, tuple[w.IntProgress, w.Label]] = {}
        self.blob_box = w.VBox()
        self.fetched_html = _hook(w.HTML(), "rx-fetched")

        # Config and build history
        self.config_html = _hook(w.HTML(), "rx-config")
        self.history_html = _hook(w.HTML(), "rx-history")

        # Files
        self.files_layer_dropdown = _hook(w.Dropdown(options=[("merged filesystem", MERGED)], value=MERGED,
                                                     description="Layer", layout=w.Layout(width="32em")),
                                          "rx-files-layer")
        self.files_load_button = _hook(w.Button(description="List files"), "rx-files-load")
        self.files_filter_text = _hook(w.Text(placeholder="filter: etc/ or *.conf", description="Filter"),
                                       "rx-files-filter")
        self.files_count = w.Label()
        self.files_select = _hook(w.Select(options=[], rows=12, layout=full), "rx-files")
        self.file_info_html = _hook(w.HTML(), "rx-file-info")

        # Referrers
        self.subject_html = w.HTML()
        self.subject_button = _hook(w.Button(description="Open subject", layout=w.Layout(display="none")),
                                    "rx-open-subject")
        self.referrers_button = _hook(w.Button(description="Find referrers"), "rx-load-referrers")
        self.referrers_note = w.Label()
        self.referrers_select = _hook(w.Select(options=[], rows=6, layout=full), "rx-referrers")

        # HTTP
        self.trace_button = _hook(w.Button(description="Refresh"), "rx-trace-refresh")
        self.trace_html = _hook(w.HTML(), "rx-trace")
        self.trace_select = _hook(w.Select(options=[], rows=6, description="curl for", layout=full),
                                  "rx-trace-select")
        self.curl_text = _hook(w.Textarea(layout=w.Layout(width="100%", height="5em")), "rx-curl")

        # Tags
        self.tags_button = _hook(w.Button(description="Load tags"), "rx-load-tags")
        self.more_tags_button = _hook(w.Button(description="More tags", disabled=True), "rx-more-tags")
        self.tags_note = w.Label()
        self.tags_select = _hook(w.Select(options=[], rows=10, layout=full), "rx-tags")

        panes = {
            "Layers": w.VBox([self.layers_html, self.layer_select,
                              w.HBox([self.dest_text, self.fetch_button, self.cancel_button]),
                              w.HBox([self.overall_bar, self.overall_label]), self.blob_box, self.fetched_html]),
            "Config": self.config_html,
            "History": self.history_html,
            "Files": w.VBox([w.HBox([self.files_layer_dropdown, self.files_load_button]),
                             w.HBox([self.files_filter_text, self.files_count]),
                             self.files_select, self.file_info_html]),
            "Referrers": w.VBox([self.subject_html, self.subject_button,
                                 w.HBox([self.referrers_button, self.referrers_note]), self.referrers_select]),
            "HTTP": w.VBox([self.trace_button, self.trace_html, self.trace_select, self.curl_text]),
            "Tags": w.VBox([w.HBox([self.tags_button, self.more_tags_button, self.tags_note]), self.tags_select]),
        }
        self.tabs = _hook(w.Tab(children=[panes[t] for t in TABS]), "rx-tabs")
        self.tabs.titles = TABS

    def _layout(self) -> list[w.Widget]:
        top = w.HBox([self.back_button, self.forward_button, self.reference_text, self.resolve_button])
        return [top, self.status_html, self.error_html, self.descriptor_html, self.platform_dropdown, self.tabs]

    @property
    def _syncing(self) -> bool:
        return getattr(self._local, "syncing", False)

    @contextlib.contextmanager
    def _sync(self):
        """Set widget values from the state without their observers calling back into the state."""
        was = self._syncing
        self._local.syncing = True
        try:
            yield
        finally:
            self._local.syncing = was

    # -- wiring ------------------------------------------------------------------------------------

    def _wire(self) -> None:
        s = self.state
        self.resolve_button.on_click(self._on_resolve_click)
        self.reference_text.observe(self._on_reference_text, names="value")
        self.back_button.on_click(lambda _: s.back())
        self.forward_button.on_click(lambda _: s.forward())
        self.platform_dropdown.observe(self._on_platform, names="value")
        self.layer_select.observe(self._on_layer_select, names="value")
        link((s, "dest"), (self.dest_text, "value"))
        self.fetch_button.on_click(lambda _: s.fetch())
        self.cancel_button.on_click(lambda _: s.cancel())
        self.files_layer_dropdown.observe(self._on_files_layer, names="value")
        self.files_load_button.on_click(lambda _: s.load_files(self.files_layer_dropdown.value))
        link((s, "file_filter"), (self.files_filter_text, "value"))
        self.files_select.observe(self._on_file, names="value")
        self.subject_button.on_click(lambda _: s.open_subject())
        self.referrers_button.on_click(lambda _: self._load_referrers())
        self.referrers_select.observe(self._on_referrer, names="value")
        self.trace_button.on_click(lambda _: s.refresh_trace())
        self.trace_select.observe(self._on_trace_row, names="value")
        self.tags_button.on_click(lambda _: s.load_tags())
        self.more_tags_button.on_click(lambda _: s.more_tags())
        self.tags_select.observe(self._on_tag, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")

        s.observe(lambda _: self._render_status(), names=["status", "busy"])
        s.observe(lambda _: self._render_error(), names="error")
        s.observe(lambda _: self._render_reference(), names="reference")
        s.observe(lambda _: self._render_history_buttons(), names=["back_stack", "forward_stack"])
        s.observe(lambda _: self._render_descriptor(), names=["descriptor", "index", "subject"])
        s.observe(lambda _: self._render_platforms(), names=["platforms", "platform"])
        s.observe(lambda _: self._render_manifest(), names="manifest")
        s.observe(lambda _: self._render_choices(), names=["choices", "selected"])
        s.observe(lambda _: self._render_progress(), names="progress")
        s.observe(lambda _: self._render_overall(), names="overall")
        s.observe(lambda _: self._render_fetching(), names="fetching")
        s.observe(lambda _: self._render_fetched(), names="fetched")
        s.observe(lambda _: self._render_files(), names=["files", "files_layer"])
        s.observe(lambda _: self._render_file_info(), names="file_info")
        s.observe(lambda _: self._render_referrers(), names="referrers")
        s.observe(lambda _: self._on_trace_changed(), names="trace")
        s.observe(lambda _: self._render_tags(), names=["tags", "tags_more"])

    # -- user actions --------------------------------------------------------------------------------

    def _on_reference_text(self, change) -> None:
        if self._syncing:
            return
        text = (change["new"] or "").strip()
        if text and text != self.state.reference:
            self._text_resolved = (text, time.monotonic())
            self.state.resolve(text)

    def _on_resolve_click(self, _button) -> None:
        # Clicking Resolve right after typing first blurs the field, which sends its value and
        # resolves it (continuous_update=False); the click that follows must not do it again.
        text = self.reference_text.value.strip()
        typed, when = self._text_resolved
        self._text_resolved = ("", 0.0)
        if text == typed and time.monotonic() - when < CLICK_AFTER_BLUR_S:
            return
        self.state.resolve(text)

    def _on_platform(self, change) -> None:
        if self._syncing or not change["new"]:
            return
        if not self.state.choose_platform(change["new"]):
            self._render_platforms()  # put the dropdown back on what is shown

    def _on_layer_select(self, change) -> None:
        if not self._syncing:
            self.state.select(list(change["new"]))

    def _on_files_layer(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.load_files(change["new"])

    def _on_file(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.select_file(change["new"])

    def _on_referrer(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.open_referrer(change["new"])

    def _on_tag(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.open_tag(change["new"])

    def _on_trace_row(self, change) -> None:
        if change["new"] is not None:
            self.curl_text.value = self.state.curl(change["new"])

    def _load_referrers(self) -> None:
        if self.state.load_referrers():
            self._referrers_for = self.state.descriptor.digest

    def _on_tab(self, change) -> None:
        self._load_open_tab()

    def _load_open_tab(self) -> None:
        """Tabs load lazily, when shown: referrers and tags (a request each), files of small images."""
        index = self.tabs.selected_index
        name = TABS[index] if index is not None else None
        s = self.state
        if name == "Referrers" and s.descriptor is not None and self._referrers_for != s.descriptor.digest:
            self._load_referrers()
        elif name == "Tags" and s.ref is not None and not s.tags:
            s.load_tags()
        elif name == "Files" and s.manifest is not None and not s.files_total:
            layers = s.manifest.layers
            small = sum(max(d.size, 0) for d in layers) <= AUTO_LIST_BYTES
            if small and all(mt.is_layer(d.media_type) for d in layers):
                s.load_files(self.files_layer_dropdown.value or MERGED)
        elif name == "HTTP" and self._trace_dirty:
            self._render_trace()

    # -- rendering -----------------------------------------------------------------------------------

    def _render_all(self) -> None:
        self._render_status()
        self._render_error()
        self._render_reference()
        self._render_history_buttons()
        self._render_descriptor()
        self._render_platforms()
        self._render_manifest()
        self._render_choices()
        self._render_fetching()
        self._render_fetched()
        self._render_trace()
        self._render_tags()

    def _render_status(self) -> None:
        self.status_html.value = render.status_html(self.state.status, self.state.busy)

    def _render_error(self) -> None:
        self.error_html.value = render.error_html(self.state.error)
        self.error_html.layout.display = "" if self.state.error else "none"

    def _render_reference(self) -> None:
        with self._sync():
            self.reference_text.value = self.state.reference

    def _render_history_buttons(self) -> None:
        self.back_button.disabled = not self.state.back_stack
        self.forward_button.disabled = not self.state.forward_stack

    def _render_descriptor(self) -> None:
        s = self.state
        self.descriptor_html.value = render.descriptor_card(s.descriptor, s.index, s.subject)

    def _render_platforms(self) -> None:
        s = self.state
        with self._sync():
            if list(self.platform_dropdown.options) != s.platforms:
                self.platform_dropdown.options = list(s.platforms)
            self.platform_dropdown.value = s.platform if s.platform in s.platforms else None
        self.platform_dropdown.disabled = s.index is None

    def _render_manifest(self) -> None:
        s = self.state
        m = s.manifest
        self.layers_html.value = render.layers_table(s.layers)
        self.config_html.value = render.config_pane(s.config) if m is not None else ""
        self.history_html.value = render.history_table(s.build_history) if m is not None else ""
        options = [("merged filesystem", MERGED)]
        if m is not None:
            options += [(layer_label(i, d), d.digest) for i, d in enumerate(m.layers)]
        with self._sync():
            self.files_layer_dropdown.options = options
            self.files_layer_dropdown.value = MERGED
        self._render_files()
        self._render_file_info()
        self._render_subject()
        self._referrers_for = None
        self._render_referrers()
        self._render_tag_value()
        if m is not None:
            self._load_open_tab()  # the tab on screen shows the new image's listing, not a stale one

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
        if set(progress) != set(self.blob_bars):  # a new fetch: one bar per blob, in selection order
            self.blob_bars = {}
            for digest, (_, total) in progress.items():
                bar = _hook(w.IntProgress(value=0, min=0, max=max(total, 1), description=digest12(digest)[7:],
                                          layout=w.Layout(width="32em")), "rx-progress-blob")
                self.blob_bars[digest] = (bar, w.Label())
            self.blob_box.children = [w.HBox([bar, label]) for bar, label in self.blob_bars.values()]
            self.overall_bar.bar_style = ""
        for digest, (done, total) in progress.items():
            bar, label = self.blob_bars[digest]
            bar.max = max(total, 1)
            bar.value = min(done, bar.max)
            label.value = f"{human_size(done)} of {human_size(total)}"

    def _render_overall(self) -> None:
        done, total = self.state.overall
        self.overall_bar.max = max(total, 1)
        self.overall_bar.value = min(done, self.overall_bar.max)
        self.overall_label.value = f"{human_size(done)} of {human_size(total)}" if total else ""

    def _render_fetched(self) -> None:
        self.fetched_html.value = render.fetched_list(self.state.fetched)

    def _render_files(self) -> None:
        s = self.state
        rows = s.files[:FILES_SHOWN]
        options = [(_file_label(r), r["path"]) for r in rows]
        with self._sync():
            self.files_select.options = options
            self.files_select.index = None
            if self.files_layer_dropdown.value != s.files_layer and s.files_layer in {v for _, v in
                                                                                       self.files_layer_dropdown.options}:
                self.files_layer_dropdown.value = s.files_layer
        if not s.files_total:
            self.files_count.value = ""
        elif len(s.files) > len(rows):
            self.files_count.value = f"showing {len(rows)} of {len(s.files)} matches; filter to narrow"
        else:
            self.files_count.value = f"{len(s.files)} of {s.files_total} entries"

    def _render_file_info(self) -> None:
        self.file_info_html.value = render.file_info_html(self.state.file_info)

    def _render_subject(self) -> None:
        subject = self.state.subject
        if subject is None:
            self.subject_html.value = ""
            self.subject_button.layout.display = "none"
        else:
            self.subject_html.value = render.esc(f"This manifest refers to {subject.digest} (its subject).")
            self.subject_button.layout.display = ""

    def _render_referrers(self) -> None:
        rows = self.state.referrers
        options = [(f"{digest12(r['digest'])}  {r['artifact_type'] or r['media_type']}  {human_size(r['size'])}",
                    r["digest"]) for r in rows]
        with self._sync():
            self.referrers_select.options = options
            self.referrers_select.index = None
        if self._referrers_for is None:
            self.referrers_note.value = ""
        else:
            self.referrers_note.value = f"{len(rows)} referrer(s); click one to open it" if rows else "no referrers"

    def _on_trace_changed(self) -> None:
        if self.tabs.selected_index is not None and TABS[self.tabs.selected_index] == "HTTP":
            self._render_trace()
        else:
            self._trace_dirty = True  # rendered when the tab is opened

    def _render_trace(self) -> None:
        df = self.state.trace
        self.trace_html.value = render.trace_table(df)
        self._trace_dirty = False
        if df is None or len(df) == 0:
            options = []
        else:
            tail = df.tail(render.TRACE_ROWS)
            options = [(f"#{r['seq']} {r['method']} {_int_or_dash(r['status'])} {r['purpose']}  {r['url']}",
                        int(r["seq"])) for r in tail.to_dict("records")][::-1]
        with self._sync():
            keep = self.trace_select.value
            self.trace_select.options = options
            self.trace_select.value = keep if keep in {v for _, v in options} else None

    def _render_tags(self) -> None:
        s = self.state
        with self._sync():
            if list(self.tags_select.options) != s.tags:
                self.tags_select.options = list(s.tags)
        self._render_tag_value()
        self.more_tags_button.disabled = not s.tags_more
        self.tags_note.value = f"{len(s.tags)} shown" + (", more available" if s.tags_more else "") if s.tags else ""

    def _render_tag_value(self) -> None:
        ref = self.state.ref
        tag = getattr(ref, "tag", None) if ref is not None and not getattr(ref, "digest", None) else None
        with self._sync():
            self.tags_select.value = tag if tag in self.state.tags else None
