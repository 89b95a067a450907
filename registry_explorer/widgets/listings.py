"""The Explorer's lazily loaded listings: tags (paged) and referrers (the files are filetab.py's).

Nothing here is fetched until asked for: tags and referrers cost a request each.
"""

from __future__ import annotations

from traitlets import Any as AnyTrait
from traitlets import Bool, List, Unicode

from .labels import digest12, plural
from .state_base import StateCore, serialized

TAG_PAGE = 50


class ListingsMixin(StateCore):
    """load_tags()/more_tags() and load_referrers()."""

    tags = List(Unicode(), help="Tags of the repository loaded so far (sorted; see load_tags).")
    tags_more = Bool(False, help="True when more_tags() has more to show.")
    referrers = List(help="Rows (digest, artifact_type, media_type, size, annotations) of referrers.")
    referrers_for = AnyTrait(None, help="The digest whose referrers `referrers` lists, or None (not looked up).")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._all_tags: list[str] | None = None
        self._tag_page = TAG_PAGE

    # -- tags --------------------------------------------------------------------------------------

    @serialized
    def load_tags(self, page_size: int = TAG_PAGE) -> bool:
        """List the repository's tags (sorted) and show the first `page_size`; more_tags() shows more."""
        if self.ref is None:
            return self._say("Resolve an image first; tags are listed for its repository.")
        with self._operation(f"Listing the tags of {self.ref.name}…"):
            try:
                names = sorted(self.client.tags(self.ref.repo()))
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "listing tags")
        self._all_tags = names
        self._tag_page = max(1, int(page_size))
        self.tags = names[: self._tag_page]
        self.tags_more = len(names) > len(self.tags)
        self.status = f"{self.ref.name} has {plural(len(names), 'tag')}; showing {len(self.tags)}."
        return True

    @serialized
    def more_tags(self) -> bool:
        """Show the next page of tags (loads them first if needed)."""
        if self._all_tags is None:
            return self.load_tags()
        self.tags = self._all_tags[: len(self.tags) + self._tag_page]
        self.tags_more = len(self._all_tags) > len(self.tags)
        self.status = f"{self.ref.name} has {plural(len(self._all_tags), 'tag')}; showing {len(self.tags)}."
        return True

    # -- referrers ---------------------------------------------------------------------------------

    @serialized
    def load_referrers(self) -> bool:
        """Find the manifests whose subject is the resolved digest (referrers API or tag fallback)."""
        if self.ref is None or self.descriptor is None:
            return self._say("Resolve an image first; referrers point at its digest.")
        digest = self.descriptor.digest
        with self._operation(f"Looking for referrers of {digest12(digest)}…"):
            try:
                descs = self.client.referrers(self.ref.repo().with_digest(digest))
            except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                return self._fail(exc, "listing referrers")
        self.referrers_for = digest  # before `referrers`: its observers read both
        self.referrers = [
            {"digest": d.digest, "artifact_type": d.artifact_type, "media_type": d.media_type, "size": d.size,
             "annotations": dict(d.annotations)}
            for d in descs
        ]
        self.status = f"{plural(len(descs), 'referrer')} of {digest12(digest)}."
        return True
