"""The Explorer widget: an ipywidgets view over ExplorerState. It observes traits and calls methods.

All logic lives in the state (decisions about what a tab loads, or whether a click repeats a
blur, in tabs.py); this module and its pane mixins (pane_layers, pane_files, pane_lists) only
lay out widgets, copy state into them and turn clicks into state calls. HTML panes are `widgets.HTML` values, never `with out:` blocks,
so saved notebooks compare cleanly (nbval).

CSS class hooks (`add_class`) are a contract with the browser tests: rx-explorer (root),
rx-reference, rx-resolve, rx-back, rx-forward, rx-status, rx-error, rx-descriptor, rx-platform,
rx-tabs; Layers: rx-layers-table, rx-layer-select, rx-dest, rx-fetch, rx-cancel,
rx-progress-blob, rx-progress-overall, rx-fetched; rx-config; rx-history; Files: rx-files-layer,
rx-files-load, rx-files-filter, rx-files, rx-file-info; Referrers: rx-referrers,
rx-load-referrers, rx-open-subject; HTTP: rx-trace, rx-trace-refresh, rx-trace-select, rx-curl;
Tags: rx-tags, rx-load-tags, rx-more-tags; navigation and Supply chain: see pane_supply.py; Packages: see
pane_packages.py.
"""

from __future__ import annotations

import threading

from traitlets import List, Unicode, dlink, link

from ...core.extras import require

# ipywidgets is the `widgets` extra: without it, importing the view raises rx.MissingExtra,
# before any pane below imports it.
w = require("ipywidgets", "widgets", "The Explorer widget")

from ..labels import digest12, kind  # noqa: E402
from ..runnable import replay_for  # noqa: E402
from ..state import MERGED, ExplorerState  # noqa: E402
from ..tabs import AUTO_LIST_BYTES, CLICK_AFTER_BLUR_S, TABS  # noqa: E402
from . import render  # noqa: E402
from .pane_files import FILES_SHOWN, FilesPane  # noqa: E402
from .pane_layers import LayersPane  # noqa: E402
from .pane_lists import ListsPane  # noqa: E402
from .pane_packages import PackagesPane  # noqa: E402
from .pane_supply import SupplyPane  # noqa: E402
from .viewkit import EXPLORER_CSS, WIDE, SyncMixin, hook, scrolling  # noqa: E402

__all__ = ["AUTO_LIST_BYTES", "CLICK_AFTER_BLUR_S", "FILES_SHOWN", "TABS", "Explorer"]


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


