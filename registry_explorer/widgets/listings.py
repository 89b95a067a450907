"""The Explorer's lazily loaded listings: tags (paged), referrers, and the files inside layers.

Nothing here is fetched until asked for: tags and referrers cost a request each, and a file
listing streams whole layers (the merged view streams every layer of the image).
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any

import numpy as np
from traitlets import Any as AnyTrait
from traitlets import Bool, Dict, Int, List, Unicode, observe

from .. import frames
from ..core import mediatypes as mt
from ..core.units import human_size
from .content import PREVIEW_LIMIT, as_text, read_preview
from .labels import digest12, plural
from .state_base import StateCore, serialized

MERGED = "merged"
TAG_PAGE = 50
FILE_FIELDS = ("path", "type", "size", "mode", "linkname", "whiteout", "layer_index", "layer_digest")


def _row(record: dict, layer_index: int | None = None, layer_digest: str | None = None) -> dict:
    """A files-frame record reduced to plain Python values (NaN and numpy scalars are awkward in traits)."""
    out: dict[str, Any] = {}
    for key in FILE_FIELDS:
        value = record.get(key)
        if isinstance(value, np.generic):  # numpy scalar from the frame: a plain int/bool/str
            value = value.item()
        if isinstance(value, float) and math.isnan(value):  # a missing value in an object column
            value = None
        out[key] = value
    if out["layer_index"] is None:
        out["layer_index"] = layer_index
    if out["layer_digest"] is None:
        out["layer_digest"] = layer_digest
    return out


class ListingsMixin(StateCore):
    """load_tags()/more_tags(), load_referrers(), load_files()/filter_files()/select_file()."""

    tags = List(Unicode(), help="Tags of the repository loaded so far (sorted; see load_tags).")
    tags_more = Bool(False, help="True when more_tags() has more to show.")
    referrers = List(help="Rows (digest, artifact_type, media_type, size, annotations) of referrers.")
    referrers_for = AnyTrait(None, help="The digest whose referrers `referrers` lists, or None (not looked up).")
    files_layer = Unicode(MERGED, help="'merged' or the layer digest whose files are listed.")
    file_filter = Unicode("", help="Substring (or glob with * ? [) the file list is filtered by.")
    files = List(help="File rows (path, type, size, ...) of files_layer matching file_filter.")
    files_total = Int(0, help="How many entries files_layer has before filtering.")
    file_info = Dict(help="The chosen file: its row, plus 'content' (small text files) and 'note'.")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._all_tags: list[str] | None = None
        self._tag_page = TAG_PAGE
        self._listings: dict[str, list[dict]] = {}  # keyed by digest: content-addressed, never stale
        self._all_files: list[dict] = []

    def _clear_files(self) -> None:
        self._all_files = []
        self.files = []
        self.files_total = 0
        self.files_layer = MERGED
        self.file_info = {}

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

    # -- files -------------------------------------------------------------------------------------

    @serialized
    def load_files(self, layer: str | int = MERGED) -> bool:
        """List the files of one layer (index or digest) or of the merged image ('merged')."""
        m = self.manifest
        if m is None or self.ref is None:
            return self._say("Resolve an image first; its layers hold the files.")
        layers = m.layers
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not 0 <= layer < len(layers):
                return self._say(f"Layer {layer} does not exist; the image has {plural(len(layers), 'layer')}.")
            layer = layers[layer].digest
        key = MERGED if layer == MERGED else str(layer)
        by_digest = {d.digest: (i, d) for i, d in enumerate(layers)}
        if key != MERGED and key not in by_digest:
            return self._say(f"{key} is not a layer of the image shown.")
        # Artifacts (SBOMs, signatures, attestations) carry blobs that are not tar archives.
        wanted = [(i, d) for i, d in enumerate(layers) if key in (MERGED, d.digest)]
        odd = next(((i, d) for i, d in wanted if d.media_type and not mt.is_layer(d.media_type)), None)
        if odd is not None:
            return self._say(f"Layer {odd[0]} is {odd[1].media_type}, not a filesystem layer; "
                             "it has no files to list.")
        cache_key = f"{m.digest}/{MERGED}" if key == MERGED else key
        rows = self._listings.get(cache_key)
        if rows is None:
            what = "the merged filesystem" if key == MERGED else f"layer {by_digest[key][0]}"
            with self._operation(f"Listing the files of {what}…"):
                try:
                    if key == MERGED:
                        # Pinned to the manifest itself, so no platform walk happens again.
                        df = frames.image_files(self.client, self.ref.repo().with_digest(m.digest))
                        rows = [_row(r) for r in df.to_dict("records")]
                    else:
                        i, d = by_digest[key]
                        df = frames.files(self.client, self.ref, d)
                        rows = [_row(r, i, d.digest) for r in df.to_dict("records")]
                except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                    return self._fail(exc, "listing files")
            self._listings[cache_key] = rows
            self.status = f"{what[0].upper()}{what[1:]} has {plural(len(rows), 'entry')}."
        self._all_files = rows
        self.files_total = len(rows)
        self.file_info = {}
        self.files_layer = key
        self._apply_filter()
        return True

    def filter_files(self, text: str) -> None:
        """Keep the files whose path contains `text` (or matches it as a glob when it has * ? [)."""
        self.file_filter = text

    @observe("file_filter")
    def _on_filter(self, change) -> None:
        self._apply_filter()

    @serialized
    def _apply_filter(self) -> None:
        pattern = self.file_filter.strip()
        rows = self._all_files
        if pattern:
            if any(c in pattern for c in "*?["):
                rows = [r for r in rows if fnmatch.fnmatchcase(r["path"], pattern.lstrip("/"))]
            else:
                low = pattern.lower().lstrip("/")
                rows = [r for r in rows if low in r["path"].lower()]
        self.files = rows

    @serialized
    def select_file(self, path: str) -> bool:
        """Show one file of the listing: its row, and the content when it is a small text file."""
        row = next((r for r in self._all_files if r["path"] == path), None)
        if row is None:
            return self._say(f"{path!r} is not in the file list; load_files() first.")
        info = dict(row)
        info["content"] = None
        info["note"] = ""
        if row.get("whiteout"):
            info["note"] = "A whiteout: this layer deletes the path from the layers below."
        elif row["type"] == "symlink":
            info["note"] = f"A symbolic link to {row['linkname']}."
        elif row["type"] == "hardlink":
            info["note"] = f"A hard link to {row['linkname']}."
        elif row["type"] != "file":
            info["note"] = f"A {row['type']}; it has no content to show."
        elif row["size"] > PREVIEW_LIMIT:
            info["note"] = f"{human_size(row['size'])}: too large to preview (limit {human_size(PREVIEW_LIMIT)})."
        else:
            desc = next((d for d in self.manifest.layers if d.digest == row["layer_digest"]), None)
            if desc is None:
                return self._say(f"The layer holding {path} is not part of the image shown.")
            with self._operation(f"Reading {path}…"):
                try:
                    data, how = read_preview(self.client, self.ref, desc, path)
                except Exception as exc:  # noqa: BLE001 - any failure becomes the error sentence; a widget callback must not raise
                    return self._fail(exc, "reading a file")
            text = as_text(data) if data is not None else None
            if data is None:
                info["note"] = "Not found in its layer's tar stream."
            elif text is None:
                info["note"] = "Binary content; not shown."
            elif not data:
                info["note"] = "An empty file."
            info["content"] = text
            info.update(how)  # verification label, requests and bytes moved (issue 12)
            self.status = f"{path}: {human_size(row['size'])}."
        self.file_info = info
        return True
