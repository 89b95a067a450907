"""Issue 10, class 3: server-named paths and structures: digests as file names, index walks,
repeated layers, special files in a layout, and layers that fight the directory tree."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers.hostile import (
    OCI_INDEX,
    OCI_LAYER_GZ,
    OCI_MANIFEST,
    bounded,
    image,
    layer_tar,
    outcome,
    plain_client,
    recording_server,
    sha256,
    static_registry,
    tree_snapshot,
)

import registry_explorer as rx


def _serve_image(manifest: bytes, blobs: dict[str, bytes], tag: str = "v1") -> dict:
    files = {f"/v2/repo/manifests/{tag}": (manifest, OCI_MANIFEST),
             f"/v2/repo/manifests/{sha256(manifest)}": (manifest, OCI_MANIFEST)}
    files.update({f"/v2/repo/blobs/{d}": (b, "application/octet-stream") for d, b in blobs.items()})
    return files


# -- digests become file names -------------------------------------------------------------------------

BAD_DIGESTS = ["sha256:../../../escaped", "sha256:/abs/escaped", "../../escaped:" + "0" * 64,
               "sha256:" + "../" * 3 + "0" * 55]


@pytest.mark.parametrize("bad", BAD_DIGESTS + ["ABSOLUTE"])
def test_save_layout_validates_digests_before_touching_the_disk(tmp_path, bad):
    work = tmp_path / "work"
    dest = work / "a" / "b" / "layout"
    work.mkdir()
    if bad == "ABSOLUTE":
        bad = str(tmp_path / "outside" / "x")  # no ':' at all: joined as an absolute path
    layer = layer_tar([("f", b"x")])
    manifest, blobs = image([layer, layer], layer_digests=[sha256(layer), bad])
    before = tree_snapshot(tmp_path)
    with bounded(5), recording_server(static_registry(_serve_image(manifest, blobs))) as reg:
        _, exc = outcome(lambda: plain_client().save_layout(f"{reg.host}/repo:v1", dest))
    assert isinstance(exc, rx.InvalidReference), f"expected InvalidReference, got {exc!r}"
    assert "digest" in str(exc).lower()
    new = tree_snapshot(tmp_path) - before
    outside = sorted(p for p in new if not (tmp_path / p).resolve().is_relative_to(dest.resolve()))
    assert outside in ([], ["work/a", "work/a/b"]), f"created outside the destination: {outside}"
    assert not [p for p in new if p.endswith(".partial")], "a partial file was created"


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_fetch_blobs_validates_digests_first(tmp_path, bad):
    """Control: fetch_blobs already validates before any request or file."""
    with recording_server(static_registry({})) as reg:
        _, exc = outcome(lambda: plain_client().fetch_blobs(
            f"{reg.host}/repo:v1", [rx.Descriptor(OCI_LAYER_GZ, bad, 1)], tmp_path / "d"))
        assert reg.count(lambda s: "/blobs/" in s.path) == 0
    assert isinstance(exc, rx.InvalidReference)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# -- walks ---------------------------------------------------------------------------------------------


class Tripped(Exception):
    """Raised by the tripwire: the walk fetched far more manifests than the image has."""


def _tripwire(client, limit: int) -> None:
    real = client.manifest
    calls = [0]

    def manifest(*args, **kwargs):
        calls[0] += 1
        if calls[0] > limit:
            raise Tripped(f"more than {limit} manifest() calls")
        return real(*args, **kwargs)

    client.manifest = manifest  # instance attribute: the walk's self.manifest calls land here


def _chain(depth: int, twice: bool) -> tuple[dict, bytes]:
    """Index k lists index k+1 (twice if asked); the deepest lists one image. Returns files and the root."""
    layer = layer_tar([("f", b"leaf")])
    leaf, blobs = image([layer])
    files = _serve_image(leaf, blobs, tag="leaf")
    child, ctype = leaf, OCI_MANIFEST
    for _ in range(depth):
        entry = {"mediaType": ctype, "digest": sha256(child), "size": len(child)}
        doc = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                          "manifests": [entry, entry] if twice else [entry]}).encode()
        files[f"/v2/repo/manifests/{sha256(doc)}"] = (doc, OCI_INDEX)
        child, ctype = doc, OCI_INDEX
    files["/v2/repo/manifests/root"] = (child, OCI_INDEX)
    return files, child


def test_deep_index_chain_is_invalid_not_recursion_error(tmp_path):
    files, _ = _chain(1100, twice=False)
    with bounded(5), recording_server(static_registry(files)) as reg:
        client = plain_client()
        _tripwire(client, 1200)
        _, exc = outcome(lambda: client.save_layout(f"{reg.host}/repo:root", tmp_path / "out"))
    assert isinstance(exc, rx.InvalidManifest), f"expected InvalidManifest, got {type(exc).__name__}: {exc}"
    assert "deep" in str(exc).lower() or "depth" in str(exc).lower() or "nest" in str(exc).lower(), str(exc)
    assert reg.count(lambda s: "/manifests/" in s.path) < 200, "the walk fetched far past any sane depth"


def test_index_listing_each_child_twice_is_walked_once(tmp_path):
    files, _ = _chain(30, twice=True)
    with bounded(5), recording_server(static_registry(files)) as reg:
        client = plain_client()
        _tripwire(client, 2000)
        ref, exc = outcome(lambda: client.save_layout(f"{reg.host}/repo:root", tmp_path / "out"))
    assert exc is None, f"{type(exc).__name__}: {exc}"
    per_path: dict[str, int] = {}
    for s in reg.seen:
        if s.method == "GET" and "/manifests/sha256:" in s.path:
            per_path[s.path] = per_path.get(s.path, 0) + 1
    assert per_path and max(per_path.values()) == 1, "a manifest was fetched more than once"
    blobs = [p for p in (tmp_path / "out" / "blobs" / "sha256").iterdir()]
    assert len(blobs) == 30 + 3, "30 indexes, the image manifest, its config and its layer"
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.name for p in blobs)


def test_image_files_fetches_a_repeated_layer_once():
    """One layer listed 40 times in a manifest is fetched and listed once (issue: 800 MiB)."""
    layer = layer_tar([(f"d/file{i:05d}", b"") for i in range(2000)])
    manifest, blobs = image([layer] * 40)
    with bounded(5), recording_server(static_registry(_serve_image(manifest, blobs))) as reg:
        df, exc = outcome(lambda: rx.frames.image_files(plain_client(), f"{reg.host}/repo:v1"))
        gets = reg.count(lambda s: s.method == "GET" and s.path.endswith(sha256(layer)))
    assert exc is None, f"{type(exc).__name__}: {exc}"
    assert gets == 1, f"the repeated layer was fetched {gets} times"
    assert len(df) == 2000 and set(df["layer_index"]) == {39}, "the merged view: the top copy wins"
