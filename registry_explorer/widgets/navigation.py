"""Navigation by digest and the supply chain, as state: what can be opened from here, and opening it in place.

oci.dag.dev makes every digest a link; here the state lists the `links` of what is shown (index
children, the config, the subject, loaded referrers) and `open_digest` opens one: a manifest is
resolved (a history entry, as before); a config or a decoded supply-chain document is shown in
place of the image, and is a history entry too, so ◀ ▶ walk back through it. Such an entry is
(pinned manifest reference, "@<kind>:<digest>"); state._load hands the part after the platform
slot to `_after_load`. No ipywidgets here: pytest drives it headless.
"""

from __future__ import annotations

from traitlets import Any as AnyTrait
from traitlets import List, Unicode, observe

from ..core.models import Index
from ..supply.chain import supply_chain_rows
from ..supply.documents import open_row
from .labels import digest12, plural
from .signatures import signature_statuses
from .state_base import StateCore, serialized

__all__ = ["PLACE", "NavMixin"]

# Marks a history entry's platform slot as "show this blob/document in place of the manifest".
PLACE = "@"


class NavMixin(StateCore):
    """links / open_digest / shown_digest, and the Supply chain tab (load_supply, open_supply_row)."""
    shown_kind = Unicode("", help="What is on screen in place: 'index', 'manifest', 'config', 'document' or ''.")
    shown_digest = Unicode("", help="The digest of the object on screen in place.")
    document = AnyTrait(None, help="The config or decoded document shown in place (None for manifests).")
    links = List(help="What can be opened from here: dicts of label, digest, kind ('manifest', 'config').")
    supply = List(help="supply_chain rows of the shown object (load_supply()); [] until loaded.")
    supply_for = Unicode("", help="The digest `supply` was loaded for.")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self.public_key = None  # PEM of the cosign key the Supply chain tab verifies signatures with
        self._documents: dict[str, dict] = {}  # digest -> supply row, to reopen documents from history

    # -- what is shown, and what can be opened -----------------------------------------------------------

    def _split_place(self, platform: str | None) -> tuple[str | None, tuple[str, str] | None]:
        """(platform, (kind, digest)) from a history entry's platform slot."""
        if platform and platform.startswith(PLACE):
            kind, _, digest = platform[len(PLACE):].partition(":")
            return None, (kind, digest)
        return platform, None

    def _after_load(self, ok: bool, place: tuple[str, str] | None) -> bool:
        """After a (re)load: set what is shown, compute the links, and open `place` in place if asked."""
        self.document = None
        if not ok or self.descriptor is None:
            self.shown_kind, self.shown_digest, self.links = "", "", []
            return ok
        self.links = self._links()
        if self.supply_for != self.descriptor.digest:
            self.supply, self.supply_for = [], ""  # another object: its supply chain is not this one's
        if place is None:
            self.shown_kind = "index" if isinstance(self.index, Index) else "manifest"
            self.shown_digest = self.descriptor.digest
            return ok
        kind, digest = place
        return self._show_place(kind, digest)

    def _links(self) -> list[dict]:
        out = []
        if self.index is not None:
            out += [{"label": f"manifest {d.platform or ''}".strip(), "digest": d.digest, "kind": "manifest"}
                    for d in self.index.manifests]
        m = self.manifest
        if m is not None and m.config is not None:
            out.append({"label": "config", "digest": m.config.digest, "kind": "config"})
        if self.subject is not None:
            out.append({"label": "subject", "digest": self.subject.digest, "kind": "manifest"})
        out += [{"label": f"referrer {r['artifact_type'] or ''}".strip(), "digest": r["digest"], "kind": "manifest"}
                for r in self.referrers]
        return out

    @observe("referrers")
    def _refresh_links(self, _change=None) -> None:
        """Recompute `links` when referrers load; what is shown stays."""
        if self.descriptor is not None:
            self.links = self._links()

    # -- opening ---------------------------------------------------------------------------------------

    @serialized
    def open_digest(self, digest: str) -> bool:
        """Open `digest` from the current view: the config or a supply document in place, else as a manifest."""
        m = self.manifest
        if m is not None and m.config is not None and digest == m.config.digest:
            return self._go_place("config", digest)
        if digest in self._documents and any(r.get("digest") == digest for r in self.supply):
            return self._go_place("document", digest)
        return self.open_referrer(digest)  # any manifest digest of this repository: resolved, with history

    def _go_place(self, kind: str, digest: str) -> bool:
        if self.manifest is None or self.ref is None:
            return self._say("Resolve an image first.")
        pinned = str(self.ref.repo().with_digest(self.manifest.digest))
        entry = (pinned, f"{PLACE}{kind}:{digest}")
        if self._current is not None and self._current != entry:
            self.back_stack = [*self.back_stack, self._current]
            self.forward_stack = []
        self._current = entry
        return self._show_place(kind, digest)

    def _show_place(self, kind: str, digest: str) -> bool:
        try:
            if kind == "config":
                if self.config is None or self.config.descriptor.digest != digest:
                    return self._say(f"{digest12(digest)} is not the config of the image shown.")
                doc = self.config
            elif kind == "document":
                row = self._documents.get(digest)
                if row is None:
                    return self._say(f"{digest12(digest)} is not a supply-chain document seen in this Explorer.")

                with self._operation(f"Opening {row.get('kind')} {digest12(digest)}…"):
                    doc = open_row(self.client, self.ref.repo().with_digest(self.manifest.digest), row)
            else:
                return self._say(f"cannot open a {kind!r} in place")
        except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
            return self._fail(exc, f"opening {digest12(digest)}")
        self.document = doc
        self.shown_kind, self.shown_digest = kind, digest
        self.status = f"Showing {kind} {digest12(digest)} of {self.ref}."
        return True

    # -- the Supply chain tab ------------------------------------------------------------------------------

    @serialized
    def load_supply(self) -> bool:
        """List what is attached to the resolved object: signatures, attestations, SBOMs (supply_chain rows)."""
        if self.ref is None or self.descriptor is None:
            return self._say("Resolve an image first; its supply chain is found from its digest.")

        digest = self.descriptor.digest
        with self._operation(f"Looking for signatures, attestations and SBOMs of {digest12(digest)}…"):
            try:
                pinned = self.ref.repo().with_digest(digest)
                rows = supply_chain_rows(self.client, pinned)
                signature_statuses(self.client, pinned, rows, self.public_key)  # as rx.verify_cosign decides
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "reading the supply chain")
        for r in rows:
            if r.get("digest"):
                self._documents[r["digest"]] = r
        self.supply_for = digest
        self.supply = rows
        signed = [r for r in rows if r.get("kind") == "signature"]
        verified = sum(1 for r in signed if r.get("verified"))
        note = f"; {verified} of {plural(len(signed), 'signature')} verified" if signed else ""
        self.status = f"{plural(len(rows), 'attached object')} for {digest12(digest)}{note}."
        return True

    @serialized
    def open_supply_row(self, number: int) -> bool:
        """Open row `number` of `supply` as its decoded document, in place (a history entry)."""
        if not 0 <= number < len(self.supply):
            return self._say(f"There is no supply-chain row {number}.")
        digest = self.supply[number].get("digest")
        if not digest:
            return self._say("That row names no document.")
        return self._go_place("document", digest)