class Explorer(LayersPane, FilesPane, ListsPane, SupplyPane, PackagesPane, SyncMixin, w.VBox):
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

    def __init__(self, client=None, reference: str = "", *, public_key=None, **kwargs):
        self.state = ExplorerState(client)
        self.state.public_key = public_key  # the Supply chain tab verifies cosign signatures with it
        self._local = threading.local()  # see SyncMixin
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
        self._on_tab(None)  # the state learns which tab is on screen
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

    def _repr_mimebundle_(self, **kwargs):
        """The widget, plus a text and HTML fallback of what it shows for a notebook saved without widget state."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):  # (data, metadata) from some ipywidgets versions
            data, meta = bundle
        else:
            data, meta = bundle, None
        if data is not None:
            data = dict(data)
            data["text/plain"] = render.offline_text(self.state)
            data["text/html"] = render.offline_html(self.state)
        return (data, meta) if meta is not None else data

    # -- building ----------------------------------------------------------------------------------

    def _build(self) -> None:
        self.back_button = hook(w.Button(description="◀", tooltip="Back", layout=w.Layout(width="3em")), "rx-back")
        self.forward_button = hook(w.Button(description="▶", tooltip="Forward", layout=w.Layout(width="3em")),
                                   "rx-forward")
        # continuous_update=False: the value reaches the kernel on Enter (or leaving the field).
        self.reference_text = hook(w.Text(placeholder="alpine:3.20 or registry.example.com/org/app:tag",
                                          continuous_update=False, layout=w.Layout(flex="1 1 auto")),
                                   "rx-reference")
        self.resolve_button = hook(w.Button(description="Resolve", button_style="primary"), "rx-resolve")
        self.status_html = hook(w.HTML(), "rx-status")
        self.error_html = hook(w.HTML(), "rx-error")
        self.css_html = w.HTML(EXPLORER_CSS, layout=w.Layout(display="none"))
        self.descriptor_html = scrolling(hook(w.HTML(), "rx-descriptor"))
        # Collapsible: on a small screen the card (an index lists every platform) would push the
        # tabs below the fold. An Accordion keeps the user's choice across resolves.
        self.descriptor_box = hook(w.Accordion(children=[self.descriptor_html], selected_index=0),
                                   "rx-descriptor-card")
        self.descriptor_box.titles = ("Descriptor",)
        self.platform_dropdown = hook(w.Dropdown(options=[], description="Platform",
                                                 layout=w.Layout(width=WIDE)), "rx-platform")
        panes = {**self._build_layers(), **self._build_files(), **self._build_lists(), **self._build_supply(),
                 **self._build_packages()}
        # Tabs as ToggleButtons over a Stack, not an ipywidgets Tab: a Tab's Lumino tab bar listens for
        # clicks only once Lumino has attached it, and JupyterLab draws the cells of a long notebook
        # lazily (windowing), so an Explorer at the end of notebook 02, restored after a reload, had a
        # tab bar that ignored every click and kept the tab it was saved with (issue 26, defect 6).
        # Buttons take their clicks through the DOM, attached or not.
        self.tab_buttons = hook(w.ToggleButtons(options=list(TABS), value=TABS[0], style={"button_width": "auto"}),
                                "rx-tab-buttons")
        self.tabs = hook(w.Stack(children=[panes[t] for t in TABS], selected_index=0), "rx-tabs")
        self.tabs.titles = TABS
        link((self.tab_buttons, "index"), (self.tabs, "selected_index"))

    def _layout(self) -> list[w.Widget]:
        top = w.HBox([self.back_button, self.forward_button, self.reference_text, self.resolve_button])
        # The error box sits right above the tabs: next to the tab's buttons that failed, and for a
        # failed resolve (no card, no platforms) right under the reference field.
        return [self.css_html, top, self.status_html, self.shown_html, self.nav_box,
                self.document_html, self.descriptor_box, self.platform_dropdown, self.error_html, self.tab_buttons,
                self.tabs]

    # -- wiring ------------------------------------------------------------------------------------

    def _wire(self) -> None:
        s = self.state
        self.resolve_button.on_click(lambda _: s.click_resolve(self.reference_text.value))
        self.reference_text.observe(self._on_reference_text, names="value")
        self.back_button.on_click(lambda _: s.back())
        self.forward_button.on_click(lambda _: s.forward())
        self.platform_dropdown.observe(self._on_platform, names="value")
        self.tabs.observe(self._on_tab, names="selected_index")
        self._wire_layers()
        self._wire_files()
        self._wire_lists()
        self._wire_supply()
        self._wire_packages()
        s.observe(lambda _: self._render_status(), names=["status", "busy", "error"])
        s.observe(lambda _: self._render_error(), names="error")
        s.observe(lambda _: self._render_reference(), names="reference")
        s.observe(lambda _: self._render_history_buttons(), names=["back_stack", "forward_stack"])
        s.observe(lambda _: self._render_descriptor(), names=["descriptor", "index", "subject"])
        s.observe(lambda _: self._render_platforms(), names=["platforms", "platform"])
        s.observe(lambda _: self._render_manifest(), names="manifest")

    # -- user actions --------------------------------------------------------------------------------

    def _on_reference_text(self, change) -> None:
        if not self._syncing and not self.state.submit_text(change["new"]) and self.state.fetching:
            # Refused during a fetch (the error says why): the field goes back to the image shown,
            # so it never names an image that is not on screen, and submitting it again works.
            self._render_reference()

    def _on_platform(self, change) -> None:
        if self._syncing or not change["new"]:
            return
        if not self.state.choose_platform(change["new"]):
            self._render_platforms()  # put the dropdown back on what is shown

    def _on_tab(self, change) -> None:
        index = self.tabs.selected_index
        name = TABS[index] if index is not None else None
        self.state.open_tab(name, self.files_layer_dropdown.value or MERGED)
        if name == "HTTP" and self._trace_dirty:
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
        self._render_dest()
        self._render_trace()
        self._render_tags()
        self._render_links()
        self._render_shown()
        self._render_supply()
        self._render_packages()

    def _render_status(self) -> None:
        self.status_html.value = render.status_html(self.state.status, self.state.busy, self.state.error)

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
        self.descriptor_html.value = render.descriptor_card(s.descriptor, s.index, s.subject, replay_for(s.client, s.ref))
        d = s.descriptor
        self.descriptor_box.titles = (f"Descriptor: {kind(d.media_type)} {digest12(d.digest)}" if d is not None
                                      else "Descriptor",)
        self.descriptor_box.layout.display = "" if d is not None else "none"

    def _render_platforms(self) -> None:
        s = self.state
        with self._sync():
            if list(self.platform_dropdown.options) != s.platforms:
                self.platform_dropdown.options = list(s.platforms)
            self.platform_dropdown.value = s.platform if s.platform in s.platforms else None
        self.platform_dropdown.disabled = s.index is None

    def _render_manifest(self) -> None:
        """A new image (or none): every pane that shows it. The state then loads the open tab's list."""
        self._render_layer_panes()
        self._render_files_pane()
        self._render_subject()
        self._render_referrers()
        self._render_tag_value()
