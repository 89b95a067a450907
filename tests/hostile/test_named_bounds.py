"""Issue 10, class 4: each named bound of limits.py stops what it names, on its own.

test_exhaustion.py drives lists until *some* bound stops them (the byte bound for tag pages, the
count bound for referrers). The bounds below are never the first to fire there, so each gets a
test of its own: the bound is lowered on the module that uses it (its value is a reasoned
constant; what is tested here is that the code honours it) or, for the page cap, hit for real.
"""

from __future__ import annotations

import json

from helpers.hostile import OCI_INDEX, bounded, image, outcome, plain_client, recording_server, sha256

import registry_explorer as rx
from registry_explorer.core import limits
from registry_explorer.core.models import parse_manifest
from registry_explorer.sources.common import walk

GAVE_UP_AFTER = 60  # pages; far past the lowered bounds, so a test fails instead of running on


def _endless_tags(per_page: int):
    """A registry whose tag list never ends: distinct tiny pages, each linking to the next."""
    served = [0]

    def respond(h, s):
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        served[0] += 1
        if served[0] > GAVE_UP_AFTER:
            return h.json(410, {"errors": [{"code": "HOSTILE_GAVE_UP", "message": "stopped"}]})
        n = served[0]
        tags = [f"p{n}-t{i}" for i in range(per_page)]
        h.json(200, {"name": "repo", "tags": tags}, {"Link": f'</v2/repo/tags/list?n={per_page}&last=p{n}>; rel="next"'})
    return respond, served


def test_max_pages_bound(monkeypatch):
    """MAX_PAGES: tiny distinct pages forever end with RegistryError after exactly MAX_PAGES pages."""
    monkeypatch.setattr("registry_explorer.http.pagination.MAX_PAGES", 5)
    respond, served = _endless_tags(per_page=1)
    with bounded(5), recording_server(respond) as reg:
        _, exc = outcome(lambda: plain_client().tags(f"{reg.host}/repo"))
    assert served[0] == 5, f"{served[0]} pages fetched with MAX_PAGES = 5"
    assert isinstance(exc, rx.RegistryError) and "more than 5 pages" in str(exc), repr(exc)


def test_list_items_bound(monkeypatch):
    """LIST_ITEMS_LIMIT: entries over all pages past the bound raise TooLarge, counted in entries."""
    monkeypatch.setattr("registry_explorer.http.pagination.LIST_ITEMS_LIMIT", 25)
    respond, served = _endless_tags(per_page=10)
    with bounded(5), recording_server(respond) as reg:
        _, exc = outcome(lambda: plain_client().tags(f"{reg.host}/repo"))
    assert isinstance(exc, rx.TooLarge), repr(exc)
    assert "entries" in str(exc), str(exc)
    assert served[0] == 3, f"{served[0]} pages fetched: the third page passes 25 entries"


def test_page_size_bound():
    """PAGE_LIMIT: one page larger than the cap is refused with TooLarge, declared length or not."""
    tags = [f"{i:08d}-" + "t" * 90 for i in range(limits.PAGE_LIMIT // 100 + 10)]
    body = json.dumps({"name": "repo", "tags": tags}).encode()
    assert len(body) > limits.PAGE_LIMIT

    for declared in (True, False):
        def respond(h, s, declared=declared):
            if s.path.split("?", 1)[0] == "/v2/":
                return h.json(200, {})
            # Without a declared length the cap must hold while reading (the body ends at close).
            h.reply(200, body, {"Content-Type": "application/json"}, length=None if declared else "")

        with bounded(10), recording_server(respond) as reg:
            result, exc = outcome(lambda: plain_client().tags(f"{reg.host}/repo"))
        assert isinstance(exc, rx.TooLarge), f"declared={declared}: {exc!r} / {len(result or [])} tags"
        assert exc.limit == limits.PAGE_LIMIT, f"declared={declared}: {exc!r}"


class _Source:
    """The one method walk() needs: parsed manifests by descriptor, counted."""

    def __init__(self, docs: dict[str, bytes]):
        self.docs = docs
        self.calls = 0

    def manifest(self, ref, descriptor):
        self.calls += 1
        raw = self.docs[descriptor.digest]
        return parse_manifest(raw, descriptor.media_type)


def test_walk_manifest_bound(monkeypatch):
    """MAX_WALK_MANIFESTS: an index with more distinct manifests than the bound is refused."""
    monkeypatch.setattr("registry_explorer.sources.common.MAX_WALK_MANIFESTS", 5)
    children = [image([f"layer {i}".encode()])[0] for i in range(12)]
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(c), "size": len(c)}
        for c in children]}).encode()
    src = _Source({sha256(c): c for c in children})
    _, exc = outcome(lambda: walk(src, "repo", parse_manifest(index, OCI_INDEX)))
    assert isinstance(exc, rx.InvalidManifest) and "more than 5 manifests" in str(exc), repr(exc)
    # Control: under the bound the same shape is walked in full.
    monkeypatch.setattr("registry_explorer.sources.common.MAX_WALK_MANIFESTS", 13)
    docs, blobs = walk(src, "repo", parse_manifest(index, OCI_INDEX))
    assert len(docs) == 13 and len(blobs) == 12 + 1, "12 manifests and the index; 12 layers and one shared config"
