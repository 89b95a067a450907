"""Issue 10, class 2: a pinned digest accepts only bytes that hash to it.

The forgery: a signed schema1 document whose JWS formatLength/formatTail cut it down to an honest
payload P (sha256(P) = D), while the full document, parsed as JSON, repeats the keys with other
values (the last duplicate wins). Parsing the full document would use the forged layers and cmd.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from helpers.hostile import (
    OCI_INDEX,
    bounded,
    image,
    index_of,
    outcome,
    plain_client,
    recording_server,
    sha256,
    static_registry,
    tree_snapshot,
)

import registry_explorer as rx

SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
GOOD_LAYER = sha256(b"good layer")
EVIL_LAYER = sha256(b"evil layer")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def forged_schema1() -> tuple[bytes, bytes]:
    """(payload P, forged document F): manifest_digest(F) == sha256(P) but json.loads(F) is different."""
    hist = json.dumps({"architecture": "amd64", "config": {"Cmd": ["/good"]}})
    payload = json.dumps({"schemaVersion": 1, "name": "repo", "tag": "v1", "architecture": "amd64",
                          "fsLayers": [{"blobSum": GOOD_LAYER}], "history": [{"v1Compatibility": hist}]},
                         indent=3).encode()
    assert payload.endswith(b"\n}")
    head, tail = payload[:-2], payload[-2:]
    evil_hist = json.dumps({"architecture": "amd64", "config": {"Cmd": ["/evil"]}})
    protected = _b64(json.dumps({"formatLength": len(head), "formatTail": _b64(tail)}).encode())
    sigs = [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": protected}]
    extra = (f',\n   "fsLayers": [{{"blobSum": "{EVIL_LAYER}"}}],\n   "history": [{{"v1Compatibility": '
             f'{json.dumps(evil_hist)}}}],\n   "signatures": {json.dumps(sigs)}\n}}')
    forged = head + extra.encode()
    return payload, forged


PAYLOAD, FORGED = forged_schema1()
D = sha256(PAYLOAD)


def test_the_forgery_is_what_the_issue_describes():
    """Guard for the tests below: F's schema1 digest is D, F's bytes are not, and F parses to the evil layer."""
    from registry_explorer.core.digest import manifest_digest

    assert manifest_digest(FORGED, SCHEMA1_SIGNED) == D != sha256(FORGED)
    assert json.loads(FORGED)["fsLayers"][0]["blobSum"] == EVIL_LAYER


def _assert_honest(doc, exc, digest: str = D) -> None:
    """Either the forgery is refused, or what was returned is exactly the bytes that hash to `digest`."""
    if exc is not None:
        assert isinstance(exc, (rx.DigestMismatch, rx.SizeMismatch, rx.InvalidManifest)), f"{type(exc).__name__}: {exc}"
        return
    assert hashlib.sha256(doc.raw).hexdigest() == digest.split(":")[1], ".raw does not hash to the pinned digest"
    assert [d.digest for d in doc.layers] == [GOOD_LAYER], "the forged layers were parsed"
    assert b"/evil" not in json.dumps(doc.json).encode(), "the forged history (cmd) was parsed"


def _files():
    files = {f"/v2/repo/manifests/{D}": (FORGED, SCHEMA1_SIGNED), "/v2/repo/manifests/v1": (FORGED, SCHEMA1_SIGNED)}
    idx = index_of([(SCHEMA1_SIGNED, PAYLOAD)])  # an index naming D with the honest size
    files["/v2/repo/manifests/idx"] = (idx, OCI_INDEX)
    files[f"/v2/repo/manifests/{sha256(idx)}"] = (idx, OCI_INDEX)
    return files


@pytest.mark.parametrize("how", ["by-digest", "by-tag", "index-child"])
def test_forged_schema1_is_refused_or_only_the_payload_is_used(how):
    with bounded(5), recording_server(static_registry(_files())) as reg:
        client = plain_client()
        if how == "by-digest":
            doc, exc = outcome(lambda: client.manifest(f"{reg.host}/repo@{D}"))
        elif how == "by-tag":
            doc, exc = outcome(lambda: client.manifest(f"{reg.host}/repo:v1"))
        else:
            idx = client.manifest(f"{reg.host}/repo:idx")
            doc, exc = outcome(lambda: client.manifest(f"{reg.host}/repo:idx", idx.manifests[0]))
    if how == "by-tag" and exc is None:
        assert doc.digest == D, "by tag, the digest given is the payload's"
    _assert_honest(doc, exc)


def test_cache_hit_must_match_the_descriptor_size():
    """Fetched once by digest, then asked for by an index descriptor (digest D, honest size)."""
    with bounded(5), recording_server(static_registry(_files())) as reg:
        client = plain_client()
        first, exc1 = outcome(lambda: client.manifest(f"{reg.host}/repo@{D}"))
        desc = rx.Descriptor(SCHEMA1_SIGNED, D, len(PAYLOAD))
        second, exc2 = outcome(lambda: client.manifest(f"{reg.host}/repo@{D}", desc))
    _assert_honest(first, exc1)
    if exc2 is None:
        assert len(second.raw) == desc.size, "the cache returned bytes of another size than the descriptor's"
    _assert_honest(second, exc2)


def test_cache_hit_with_a_wrong_size_raises_like_a_fetch():
    """Plain OCI: a cached manifest asked for with a descriptor of another size is a SizeMismatch."""
    manifest, blobs = image([b"layer"])
    d = sha256(manifest)
    with recording_server(static_registry({f"/v2/repo/manifests/{d}": (manifest, rx.mediatypes.OCI_MANIFEST)})) as reg:
        client = plain_client()
        client.manifest(f"{reg.host}/repo@{d}")
        wrong = rx.Descriptor(rx.mediatypes.OCI_MANIFEST, d, len(manifest) + 1)
        _, exc = outcome(lambda: client.manifest(f"{reg.host}/repo@{d}", wrong))
    assert isinstance(exc, rx.SizeMismatch), f"cache hit ignored the descriptor's size: {exc!r}"


def test_save_layout_never_stores_bytes_under_another_digest(tmp_path):
    files = _files()
    for digest, layer in ((GOOD_LAYER, b"good layer"), (EVIL_LAYER, b"evil layer")):
        files[f"/v2/repo/blobs/{digest}"] = (layer, "application/octet-stream")
    before = tree_snapshot(tmp_path)
    with bounded(5), recording_server(static_registry(files)) as reg:
        _, exc = outcome(lambda: plain_client().save_layout(f"{reg.host}/repo@{D}", tmp_path / "out"))
    assert exc is None or isinstance(exc, (rx.DigestMismatch, rx.InvalidManifest)), repr(exc)
    stored = [p for p in (tmp_path / "out" / "blobs").rglob("*") if p.is_file()] if (tmp_path / "out").exists() else []
    wrong = [p.name[:12] for p in stored if hashlib.sha256(p.read_bytes()).hexdigest() != p.name]
    assert wrong == [], f"files whose bytes do not hash to their name: {wrong}"
    assert all(p.name != EVIL_LAYER.split(":")[1] for p in stored), "the forged layer was saved"
    outside = {p for p in tree_snapshot(tmp_path) - before if p.split("/")[0] != "out"}
    assert outside == set(), f"written outside the destination: {outside}"
