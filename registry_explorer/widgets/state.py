"""The Explorer's state: everything the widget shows, as traitlets, driven by plain method calls.

No ipywidgets here: tests (and notebook code) drive an `ExplorerState` without a kernel, and
the view in `view.py` only observes these traits and calls these methods. Any object with the
Client read API works as the source (`resolve`, `manifest`, `image`, `config`, `open_blob`,
`fetch_blobs`, `tags`, `referrers`; `parse` and `trace` when it has them), e.g. an OCI layout.

Methods never raise for what a user can get wrong (a bad reference, a missing tag, a network
failure): they return False and put one clear sentence in `error` (and `status`).

This module holds navigation (resolve, history, platforms); fetching.py, listings.py,
tabs.py (what a tab loads when shown) and state_base.py hold the rest.
"""

from __future__ import annotations

from traitlets import Any as AnyTrait
from traitlets import List, Unicode

from .. import frames
from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, PlatformNotFound
from ..core.models import Index, Manifest
from ..core.platform import Platform, select
from ..core.units import human_size
from .fetching import FetchMixin
from .filetab import MERGED, FilesMixin
from .labels import a_kind, config_label, default_platform, digest12, layer_label, platform_entries, plural
from .listings import ListingsMixin
from .navigation import NavMixin
from .packages import PackagesMixin
from .state_base import READY, serialized
from .tabs import TabsMixin

__all__ = ["MERGED", "READY", "ExplorerState"]


