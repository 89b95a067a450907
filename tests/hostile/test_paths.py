"""Issue 10, class 3: server-named paths and structures: digests as file names, index walks,
repeated layers, special files in a layout, and layers that fight the directory tree."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest
from helpers.hostile import (
    OCI_INDEX,
    OCI_LAYER_GZ,
    OCI_MANIFEST,
    RSS_BOUND,
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
from helpers.hostile_layout import run_isolated, write_layout

import registry_explorer as rx
from registry_explorer.core.models import parse_manifest
from registry_explorer.sources.common import walk
from registry_explorer.sources.extract import extract_layer


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


@pytest.mark.parametrize("bad", BAD_DIGESTS + ["ABSOLUTE"])
def test_save_layout_validates_child_manifest_digests_before_any_use(tmp_path, bad):
    """An index naming a child manifest by a hostile digest: refused before it is fetched or stored."""
    if bad == "ABSOLUTE":
        bad = str(tmp_path / "outside" / "x")
    manifest, blobs = image([layer_tar([("f", b"x")])])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest)},
        {"mediaType": OCI_MANIFEST, "digest": bad, "size": len(manifest)}]}).encode()
    files = {**_serve_image(manifest, blobs), "/v2/repo/manifests/root": (index, OCI_INDEX)}
    before = tree_snapshot(tmp_path)
    with bounded(5), recording_server(static_registry(files)) as reg:
        _, exc = outcome(lambda: plain_client().save_layout(f"{reg.host}/repo:root", tmp_path / "out"))
        asked = [s.path for s in reg.seen if "/manifests/" in s.path and not s.path.endswith(("/root", sha256(manifest)))]
    assert isinstance(exc, rx.InvalidReference) and "digest" in str(exc).lower(), repr(exc)
    assert asked == [], f"the hostile child digest was used in a request: {asked}"
    assert tree_snapshot(tmp_path) - before == set(), "something was written"


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


def test_walk_returns_each_manifest_once():
    """walk() returns every manifest once, parents before children, however often indexes list it."""
    leaf, _ = image([b"leaf layer"])
    other, _ = image([b"other layer"])
    inner = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(d), "size": len(d)} for d in (leaf, leaf, other, leaf)]}).encode()
    root = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": t, "digest": sha256(d), "size": len(d)}
        for t, d in ((OCI_INDEX, inner), (OCI_MANIFEST, leaf), (OCI_INDEX, inner))]}).encode()
    docs_by_digest = {sha256(d): d for d in (leaf, other, inner)}

    class Source:
        def manifest(self, ref, descriptor):
            return parse_manifest(docs_by_digest[descriptor.digest], descriptor.media_type)

    docs, blobs = walk(Source(), "repo", parse_manifest(root, OCI_INDEX))
    order = [d.digest for d in docs]
    assert sorted(order) == sorted([sha256(root), sha256(inner), sha256(leaf), sha256(other)]), order
    assert order[0] == sha256(root) and order.index(sha256(inner)) < order.index(sha256(other))
    assert len(blobs) == 3, "two layers and the shared config, each once"


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


# -- special files in a layout -------------------------------------------------------------------------

FOUR_GIB = 4 << 30


def _special(path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        os.symlink("/dev/zero", path)
    else:  # a sparse file: 4 GiB long, no disk used
        with open(path, "wb") as f:
            f.truncate(FOUR_GIB)


def _layout_with_special(root, target: str, kind: str) -> str:
    """A layout whose index.json, manifest blob or layer blob is special; returns the call to make."""
    layer = b"layer bytes"
    manifest, blobs = image([layer])
    entry = {"mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    write_layout(root, {**blobs, sha256(manifest): manifest}, [entry])
    if target == "index.json":
        os.unlink(root / "index.json")
        _special(root / "index.json", kind)
        return "rx.Layout(path).tags()"
    digest = sha256(manifest) if target == "manifest" else sha256(layer)
    blob = root / "blobs" / "sha256" / digest.split(":")[1]
    os.unlink(blob)
    _special(blob, kind)
    if target == "manifest":
        return "rx.Layout(path).manifest('v1')"
    return "L = rx.Layout(path); L.blob('v1', L.image('v1').layers[0])"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse-4GiB"])
@pytest.mark.parametrize("target", ["index.json", "manifest", "layer"])
def test_layout_special_files_are_refused_quickly(tmp_path, target, kind):
    """Read with a byte cap, never trust st_size of a non-regular file, refuse non-regular files.

    Runs in a child process with an address-space cap: today's code hangs on a FIFO and reads
    /dev/zero until memory runs out, which must not happen inside the test run.
    """
    root = tmp_path / "layout"
    code = _layout_with_special(root, target, kind)
    out = run_isolated(code, root, timeout=4.0)
    assert out["type"] not in (None, "hang", "crash"), f"{target} as {kind}: {out}"
    assert out["rx"], f"{target} as {kind}: {out['type']} escaped: {out['msg']}"
    assert out["elapsed"] < 2.0 and out["rss_growth"] < RSS_BOUND, out


# -- extraction that fights the directory tree ----------------------------------------------------------


def _info(name: str, kind: str, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}[kind]
    info.linkname = link
    info.mode = 0o755 if kind == "dir" else 0o644
    return info


EXTRACT_CASES = {
    "file-replaces-dir": ([_info("a", "dir"), _info("a/keep", "file"), _info("a", "file")], "a"),
    "symlink-replaces-dir": ([_info("a", "dir"), _info("a/keep", "file"), _info("a", "symlink", "keep")], "a"),
    "entry-under-a-file": ([_info("a", "file"), _info("a/b", "file")], "a/b"),
    "dir-under-a-file": ([_info("a", "file"), _info("a/b", "dir")], "a/b"),
}


@pytest.mark.parametrize("case", sorted(EXTRACT_CASES))
def test_extraction_refuses_entries_that_fight_the_tree(tmp_path, case):
    members, refused = EXTRACT_CASES[case]
    layer = layer_tar(members)
    manifest, blobs = image([layer])
    root = tmp_path / "layout"
    write_layout(root, {**blobs, sha256(manifest): manifest}, [
        {"mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}])
    lay = rx.Layout(root)
    desc = lay.image("v1").layers[0]
    before = tree_snapshot(tmp_path)
    with bounded(5):
        result, exc = outcome(lambda: extract_layer(lay, lay.parse("v1"), desc, tmp_path / "dest"))
    assert exc is None, f"{type(exc).__name__} escaped: {exc}"
    assert refused in result.refused, f"{refused!r} not listed as refused: {result.refused}"
    assert result.refused[refused], "the refusal gives a reason"
    new = {p.split("/")[0] for p in tree_snapshot(tmp_path) - before}
    assert new == {"dest"}, f"written outside the destination: {new}"
    first = members[0]
    assert (tmp_path / "dest" / "a").is_dir() == first.isdir(), "the earlier entry stands"
