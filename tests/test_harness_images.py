"""Fast self-tests of the test harness: images, OCI layouts, push, fault proxy."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import tarfile

import pytest
import requests
from helpers.ci import in_ci
from helpers.proxy import FaultProxy

from registry_explorer.sandbox.push import push_image, push_tags, seed_tags_on_disk, skopeo_inspect_raw
from registry_explorer.sandbox.registry import start_registry
from registry_explorer.sandbox.samples import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    TestImage,
    build_images,
    write_layout,
)

ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
IMAGES = build_images(cached=True)


def _need(binary: str) -> None:
    if shutil.which(binary) is None:
        if in_ci():
            pytest.fail(f"{binary} is required on CI")
        pytest.skip(f"{binary} not installed")


# --- local throwaway registry (the lead will swap in the shared fixture) ------


@pytest.fixture(scope="module")
def registry(open_registry):
    """The shared open registry (conftest); it is already seeded with every image."""
    return open_registry


@pytest.fixture(scope="module")
def pushed(registry):
    """Every test image pushed once (single before its artifact)."""
    for name in ("single", "artifact", "multi", "docker", "zstd"):
        push_image(registry.url, IMAGES[name], auth=registry.auth, verify=registry.verify)
    return registry.url


def get_manifest(base: str, repo: str, ref: str, **kw) -> requests.Response:
    return requests.get(f"{base}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT},
                        verify=False, timeout=30, **kw)


# --- images -----------------------------------------------------------------


def test_build_is_deterministic():
    a, b = build_images(), build_images()
    assert a.keys() == b.keys() == {"single", "multi", "docker", "artifact", "zstd", "wasteful", "variant"}
    for name in a:
        assert a[name].root.digest == b[name].root.digest
        assert list(a[name].blobs) == list(b[name].blobs)
        assert [(r, x.digest) for r, x in a[name].push_order] == [(r, x.digest) for r, x in b[name].push_order]


# Root digests measured on CPython 3.10-3.13 (identical). They pin the bytes
# across machines; the zstd root also depends on the zstandard/libzstd version.
GOLDEN = {
    "single": "sha256:e849eca230b18569c88f6b46bb9fc821c31b256030c457f6ffc2b88ee0e9c589",
    "multi": "sha256:2ae1b5c4ca62eaf319d2982dfe23ed4389c3850a95ceb3a29018fc5490ba0010",
    "docker": "sha256:a473dae0af7f96f04b1c48f294ce12fdcbea84ee1f3f029726ee23621a84c9f7",
    "artifact": "sha256:083d2f19b5fb0faee24cb8699b3828fb0377a509091f289332010ddf8125dd91",
}
# The zstd image is not pinned: its bytes depend on the libzstd inside `zstandard`, which pip may
# upgrade; test_build_is_deterministic still checks it is stable within a run.


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_digests(name):
    assert IMAGES[name].root.digest == GOLDEN[name]


def test_blob_model():
    img = IMAGES["single"]
    for digest, blob in img.blobs.items():
        assert blob.digest == digest and blob.size == len(blob.data)
    d = img.root.descriptor(annotations={"a": "b"})
    assert list(d) == ["mediaType", "digest", "size", "annotations"]
    assert img.root.digest in img.blobs
    assert img.push_order[-1] == ("v1", img.root)
    assert not getattr(TestImage, "__test__", True)


def test_single_image_shape():
    img = IMAGES["single"]
    m = img.root.json()
    cfg = img.extra["config"]
    assert m["mediaType"] == OCI_MANIFEST
    assert m["config"]["digest"] == img.extra["config_blob"].digest
    assert [l["digest"] for l in m["layers"]] == [l.digest for l in img.extra["layers"]]
    assert len(cfg["history"]) == 6
    assert [bool(h.get("empty_layer")) for h in cfg["history"]] == [False, True, False, True, False, True]
    assert cfg["rootfs"]["diff_ids"] == img.extra["diff_ids"]
    for key in ("Env", "Entrypoint", "Cmd", "WorkingDir", "User", "Labels", "ExposedPorts"):
        assert key in cfg["config"]
    names = []
    for layer, diff_id in zip(img.extra["layers"], img.extra["diff_ids"]):
        raw = gzip.decompress(layer.data)
        assert "sha256:" + __import__("hashlib").sha256(raw).hexdigest() == diff_id
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            members = tf.getmembers()
        assert all(mm.mtime == members[0].mtime and mm.uid == 0 for mm in members)
        names.append({mm.name: mm for mm in members})
    assert names[0]["bin"].issym() and names[0]["usr/bin/hello"].mode == 0o755
    assert ".wh.old" in names[1] and "opt/app/.wh..wh..opq" in names[2]
    assert max(l.size for l in img.extra["layers"]) > 2 * 1024 * 1024


def test_multi_attestation_is_unknown():
    img = IMAGES["multi"]
    idx = img.root.json()
    plats = {}
    att = None
    for d in idx["manifests"]:
        p = d["platform"]
        if p == {"architecture": "unknown", "os": "unknown"}:
            att = d
        else:
            key = "/".join(filter(None, [p["os"], p["architecture"], p.get("variant")]))
            plats[key] = d["digest"]
            cfg_digest = img.blobs[d["digest"]].json()["config"]["digest"]
            cfg = img.blobs[cfg_digest].json()
            assert (cfg["os"], cfg["architecture"], cfg.get("variant")) == (p["os"], p["architecture"], p.get("variant"))
    assert plats == img.extra["platforms"]
    assert att is not None and att["digest"] == img.extra["attestation"]
    assert att["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert att["annotations"]["vnd.docker.reference.digest"] == plats["linux/amd64"]
    att_layer = img.blobs[att["digest"]].json()["layers"][0]
    assert att_layer["mediaType"] == "application/vnd.in-toto+json"
    assert json.loads(img.blobs[att_layer["digest"]].data)["_type"].startswith("https://in-toto.io/")


def test_docker_and_artifact_shape():
    dk = IMAGES["docker"]
    assert dk.root.media_type == DOCKER_LIST and dk.root.data.startswith(b'{\n   "schemaVersion"')
    assert dk.tags == {"v1": dk.root.digest, "amd64": dk.extra["amd64_manifest"].digest}
    assert dk.extra["platforms"]["linux/amd64"] == dk.extra["amd64_manifest"].digest
    art = IMAGES["artifact"]
    m = art.root.json()
    assert art.repository == IMAGES["single"].repository and art.tag == "sbom"
    assert m["artifactType"] == "application/spdx+json"
    assert m["config"]["size"] == 2 and art.blobs[m["config"]["digest"]].data == b"{}"
    assert m["subject"] == IMAGES["single"].root.descriptor() and art.extra["subject"] == IMAGES["single"].digest


def test_zstd_layer_is_zstd():
    img = IMAGES["zstd"]
    layers = img.root.json()["layers"]
    assert layers[0]["mediaType"] == OCI_LAYER_ZSTD
    assert img.blobs[layers[0]["digest"]].data[:4] == b"\x28\xb5\x2f\xfd"
    assert img.blobs[layers[1]["digest"]].data[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_layout_readable_by_skopeo(tmp_path, name):
    img = IMAGES[name]
    dest = write_layout(img, tmp_path / name)
    assert json.loads((dest / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((dest / "index.json").read_text())
    assert {d["annotations"]["org.opencontainers.image.ref.name"] for d in index["manifests"]} == set(img.tags)
    for digest, blob in img.blobs.items():
        assert (dest / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == blob.data
    if img.root.media_type not in (OCI_MANIFEST, OCI_INDEX):
        # skopeo 1.9.3's oci: transport only looks at index.json entries with OCI
        # media types, so a Docker manifest list in a (valid) layout is "not found".
        return
    _need("skopeo")
    out = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{dest}:{img.tag}"], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == img.root.data


# --- push --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_push_roundtrip(pushed, name):
    img = IMAGES[name]
    for ref, digest in [*img.tags.items(), *((r, b.digest) for r, b in img.push_order)]:
        r = get_manifest(pushed, img.repository, ref)
        assert r.status_code == 200, r.text
        assert r.content == img.blobs[digest].data
        assert r.headers["Docker-Content-Digest"] == digest
        assert r.headers["Content-Type"] == img.blobs[digest].media_type
    for blob in img.plain_blobs():
        r = requests.get(f"{pushed}/v2/{img.repository}/blobs/{blob.digest}", verify=False, timeout=30)
        assert r.status_code == 200 and r.content == blob.data


def test_push_again_and_retag(pushed):
    img = IMAGES["zstd"]
    assert push_image(pushed, img, verify=False, tag="v2", repository="test/zstd-copy") == img.digest
    assert get_manifest(pushed, "test/zstd-copy", "v2").content == img.root.data
    assert get_manifest(pushed, "test/zstd-copy", "v1").status_code == 404


def test_skopeo_sees_pushed_bytes(pushed):
    _need("skopeo")
    host = pushed.split("://", 1)[1]
    assert skopeo_inspect_raw(f"{host}/test/multi:v1") == IMAGES["multi"].root.data
    assert skopeo_inspect_raw(f"{host}/test/docker:amd64") == IMAGES["docker"].extra["amd64_manifest"].data


def test_push_tags_many(pushed):
    img = IMAGES["zstd"]
    tags = [f"t{i:04d}" for i in range(300)]
    sent: list[tuple[str, str]] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: sent.append((r.request.method, r.request.path_url)))
    push_tags(pushed, img.repository, img.root, tags, verify=False, session=session)
    got = requests.get(f"{pushed}/v2/{img.repository}/tags/list", verify=False, timeout=30).json()["tags"]
    assert set(tags) <= set(got)
    # Cheap by construction (not timed): one manifest PUT per tag and nothing else, no blob re-upload.
    assert sorted(sent) == sorted(("PUT", f"/v2/{img.repository}/manifests/{t}") for t in tags)


def test_seed_tags_on_disk(registry, pushed):
    img = IMAGES["zstd"]
    push_image(registry.url, img, verify=registry.verify, repository="test/seeded")
    tags = [f"s{i:04d}" for i in range(500)]
    seed_tags_on_disk(registry.storage, "test/seeded", img.digest, tags)
    got = requests.get(f"{registry.url}/v2/test/seeded/tags/list", verify=False, timeout=30).json()["tags"]
    assert sorted(got) == sorted(tags + ["v1"])
    assert get_manifest(registry.url, "test/seeded", "s0123").content == img.root.data


@pytest.mark.parametrize("flavour", ["htpasswd", "token"])
def test_push_with_auth_and_proxy(tmp_path, flavour):
    """push_image answers Basic and Bearer challenges; the proxy leaves token realms alone."""
    _need("docker-registry")
    img = IMAGES["zstd"]
    with start_registry(flavour, tmp_path) as reg:
        push_image(reg.url, img, auth=reg.auth, verify=reg.verify)
        with FaultProxy(reg.url, upstream_verify=reg.verify) as p:
            r = requests.get(f"{p.url}/v2/test/zstd/manifests/v1", headers={"Accept": ACCEPT}, verify=False, timeout=30)
            assert r.status_code == 401
            challenge = r.headers["WWW-Authenticate"]
            if flavour == "token":
                assert reg.token_server.url in challenge and p.url not in challenge
            push_image(p.url, img, auth=reg.auth, verify=False, tag="via-proxy")
            assert any(x["headers"].get("Authorization") for x in p.requests)
        if flavour == "token":
            scopes = [r.get("scope") for r in reg.token_server.records()]
            assert scopes and all(s == ["repository:test/zstd:pull,push"] for s in scopes)
        assert skopeo_inspect_raw(f"{reg.host}/test/zstd:via-proxy", creds=reg.auth) == img.root.data


# --- proxy -------------------------------------------------------------------


@pytest.fixture
def proxy(pushed):
    store = {d: b.data for img in IMAGES.values() for d, b in img.blobs.items()}
    with FaultProxy(pushed, upstream_verify=False, blob_store=store) as p:
        yield p


def _diff_positions(a: bytes, b: bytes) -> list[int]:
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def test_proxy_passthrough_and_location_rewrite(proxy):
    img = IMAGES["single"]
    r = get_manifest(proxy.url, img.repository, "v1")
    assert r.content == img.root.data and r.headers["Docker-Content-Digest"] == img.digest
    big = img.extra["big_layer"]
    r = requests.get(f"{proxy.url}/v2/{img.repository}/blobs/{big.digest}", verify=False, timeout=30, stream=True)
    assert int(r.headers["Content-Length"]) == big.size
    assert b"".join(r.iter_content(65536)) == big.data
    h = requests.head(f"{proxy.url}/v2/{img.repository}/blobs/{big.digest}", verify=False, timeout=30)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == big.size
    # Pushing through the proxy works: upload Locations point back at the proxy.
    r = requests.post(f"{proxy.url}/v2/test/viaproxy/blobs/uploads/", verify=False, timeout=30)
    assert r.status_code == 202
    loc = r.headers["Location"]
    assert not loc.startswith("http") or loc.startswith(proxy.url)
    push_image(proxy.url, IMAGES["zstd"], verify=False, repository="test/viaproxy")
    assert get_manifest(proxy.url, "test/viaproxy", "v1").content == IMAGES["zstd"].root.data
    assert {"method": "GET", "path": f"/v2/{img.repository}/manifests/v1", "status": 200}.items() <= proxy.requests[0].items()
    proxy.reset()
    assert proxy.requests == []


def test_proxy_flip_blob(proxy):
    img = IMAGES["single"]
    for blob in (img.extra["big_layer"], img.extra["config_blob"]):
        url = f"{proxy.url}/v2/{img.repository}/blobs/{blob.digest}"
        proxy.flip_blob = True
        got = requests.get(url, verify=False, timeout=30).content
        assert _diff_positions(got, blob.data) == [blob.size // 2]
        proxy.flip_blob = False
        assert requests.get(url, verify=False, timeout=30).content == blob.data


def test_proxy_flip_manifest(proxy):
    img = IMAGES["multi"]
    proxy.flip_manifest = True
    r = get_manifest(proxy.url, img.repository, "v1")
    assert len(_diff_positions(r.content, img.root.data)) == 1
    assert r.headers["Docker-Content-Digest"] == img.digest


def test_proxy_head_faults(proxy):
    img = IMAGES["single"]
    url = f"{proxy.url}/v2/{img.repository}/manifests/v1"
    h = requests.head(url, headers={"Accept": ACCEPT}, verify=False, timeout=30)
    assert h.headers["Docker-Content-Digest"] == img.digest
    assert int(h.headers["Content-Length"]) == img.root.size
    proxy.drop_digest_on_head = True
    h = requests.head(url, headers={"Accept": ACCEPT}, verify=False, timeout=30)
    assert h.status_code == 200 and "Docker-Content-Digest" not in h.headers
    assert int(h.headers["Content-Length"]) == img.root.size
    proxy.head_405 = True
    h = requests.head(url, headers={"Accept": ACCEPT}, verify=False, timeout=30)
    assert h.status_code == 405
    assert get_manifest(proxy.url, img.repository, "v1").content == img.root.data  # GET unaffected


def test_proxy_redirect_blobs(proxy):
    img = IMAGES["single"]
    big = img.extra["big_layer"]
    proxy.redirect_blobs = True
    url = f"{proxy.url}/v2/{img.repository}/blobs/{big.digest}"
    r = requests.get(url, verify=False, timeout=30, allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].startswith(proxy.mirror.url + "/blobs/" + big.digest)
    assert "X-Amz-Signature=" in r.headers["Location"]
    r = requests.get(url, verify=False, timeout=30, headers={"Authorization": "Bearer secret"})
    assert r.content == big.data and r.url.startswith(proxy.mirror.url)
    assert proxy.mirror.requests[-1]["path"].startswith(f"/blobs/{big.digest}?")
    # requests drops Authorization on a cross-origin redirect; the mirror sees that.
    assert "Authorization" not in proxy.mirror.requests[-1]["headers"]
    r = requests.get(url, verify=False, timeout=30, headers={"Range": "bytes=10-20"})
    assert r.status_code == 206 and r.content == big.data[10:21]
    assert r.headers["Content-Range"] == f"bytes 10-20/{big.size}"
    r = requests.get(f"{proxy.url}/v2/{img.repository}/blobs/sha256:{'0' * 64}", verify=False, timeout=30)
    assert r.status_code == 404


def test_proxy_paginate_tags(proxy):
    img = IMAGES["zstd"]
    tags = [f"p{i:03d}" for i in range(25)]
    push_tags(proxy.url, img.repository, img.root, tags, verify=False)
    full = sorted(requests.get(f"{proxy.url}/v2/{img.repository}/tags/list", verify=False, timeout=30).json()["tags"])
    proxy.paginate_tags = 10
    seen, pages = [], 0
    url = f"{proxy.url}/v2/{img.repository}/tags/list?n=50"
    while url:
        r = requests.get(url, verify=False, timeout=30)
        assert r.status_code == 200
        page = r.json()["tags"]
        assert 0 < len(page) <= 10
        seen += page
        pages += 1
        link = r.headers.get("Link")
        url = None
        if link:
            m = re.match(r'<([^>]+)>;\s*rel="next"', link)
            assert m and m.group(1).startswith(f"/v2/{img.repository}/tags/list?n=50&last=")
            url = proxy.url + m.group(1)
    assert seen == full and pages == -(-len(full) // 10)