class ExplorerState(NavMixin, FetchMixin, FilesMixin, ListingsMixin, PackagesMixin, TabsMixin):
    """What the Explorer shows (traits) and what it can do (methods); usable without a kernel."""

    back_stack = List(help="Earlier (reference, platform) entries; back() returns to the last one.")
    forward_stack = List(help="(reference, platform) entries back() left; forward() returns to them.")
    index = AnyTrait(None, help="The Index, when the reference names one.")
    config = AnyTrait(None, help="The ImageConfig of `manifest` (None for artifacts and schema1).")
    subject = AnyTrait(None, help="The Descriptor `manifest` refers to (OCI 1.1 subject), if any.")
    platforms = List(Unicode(), help="Platform labels of the index; attestations say so in the label.")
    platform = Unicode("", help="The chosen platform label.")
    layers = AnyTrait(None, help="frames.layers(manifest, config): one row per layer.")
    build_history = AnyTrait(None, help="frames.history(config, manifest): the image's build history.")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._entries: list = []  # (label, Descriptor) per index child
        self._keep: list[str] = []  # the selection before a resolve or platform change
        self._current: tuple[str, str | None] | None = None  # the history entry on screen
        self._filter_for: str | None = None  # the manifest digest the Files filter was typed for

    # -- navigation ----------------------------------------------------------------------------------

    @serialized
    def resolve(self, reference: str | None = None, *, platform: str | None = None) -> bool:
        """Resolve `reference` (default: the `reference` trait) and show it; recorded in the history."""
        text = (self.reference if reference is None else str(reference)).strip()
        if self.fetch_blocks(f"resolving {text}"):
            return False
        prev = self._current
        ok = self._load(text, platform)
        # History holds only what loaded: a failed reference is shown (its error) but never
        # becomes an entry that back/forward would request again. What was on screen before a
        # success or a failure is an entry to go back to.
        if prev is not None and (not ok or prev[0] != text):
            self.back_stack = [*self.back_stack, prev]
            self.forward_stack = []
        self._current = (text, platform) if ok else None
        return ok

    @serialized
    def back(self) -> bool:
        """Go to the previous reference (and the platform chosen there)."""
        return self._step("back_stack", "forward_stack")

    @serialized
    def forward(self) -> bool:
        """Go forward again after back()."""
        return self._step("forward_stack", "back_stack")

    def _step(self, source: str, target: str) -> bool:
        """Pop the last entry of the `source` history stack and show it; what was shown goes on `target`."""
        stack = getattr(self, source)
        if not stack:
            return False
        if self.fetch_blocks("going " + source.split("_")[0]):
            return False
        entry, prev = stack[-1], self._current
        ok = self._load(*entry)
        if ok:
            setattr(self, source, stack[:-1])  # a new list: traitlets notifies only on assignment
        # The entry left on screen (loaded) can be returned to; a failed step keeps its entry where
        # it was, to be tried again, and shows the error instead of an entry.
        if prev is not None:
            setattr(self, target, [*getattr(self, target), prev])
        self._current = entry if ok else None
        return ok

    @serialized
    def open_tag(self, tag: str) -> bool:
        """Resolve `tag` in the current repository."""
        if self.ref is None:
            return self._say("Resolve an image first; tags are listed for its repository.")
        return self.resolve(str(self.ref.repo().with_tag(tag)))

    @serialized
    def open_referrer(self, digest: str) -> bool:
        """Resolve the referrer (or any manifest) `digest` in the current repository."""
        if self.ref is None:
            return self._say("Resolve an image first; referrers are looked up in its repository.")
        try:
            target = self.ref.repo().with_digest(digest)
        except Exception as exc:  # noqa: BLE001 - a malformed digest typed in a notebook: an error sentence
            return self._fail(exc, "opening a referrer")
        return self.resolve(str(target))

    @serialized
    def open_subject(self) -> bool:
        """Resolve the manifest the shown artifact refers to (its `subject`)."""
        if self.subject is None:
            return self._say("This manifest has no subject to open.")
        return self.open_referrer(self.subject.digest)

    def _clear(self) -> None:
        self._entries = []
        self.descriptor = self.index = self.config = self.subject = None
        self.layers = self.build_history = None
        self.platforms = []
        self.platform = ""
        self.selected = []
        self.choices = []
        self.referrers = []
        self.referrers_for = None
        self._clear_files()
        self.forget_fetch_of_other_images(None)
        self.manifest = None  # last: observers of `manifest` see everything else already updated

    def _load(self, text: str, platform: str | None) -> bool:
        platform, place = self._split_place(platform)  # navigation.py: a config/document shown in place
        return self._after_load(self._load_reference(text, platform), place)

    def _load_reference(self, text: str, platform: str | None) -> bool:
        self.reference = text
        old_repo = self.ref.name if self.ref is not None else None
        self._keep = list(self.selected)  # re-selected if the new image has the same blobs
        self._clear()
        with self._operation(f"Resolving {text}…"):
            try:
                self.ref = None
                ref = self._parse(text)
                self.ref = ref
                desc = self.client.resolve(ref)
                doc = self.client.manifest(ref, desc)
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "resolving")
            if ref.name != old_repo:  # tags belong to a repository; keep them while it stays
                self._all_tags = None
                self.tags = []
                self.tags_more = False
            self.descriptor = desc
            if isinstance(doc, Index):
                return self._show_index(doc, platform)
            return self._show_image(doc)

    def _show_index(self, index: Index, platform: str | None) -> bool:
        self.index = index
        self._entries = platform_entries(index.manifests)
        self.platforms = [label for label, _ in self._entries]
        label = self._match(platform) if platform else None
        label = label or default_platform(self._entries)
        if label is None:
            return self._say(f"{self.ref} is an index of attestations only; choose one in the platform list.")
        return self._show_platform(label)

    def _show_platform(self, label: str) -> bool:
        desc = dict(self._entries)[label]
        with self._operation(f"Loading {label} of {self.ref}…"):
            try:
                doc = self.client.manifest(self.ref, desc)
                if isinstance(doc, Index):  # an index nested in an index: walk it the usual way
                    doc = self.client.image(self.ref.repo().with_digest(desc.digest))
                config = self._config_of(doc)
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, f"loading {label}")
            self.platform = label
            self._set_manifest(doc, config)
        n = len(self._entries)
        atts = sum(1 for _, d in self._entries if d.is_attestation)
        extra = f" and {plural(atts, 'attestation')}" if atts else ""
        self.status = (f"{self.ref} is {a_kind(self.index.media_type)} of {plural(n - atts, 'platform')}{extra}; "
                       f"showing {label}: {self._summary()}.")
        return True

    def _show_image(self, doc: Manifest) -> bool:
        try:
            config = self._config_of(doc)
        except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
            return self._fail(exc, "reading the config")
        self._set_manifest(doc, config)
        plat = config.platform if config is not None else None
        if plat is not None:
            self.platforms = [str(plat)]
            self.platform = str(plat)
        self.status = f"{self.ref} is {a_kind(doc.media_type)}: {self._summary()}."
        return True

    def _summary(self) -> str:
        m = self.manifest
        sizes = [d.size for d in m.layers if d.size >= 0]
        total = f", {human_size(sum(sizes))}" if sizes else ""
        what = f"artifact {m.artifact_type}, " if m.artifact_type else ""
        return f"{what}{plural(len(m.layers), 'layer')}{total}, digest {digest12(m.digest)}"

    def _config_of(self, doc: Manifest):
        desc = doc.config
        # Artifacts put anything in the config slot (often the 2-byte empty JSON); only images parse.
        if desc is None or not mt.is_config(desc.media_type):
            return None
        return self.client.config(doc)

    def _set_manifest(self, doc: Manifest, config) -> None:
        self.config = config
        try:
            self.subject = doc.subject
        except InvalidManifest:
            self.subject = None
        self.layers = frames.layers(doc, config)
        self.build_history = frames.history(config, doc) if config is not None else None
        choices = [(layer_label(i, d), d.digest) for i, d in enumerate(doc.layers)]
        if doc.config is not None:
            choices.append((config_label(doc.config), doc.config.digest))
        # Blobs selected before that this image also has stay selected: refreshing a tag or
        # switching to a platform that shares layers keeps what the user picked.
        digests = {d for _, d in choices}
        keep, self._keep = [d for d in self._keep if d in digests], []
        self.choices = choices
        self.selected = keep
        self.forget_fetch_of_other_images(doc.digest)
        self.referrers = []
        self.referrers_for = None
        self._clear_files()
        if doc.digest != self._filter_for:  # another image: a filter typed for the last one would hide its files
            self._filter_for = doc.digest
            self.file_filter = ""
        self.manifest = doc  # last: observers of `manifest` see its config, layers and choices ready
        self._load_tab()  # the tab on screen shows the new image's listing, not a stale one

    # -- platforms -------------------------------------------------------------------------------

    def _match(self, wanted: str) -> str | None:
        labels = [label for label, _ in self._entries]
        if wanted in labels:
            return wanted
        for label, d in self._entries:
            if d.digest == wanted:
                return label
        try:
            hits = select(Platform.parse(wanted), [d for _, d in self._entries])
        except ValueError:
            return None
        return labels[hits[0]] if hits else None

    @serialized
    def choose_platform(self, platform: str) -> bool:
        """Show the image of `platform`: a label from `platforms`, a platform string, or a child digest."""
        if self.index is None:
            if platform in self.platforms:
                return True  # a single image: its one platform is already shown
            return self._fail(PlatformNotFound(str(platform), self.platforms), "choosing a platform")
        label = self._match(platform)
        if label is None:
            return self._fail(PlatformNotFound(str(platform), self.platforms), "choosing a platform")
        if self._current is not None:
            self._current = (self._current[0], label)  # back() returns to this platform
        if label == self.platform and self.manifest is not None:
            return True
        if self.fetch_blocks(f"showing {label}"):
            return False
        self._keep = list(self.selected)
        return self._show_platform(label)
