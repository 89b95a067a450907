"""The Explorer's Referrers, HTTP and Tags tabs: lists the user opens an entry from.

A view mixin of `Explorer` (view.py). The lists are loaded by the state when their tab is
shown (tabs.py); here they are only built, wired and rendered. The HTTP table is re-rendered
only while its tab is on screen: a resolve makes several requests, each one updating the trace.
"""

from __future__ import annotations

import ipywidgets as w

from ...core.units import human_size
from ..labels import digest12, exchange_note, http_hosts, plural
from . import render
from .viewkit import FULL_WIDTH, hook, scrolling


def _int_or_dash(value) -> str:
    """A status code from the trace frame (a float when some are missing) as '200', or '—'."""
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "—"


def _select(rows: int, cls: str, **kwargs) -> w.Select:
    return hook(w.Select(options=[], rows=rows, layout=w.Layout(width=FULL_WIDTH), **kwargs), cls)


class ListsPane:
    """Referrers (and the subject), HTTP (the trace and curl), Tags (paged)."""

    def _build_lists(self) -> dict[str, w.Widget]:
        self.subject_html = w.HTML()
        self.subject_button = hook(w.Button(description="Open subject", layout=w.Layout(display="none")),
                                   "rx-open-subject")
        self.referrers_button = hook(w.Button(description="Find referrers"), "rx-load-referrers")
        self.referrers_note = w.Label()
        self.referrers_select = _select(6, "rx-referrers")
        self.trace_button = hook(w.Button(description="Refresh"), "rx-trace-refresh")
        self.trace_html = scrolling(hook(w.HTML(), "rx-trace"))
        self.trace_select = _select(6, "rx-trace-select", description="curl for")
        self.curl_text = hook(w.Textarea(layout=w.Layout(width=FULL_WIDTH, height="5em")), "rx-curl")
        self.tags_button = hook(w.Button(description="Load tags"), "rx-load-tags")
        self.more_tags_button = hook(w.Button(description="More tags", disabled=True), "rx-more-tags")
        self.tags_note = w.Label()
        self.tags_select = _select(10, "rx-tags")
        self._trace_dirty = True  # the trace changed while the HTTP tab was hidden
        return {
            "Referrers": w.VBox([self.subject_html, self.subject_button,
                                 w.HBox([self.referrers_button, self.referrers_note]), self.referrers_select]),
            "HTTP": w.VBox([self.trace_button, self.trace_html, self.trace_select, self.curl_text]),
            "Tags": w.VBox([w.HBox([self.tags_button, self.more_tags_button, self.tags_note]), self.tags_select]),
        }

    def _wire_lists(self) -> None:
        s = self.state
        self.subject_button.on_click(lambda _: s.open_subject())
        self.referrers_button.on_click(lambda _: s.load_referrers())
        self.referrers_select.observe(self._on_referrer, names="value")
        self.trace_button.on_click(lambda _: s.refresh_trace())
        self.trace_select.observe(self._on_trace_row, names="value")
        self.tags_button.on_click(lambda _: s.load_tags())
        self.more_tags_button.on_click(lambda _: s.more_tags())
        self.tags_select.observe(self._on_tag, names="value")
        s.observe(lambda _: self._render_referrers(), names=["referrers", "referrers_for"])
        s.observe(lambda _: self._on_trace_changed(), names="trace")
        s.observe(lambda _: self._render_tags(), names=["tags", "tags_more"])

    def _on_referrer(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.open_referrer(change["new"])

    def _on_tag(self, change) -> None:
        if not self._syncing and change["new"]:
            self.state.open_tag(change["new"])

    def _on_trace_row(self, change) -> None:
        if change["new"] is not None:
            self.curl_text.value = self.state.curl(change["new"])

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
        if self.state.referrers_for is None:
            self.referrers_note.value = ""
        else:
            self.referrers_note.value = f"{plural(len(rows), 'referrer')}; click one to open it" if rows else "no referrers"

    def _on_trace_changed(self) -> None:
        if self.state.tab == "HTTP":
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
            # The table's rows in the table's order (oldest first), labelled as the table labels them.
            plain = http_hosts(df.to_dict("records"))
            options = [(f"#{r['seq']} {r['method']} {exchange_note(r, plain) or _int_or_dash(r['status'])} "
                        f"{r['purpose']}  {r['url']}", int(r["seq"]))
                       for r in df.tail(render.TRACE_ROWS).to_dict("records")]
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
        # Highlight the tag shown; a reference by digest names no tag, even if one points at it.
        ref = self.state.ref
        tag = getattr(ref, "tag", None) if ref is not None and not getattr(ref, "digest", None) else None
        with self._sync():
            self.tags_select.value = tag if tag in self.state.tags else None
