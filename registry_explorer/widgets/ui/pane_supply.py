"""The Explorer's digest navigation bar, the object shown in place, and the Supply chain tab.

A view mixin of `Explorer` (view.py): it builds, wires and renders; the decisions (what a digest
opens, history, loading the supply chain) are NavMixin's (navigation.py). Every digest the state
lists in `links` becomes a button whose tooltip is the full digest; clicking it calls open_digest.
CSS hooks (browser tests): rx-nav, rx-nav-link, rx-shown, rx-document, rx-supply, rx-load-supply.
"""

from __future__ import annotations

import ipywidgets as w

from ...html.page import _esc, _wrap
from ..labels import digest12, plural
from .viewkit import FULL_WIDTH, hook


def _document_html(doc) -> str:
    if doc is None:
        return ""
    rich = getattr(doc, "_repr_html_", None)
    return rich() if rich is not None else _wrap(f"<pre>{_esc(repr(doc))}</pre>")


class SupplyPane:
    """Digest links (buttons), the in-place object, and the Supply chain table."""

    def _build_supply(self) -> dict[str, w.Widget]:
        self.nav_box = hook(w.HBox(layout=w.Layout(flex_flow="row wrap")), "rx-nav")
        self.shown_html = hook(w.HTML(), "rx-shown")
        self.document_html = hook(w.HTML(), "rx-document")
        self.supply_button = hook(w.Button(description="Find attached objects", layout=w.Layout(width="auto")),
                                  "rx-load-supply")
        self.supply_note = w.Label()
        self.supply_select = hook(w.Select(options=[], rows=8, layout=w.Layout(width=FULL_WIDTH)), "rx-supply")
        return {"Supply chain": w.VBox([w.HBox([self.supply_button, self.supply_note]), self.supply_select])}

    def _wire_supply(self) -> None:
        s = self.state
        self.supply_button.on_click(lambda _: s.load_supply())
        self.supply_select.observe(self._on_supply_row, names="value")
        s.observe(lambda _: self._render_links(), names="links")
        s.observe(lambda _: self._render_shown(), names=["shown_kind", "shown_digest", "document"])
        s.observe(lambda _: self._render_supply(), names=["supply", "supply_for"])

    def _on_supply_row(self, change) -> None:
        if not self._syncing and change["new"] is not None:
            self.state.open_supply_row(change["new"])

    def _link_button(self, link: dict) -> w.Button:
        button = w.Button(description=f"{link['label']} {digest12(link['digest'])}", tooltip=link["digest"],
                          layout=w.Layout(width="auto"))
        button.add_class("rx-nav-link")
        button.on_click(lambda _, d=link["digest"]: self.state.open_digest(d))
        return button

    def _render_links(self) -> None:
        self.nav_box.children = [self._link_button(lk) for lk in self.state.links]

    def _render_shown(self) -> None:
        s = self.state
        if not s.shown_digest:
            self.shown_html.value = ""
        else:
            # The full digest as text (selectable), and repo@digest to copy.
            repo = f"{s.ref.registry}/{s.ref.repository}@" if s.ref is not None else ""
            self.shown_html.value = _wrap(f"<b>{_esc(s.shown_kind)}</b> <code class=\"rx-shown-digest\">"
                                          f"{_esc(s.shown_digest)}</code> <code>{_esc(repo + s.shown_digest)}</code>")
        self.document_html.value = _document_html(s.document)
        self.document_html.layout.display = "" if s.document is not None else "none"

    def _render_supply(self) -> None:
        rows = self.state.supply
        # A signature's verdict comes right after its kind: on a narrow screen the end of a row is cut off.
        options = [(f"{r['kind']}  " + (f"[{r['verification']}]  " if r.get("verification") else "")
                    + f"{r['type'] or ''}  [{r['found']}]  {digest12(r['digest'] or '')}", i)
                   for i, r in enumerate(rows)]
        with self._sync():
            self.supply_select.options = options
            self.supply_select.index = None
        if not self.state.supply_for:
            self.supply_note.value = ""
        else:
            self.supply_note.value = f"{plural(len(rows), 'attached object')}; click one to read it" if rows else "nothing attached"
