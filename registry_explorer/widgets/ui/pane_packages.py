"""The Explorer's Packages tab: what is installed in the image shown, with the layer and build step that put it there.

A view mixin of `Explorer` (explorer.py): it builds, wires and renders; loading, filtering and what the
tab loads when shown are PackagesMixin's (widgets/packages.py). The table is an HTML value (escaped by
pandas), never a `with out:` block. CSS hooks (browser tests): rx-packages-load, rx-packages-sbom,
rx-packages-filter, rx-packages-cost, rx-packages, rx-packages-errors.
"""

from __future__ import annotations

import html

import ipywidgets as w

from ..labels import plural
from ..packages import PACKAGES_SHOWN
from .viewkit import WIDE, hook, scrolling

# Columns of the table (the frame has more: source_package, license; `rx.packages` gives them all).
SHOWN = ["ecosystem", "name", "version", "architecture", "layer", "created_by", "database"]
SHOWN_SBOM = ["ecosystem", "name", "version", "sbom_version", "status", "layer", "created_by"]


class PackagesPane:
    """A button (and an SBOM switch) that reads the packages, a filter, the table, what it cost, what was not read."""

    def _build_packages(self) -> dict[str, w.Widget]:
        self.packages_button = hook(w.Button(description="Read packages"), "rx-packages-load")
        self.packages_sbom_box = hook(w.Checkbox(value=False, description="next to the SBOM", indent=False),
                                      "rx-packages-sbom")
        self.packages_filter_text = hook(w.Text(placeholder="filter by name", layout=w.Layout(width=WIDE)),
                                         "rx-packages-filter")
        self.packages_cost_label = hook(w.Label(), "rx-packages-cost")
        self.packages_html = scrolling(hook(w.HTML(), "rx-packages"))
        self.packages_errors_html = hook(w.HTML(), "rx-packages-errors")
        top = w.HBox([self.packages_button, self.packages_sbom_box, self.packages_filter_text])
        return {"Packages": w.VBox([top, self.packages_cost_label, self.packages_errors_html, self.packages_html])}

    def _wire_packages(self) -> None:
        s = self.state
        self.packages_button.on_click(lambda _: s.load_packages(self.packages_sbom_box.value))
        self.packages_filter_text.observe(self._on_packages_filter, names="value")
        s.observe(lambda _: self._render_packages(), names=["packages", "packages_filter", "manifest"])

    def _on_packages_filter(self, change) -> None:
        if not self._syncing:
            self.state.packages_filter = change["new"] or ""

    def _render_packages(self) -> None:
        s = self.state
        df = s.shown_packages()
        with self._sync():
            self.packages_filter_text.value = s.packages_filter
            self.packages_sbom_box.value = s.packages_sbom
        self.packages_cost_label.value = s.packages_cost
        errors = "".join(f"<li><code>{html.escape(str(e['database']))}</code> (layer {html.escape(str(e['layer']))}): "
                         f"{html.escape(str(e['message']))}</li>" for e in s.packages_errors)
        self.packages_errors_html.value = f"<b>Not read</b><ul>{errors}</ul>" if errors else ""
        if df is None:
            self.packages_html.value = "<i>Not read yet: press Read packages.</i>" if s.manifest is not None else ""
            return
        total = len(s.packages)
        cols = [c for c in (SHOWN_SBOM if s.packages_sbom else SHOWN) if c in df.columns]
        more = "" if len(df) < PACKAGES_SHOWN else f"<p>The first {PACKAGES_SHOWN} rows; filter to see others.</p>"
        self.packages_html.value = (f"<p>{plural(len(df), 'row')} of {total}</p>{more}"
                                    + df[cols].to_html(index=False, escape=True, na_rep="", border=0))
