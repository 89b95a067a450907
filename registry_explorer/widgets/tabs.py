"""The Explorer's view decisions, kept in the state: which tab loads what when shown, and typed input.

The view (view.py) only reports what the user did (a tab opened, the reference field
submitted, Resolve clicked); whether that costs a request, and which one, is decided here so
pytest can drive it without a kernel. No ipywidgets here.
"""

from __future__ import annotations

import time

from traitlets import Unicode

from ..core import mediatypes as mt
from ..core.units import human_size
from .filetab import MERGED
from .state_base import StateCore, serialized

# The view's tabs, in order; the state only needs the names to decide what each one lists.
TABS = ("Layers", "Config", "History", "Files", "Referrers", "HTTP", "Tags", "Supply chain", "Packages")
# Opening the Files tab lists the merged filesystem by itself only if that reads this little;
# otherwise the user asks ("List files" or a layer), since the listing streams every layer.
AUTO_LIST_BYTES = 64 << 20
# A click on Resolve this soon after the field resolved the same text on blur is that same click.
CLICK_AFTER_BLUR_S = 2.0


class TabsMixin(StateCore):
    """open_tab() and its lazy loading; submit_text()/click_resolve() for the reference field."""

    tab = Unicode("", help="The tab on screen ('' when headless); open_tab() sets it.")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._typed: tuple[str, float] = ("", 0.0)  # what the field resolved on Enter/blur, and when

    # -- tabs ----------------------------------------------------------------------------------------

    def small_enough_to_list(self) -> bool:
        """True if the merged file listing of the shown image is cheap enough to run unasked.

        Only filesystem layers qualify: an artifact's blobs (SBOMs, signatures) are not tars.
        A negative size (unknown, schema1) counts as 0.
        """
        m = self.manifest
        if m is None:
            return False
        layers = m.layers
        small = sum(max(d.size, 0) for d in layers) <= AUTO_LIST_BYTES
        return small and all(mt.is_layer(d.media_type) for d in layers)

    def files_hint(self) -> str:
        """What the Files tab says before anything is listed (a big image is not listed unasked)."""
        m = self.manifest
        if m is None or self.files_total:
            return ""
        if not all(mt.is_layer(d.media_type) for d in m.layers):
            return "This is an artifact: its blobs are not filesystem layers, so there are no files to list."
        total = sum(max(d.size, 0) for d in m.layers)
        return (f"Not listed yet: the layers hold {human_size(total)} (compressed), and listing reads each of them "
                "once, verified. Click List files for the whole image, or choose one layer.")

    def tab_needs_loading(self, name: str | None = None) -> bool:
        """Whether showing tab `name` (default: the current tab) should fetch its listing now."""
        name = self.tab if name is None else name
        if name == "Referrers":
            return self.descriptor is not None and self.referrers_for != self.descriptor.digest
        if name == "Tags":
            return self.ref is not None and not self.tags
        if name == "Supply chain":  # navigation.py
            return self.descriptor is not None and self.supply_for != self.descriptor.digest
        if name == "Files":
            return self.manifest is not None and not self.files_total and self.small_enough_to_list()
        return False

    @serialized
    def open_tab(self, name: str | None, layer: str = MERGED) -> bool:
        """Show tab `name`, loading what it lists when not loaded yet (referrers, tags, small images' files).

        `layer` is the Files tab's layer choice. True if something was loaded.
        """
        self.tab = name or ""
        return self._load_tab(layer)

    def _load_tab(self, layer: str = MERGED) -> bool:
        """Load the current tab's listing if it needs one (also after a new image is shown)."""
        if not self.tab_needs_loading():
            return False
        if self.tab == "Referrers":
            return self.load_referrers()
        if self.tab == "Tags":
            return self.load_tags()
        if self.tab == "Supply chain":
            return self.load_supply()
        return self.load_files(layer or MERGED)

    # -- the reference field ---------------------------------------------------------------------------

    @serialized
    def submit_text(self, text: str | None) -> bool:
        """The reference field was submitted (Enter, or leaving it): resolve it unless it is already shown.

        True if it resolved; False if there was nothing new to resolve or resolving failed.
        """
        text = (text or "").strip()
        if not text or text == self.reference:
            return False
        self._typed = (text, time.monotonic())
        return self.resolve(text)

    @serialized
    def click_resolve(self, text: str | None) -> bool:
        """Resolve was clicked with the field holding `text`.

        Clicking Resolve right after typing first blurs the field, which sends its value and
        resolves it (the field has continuous_update=False); the click that follows must not
        resolve it again. True if it resolved.
        """
        text = (text or "").strip()
        typed, when = self._typed
        self._typed = ("", 0.0)
        # The field may hold the shown reference again by now: a resolve refused during a fetch
        # puts it back (the view never names an image that is not on screen). The click is
        # still the one that blurred the field, not a request to resolve the shown image.
        if text in (typed, self.reference) and typed and time.monotonic() - when < CLICK_AFTER_BLUR_S:
            return False
        return self.resolve(text)
