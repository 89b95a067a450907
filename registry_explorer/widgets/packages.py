"""The Explorer's Packages tab, as state: what is installed in the image shown, and which layer installed it.

`load_packages()` reads the image's package databases (`rx.packages`: through the image filesystem, from
the layer indexes, without pulling) and keeps the frame, what could not be read and what it cost. Opening
the tab loads it by itself only for an image small enough to list unasked (tabs.py's rule for Files);
otherwise the user asks. `sbom=True` puts the image's SBOM next to the installed packages. No ipywidgets
here: pytest drives it headless.
"""

from __future__ import annotations

from traitlets import Any as AnyTrait
from traitlets import Bool, List, Unicode, observe

from ..core.units import human_size
from ..frames.inventory_tables import packages
from .filetab import MERGED
from .labels import digest12, plural
from .state_base import StateCore, serialized

__all__ = ["PACKAGES_SHOWN", "PackagesMixin"]

# Rows the tab shows at once (a filter narrows them): a Debian desktop image lists ~3,000 packages.
PACKAGES_SHOWN = 500


class PackagesMixin(StateCore):
    """packages / load_packages / packages_filter: the Packages tab (placed before TabsMixin in ExplorerState)."""

    packages = AnyTrait(None, help="rx.packages of the image shown (None until loaded).")
    packages_for = Unicode("", help="The manifest digest `packages` was read for.")
    packages_sbom = Bool(False, help="Whether `packages` is the comparison with the image's SBOM.")
    packages_errors = List(help="The databases that could not be read (dicts: database, layer, error, message).")
    packages_cost = Unicode("", help="What reading them cost, in a sentence.")
    packages_filter = Unicode("", help="Show only packages whose name (or ecosystem) contains this text.")

    # -- the tab ---------------------------------------------------------------------------------------

    def tab_needs_loading(self, name: str | None = None) -> bool:
        """Packages: an image shown whose packages are not read yet, small enough to read unasked."""
        name = self.tab if name is None else name
        if name == "Packages":
            m = self.manifest
            return m is not None and self.packages_for != m.digest and self.small_enough_to_list()
        return super().tab_needs_loading(name)

    def _load_tab(self, layer: str = MERGED) -> bool:
        if self.tab == "Packages":
            return self.load_packages() if self.tab_needs_loading() else False
        return super()._load_tab(layer)

    @observe("manifest")
    def _forget_packages(self, change) -> None:
        """Another image: its packages are not these (the tab reloads them when shown)."""
        if change["new"] is None or change["new"].digest != self.packages_for:
            self.packages, self.packages_for, self.packages_errors, self.packages_cost = None, "", [], ""

    # -- loading ---------------------------------------------------------------------------------------

    @serialized
    def load_packages(self, sbom: bool | None = None) -> bool:
        """Read the package databases of the image shown (with `sbom`, next to its SBOM). True if it worked."""
        m = self.manifest
        if m is None or self.ref is None:
            return self._say("Resolve an image first; its packages are read from its layers.")
        sbom = self.packages_sbom if sbom is None else bool(sbom)
        ref = self.ref.repo().with_digest(m.digest)
        with self._operation(f"Reading the package databases of {digest12(m.digest)}…"):
            try:
                df = packages(self.client, ref, compare_sbom=sbom)
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "reading packages")
        a = df.attrs
        self.packages_sbom, self.packages_errors = sbom, list(a["errors"])
        self.packages_cost = (f"{plural(a['requests'], 'request')}, {human_size(a['bytes_moved'])} moved "
                              f"(pulling the layers: {human_size(a['pull_bytes'])})")
        self.packages_for, self.packages = m.digest, df
        found = len(df) if not sbom else int((df["status"] != "only in SBOM").sum())
        note = "" if not a["errors"] else f"; {plural(len(a['errors']), 'database')} could not be read"
        sbom_note = "" if not sbom else (" next to its SBOM" if a.get("sbom") else "; no SBOM is attached")
        self.status = f"{plural(found, 'package')} installed in {digest12(m.digest)}{sbom_note}{note}."
        return True

    def shown_packages(self):
        """The rows the tab shows: `packages` filtered by `packages_filter`, at most PACKAGES_SHOWN."""
        df = self.packages
        if df is None:
            return None
        text = self.packages_filter.strip().lower()
        if text:
            keep = df["name"].str.lower().str.contains(text, regex=False) | (df["ecosystem"].fillna("") == text)
            df = df[keep]
        return df.head(PACKAGES_SHOWN)
