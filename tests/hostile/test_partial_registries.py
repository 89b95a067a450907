"""Issue 21, class 8: partial registries - a mirror that copied some platforms, a registry that
garbage-collected an attestation or a config.

One missing child of an index is one error row, as a failed tag is in the census; the rest of
the table stands, typed and tied from what the index itself says (an attestation entry names its
image in `vnd.docker.reference.digest`; a platform entry names its platform). Two real
registries (distribution 2.8, `storage.delete.enabled`):
- Docker Hub's real alpine 3.23.2 index (16 entries), written into the registry's storage with
  the four documents we hold (the index, linux/amd64's manifest and config, its attestation
  manifest): 14 children and one config are missing, as on a mirror that copied one platform;
- the sandbox's `multi` index pushed, then ONE child deleted through the API (DELETE manifest):
  its attestation in one repository, its arm64 image in another.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import requests
from helpers.ci import in_ci

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.registry import RegistryBinaryMissing, start_registry
from registry_explorer.sandbox.samples import Blob
from registry_explorer.sandbox.samples_census import _Store

pytestmark = pytest.mark.integration

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real"
ALPINE = "mirror/alpine"
AMD64 = "sha256:1882fa4569e0c591ea092d3766c4893e19b8901a8e649de7067188aba3cc0679"
AMD64_ATTESTATION = "sha256:f9fd905ebc9c0e5e6dac67fb89753e85b7b831273995bdca248ba4cb74ba2dc9"
ATTESTATION_CONFIG = "sha256:b8394be77a067c5c0b591f9a9c847d99ea341d0a592f179bb1819e3bc51e4f18"
INDEX = "sha256:865b95f46d98cf867a156fe4a135ad3fe50d2056aa3f25ed31662dff6da4eb62"


def _real(rel: str) -> bytes:
    return (REAL / rel).read_bytes()


def _alpine_index() -> dict:
    return json.loads(_real("index/dockerhub-alpine-3.23.2-oci-index-attestations.json"))


@pytest.fixture(scope="module")
def reg(tmp_path_factory, images):
    work = tmp_path_factory.mktemp("partial")
    storage = work / "storage"
    store = _Store(storage)  # distribution's filesystem layout, written as a mirror would have copied it
    index = Blob("application/vnd.oci.image.index.v1+json", _real("index/dockerhub-alpine-3.23.2-oci-index-attestations.json"))
    for rel, manifest in (("manifest/dockerhub-alpine-3.23.2-amd64-oci-manifest.json", True),
                          ("artifact/dockerhub-alpine-3.23.2-amd64-attestation-manifest.json", True),
                          ("config/dockerhub-alpine-3.23.2-amd64-config.json", False)):
        store.blob(ALPINE, Blob("application/octet-stream", _real(rel)), manifest=manifest)
    store.blob(ALPINE, index, manifest=True)
    store.tag(ALPINE, "3.23.2", index.digest)
    try:
        running = start_registry("open", work, storage=storage)
    except RegistryBinaryMissing as exc:
        if in_ci():
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))
    with running:
        multi = images["multi"]
        for repo in ("gc/attestation", "mirror/no-arm64"):
            push_image(running.url, multi, repository=repo)
        doc = json.loads(multi.root.data)
        attestation = next(d["digest"] for d in doc["manifests"] if d["platform"]["os"] == "unknown")
        arm64 = next(d["digest"] for d in doc["manifests"] if d["platform"]["architecture"] == "arm64")
        for repo, digest in (("gc/attestation", attestation), ("mirror/no-arm64", arm64)):
            r = requests.delete(f"{running.url}/v2/{repo}/manifests/{digest}", timeout=30)
            assert r.status_code == 202, f"DELETE {digest} in {repo}: {r.status_code} {r.text}"
        yield running, {"attestation": attestation, "arm64": arm64, "multi": multi}


def _client(running) -> rx.Client:
    return rx.Client(insecure=(running.host,), docker_config={}, cache=False, retries=0)


def _errors(df):
    return df[df["error"].notna()]


def test_the_missing_children_really_are_missing(reg):
    """Control: the registry answers 404 for what the scenarios removed, and 200 for what they kept."""
    running, made = reg
    c = _client(running)
    for ref, missing in ((f"{running.host}/{ALPINE}@{AMD64}", False), (f"{running.host}/{ALPINE}@{AMD64_ATTESTATION}", False),
                         (f"{running.host}/gc/attestation@{made['attestation']}", True),
                         (f"{running.host}/mirror/no-arm64@{made['arm64']}", True)):
        doc, exc = None, None
        try:
            doc = c.manifest(ref)
        except rx.NotFound as e:
            exc = e
        assert (exc is not None) == missing, f"{ref}: {doc!r} {exc!r}"


def test_supply_chain_of_the_real_alpine_index_with_missing_children(reg):
    """Seven attestation manifests are missing: seven error rows, each tied to its image by the index."""
    running, _ = reg
    ref = f"{running.host}/{ALPINE}:3.23.2"
    df = frames.supply_chain(_client(running), ref)
    index = _alpine_index()
    links = {d["digest"]: d["annotations"]["vnd.docker.reference.digest"] for d in index["manifests"]
             if d["annotations"].get("vnd.docker.reference.type") == "attestation-manifest"}
    bad = _errors(df)
    assert sorted(bad["manifest"]) == sorted(set(links) - {AMD64_ATTESTATION}), "one error row per missing manifest"
    for row in bad.to_dict("records"):
        assert row["subject"] == links[row["manifest"]], "tied to its image by the index's own annotation"
        assert row["kind"] == "attestation" and row["found"] == "index attestation", row
        assert row["size"] == next(d["size"] for d in index["manifests"] if d["digest"] == row["manifest"])
        assert "NotFound" in row["error"] and row["manifest"] in row["error"], row["error"]
        assert pd.isna(row["digest"]), "an error row names no document to open"
    good = df[df["error"].isna() & (df["found"] == "index attestation")]
    assert sorted(good["type"]) == ["https://slsa.dev/provenance/v0.2", "https://spdx.dev/Document"]
    assert set(good["subject"]) == {AMD64} and set(good["manifest"]) == {AMD64_ATTESTATION}
    assert sorted(good["kind"]) == ["SBOM", "attestation"]


def test_supply_chain_with_one_garbage_collected_attestation(reg):
    """The multi index lost its one attestation: one error row, and the rest of the table as before."""
    running, made = reg
    c = _client(running)
    df = frames.supply_chain(c, f"{running.host}/gc/attestation:v1")
    whole = frames.supply_chain(c, f"{running.host}/mirror/no-arm64:v1")  # same index, attestation kept
    bad = _errors(df)
    assert len(bad) == 1 and bad.iloc[0]["manifest"] == made["attestation"], bad
    assert bad.iloc[0]["subject"] == json.loads(made["multi"].root.data)["manifests"][0]["digest"]
    assert _errors(whole).empty, _errors(whole)
    assert len(whole[whole["found"] == "index attestation"]) >= 1, "control: the kept attestation is decoded"
    assert list(df.columns) == list(whole.columns) and "error" in df.columns


def test_census_of_the_real_alpine_index_with_missing_children(reg):
    """The census walks what is there; each missing child (and the missing config) is one error row."""
    running, _ = reg
    census, exc = None, None
    try:
        census = rx.census(_client(running), running.host, repositories=[ALPINE], progress=False)
    except Exception as e:  # noqa: BLE001 - the test reports what escaped
        exc = e
    assert exc is None, f"{exc!r}"
    index = _alpine_index()
    kept = {AMD64, AMD64_ATTESTATION}
    assert list(census.tags["tag"]) == ["3.23.2"], "the tag stands"
    assert len(census.platforms) == len(index["manifests"]), "platform rows come from the index itself"
    assert set(census.manifests["manifest_digest"]) == kept | {INDEX}
    errors = census.errors
    missing = {d["digest"] for d in index["manifests"]} - kept
    named = {d for d in missing for m in errors["message"] if d in m}
    assert named == missing and len(errors) == len(missing) + 1, errors
    assert any(ATTESTATION_CONFIG in m for m in errors["message"]), "the missing attestation config is a row"
    assert set(census.layers["manifest_digest"]) == kept, "layers of both kept manifests, config or not"
    assert list(census.configs["manifest_digest"]) == [AMD64]


def test_census_of_an_index_whose_arm64_image_was_deleted(reg):
    running, made = reg
    census = rx.census(_client(running), running.host, repositories=["mirror/no-arm64"], progress=False)
    doc = json.loads(made["multi"].root.data)
    assert list(census.tags["tag"]) == ["v1"]
    assert len(census.platforms) == len(doc["manifests"])
    assert len(census.errors) == 1 and made["arm64"] in census.errors.iloc[0]["message"], census.errors
    assert census.errors.iloc[0]["error"] == "NotFound"
    walked = set(census.manifests["manifest_digest"])
    assert walked == {d["digest"] for d in doc["manifests"]} - {made["arm64"]} | {made["multi"].digest}


def test_platforms_and_image_of_a_partial_index(reg):
    """frames.platforms reads the index alone; image() of a kept platform works, of a missing one is NotFound."""
    running, made = reg
    c = _client(running)
    index = c.manifest(f"{running.host}/{ALPINE}:3.23.2")
    assert len(frames.platforms(index)) == 16
    assert c.image(f"{running.host}/{ALPINE}:3.23.2").digest == AMD64
    with pytest.raises(rx.NotFound):
        c.image(f"{running.host}/{ALPINE}:3.23.2", platform="linux/arm64")
    with pytest.raises(rx.NotFound):
        c.image(f"{running.host}/mirror/no-arm64:v1", platform="linux/arm64")
