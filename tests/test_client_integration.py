"""The client against real distribution 2.8 registries, in all four flavours."""

from __future__ import annotations

import hashlib

import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.core import mediatypes as mt

pytestmark = pytest.mark.integration


def ref(reg, path):
    return f"{reg.host}/{path}"


def test_resolve_single(client, any_registry, images):
    img = images["single"]
    desc = client.resolve(ref(any_registry, "test/single:v1"))
    assert desc.digest == img.digest
    assert desc.size == img.root.size
    assert desc.media_type == mt.OCI_MANIFEST


def test_manifest_keeps_raw_bytes(client, any_registry, images):
    img = images["single"]
    m = client.manifest(ref(any_registry, "test/single:v1"))
    assert isinstance(m, rx.Manifest)
    assert m.raw == img.root.data
    assert m.descriptor.digest == "sha256:" + hashlib.sha256(m.raw).hexdigest()
    assert [layer.digest for layer in m.layers] == [b.digest for b in img.extra["layers"]]
    assert m.reference.digest == img.digest


def test_multi_platform(client, any_registry, images):
    img = images["multi"]
    r = ref(any_registry, "test/multi:v1")
    idx = client.manifest(r)
    assert isinstance(idx, rx.Index) and idx.raw == img.root.data
    assert any(d.is_attestation for d in idx.manifests)
    for plat, digest in img.extra["platforms"].items():
        assert client.image(r, platform=plat).digest == digest
    assert client.image(r).digest == img.extra["platforms"]["linux/amd64"], "default is linux/amd64"
    cfg = client.config(r, platform="linux/arm/v7")
    assert (cfg.os, cfg.architecture, cfg.variant) == ("linux", "arm", "v7")
    with pytest.raises(rx.PlatformNotFound) as info:
        client.image(r, platform="windows/amd64")
    assert "linux/arm64" in str(info.value) and "unknown" not in str(info.value)
    with pytest.raises(rx.PlatformNotFound):
        client.image(r, platform="unknown/unknown")


def test_config_fields(client, any_registry, images):
    img = images["single"]
    cfg = client.config(ref(any_registry, "test/single:v1"))
    want = img.extra["config"]
    assert cfg.raw == img.extra["config_blob"].data
    assert cfg.env == want["config"]["Env"]
    assert cfg.entrypoint == want["config"].get("Entrypoint")
    assert cfg.cmd == want["config"].get("Cmd")
    assert cfg.diff_ids == img.extra["diff_ids"]
    assert any(h.empty_layer for h in cfg.history)
    assert len([h for h in cfg.history if not h.empty_layer]) == len(cfg.diff_ids)
    # config() also takes an already fetched Manifest and costs no manifest request then.
    m = client.image(ref(any_registry, "test/single:v1"))
    assert client.config(m).raw == cfg.raw


def test_blob_open_blob_and_fetch(client, any_registry, images, tmp_path):
    img = images["single"]
    r = ref(any_registry, "test/single:v1")
    m = client.image(r)
    small = min(m.layers, key=lambda d: d.size)
    assert client.blob(r, small) == img.blobs[small.digest].data
    big = max(m.layers, key=lambda d: d.size)
    assert big.size > 2 << 20
    h = hashlib.sha256()
    with client.open_blob(r, big) as stream:
        while chunk := stream.read(100_000):
            h.update(chunk)
        assert stream.verified
    assert "sha256:" + h.hexdigest() == big.digest
    seen = []
    paths = client.fetch_blobs(r, m.layers, tmp_path / "out", progress=lambda d, done, total: seen.append(d.digest))
    assert [p.name for p in paths] == [d.digest.replace(":", "-") for d in m.layers]
    for p, d in zip(paths, m.layers):
        assert p.read_bytes() == img.blobs[d.digest].data
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    assert set(seen) == {d.digest for d in m.layers}


def test_blob_cap(client, any_registry):
    r = ref(any_registry, "test/single:v1")
    big = max(client.image(r).layers, key=lambda d: d.size)
    with pytest.raises(rx.BlobTooLarge, match="open_blob"):
        client.blob(r, big, limit=1 << 20)


def test_docker_media_types(client, any_registry, images):
    img = images["docker"]
    r = ref(any_registry, "test/docker:v1")
    desc = client.resolve(r)
    assert desc.media_type == mt.DOCKER_LIST and desc.digest == img.digest
    m = client.image(r)
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.digest == img.extra["platforms"]["linux/amd64"]
    assert client.config(m).descriptor.media_type == mt.DOCKER_CONFIG
    assert client.manifest(ref(any_registry, "test/docker:amd64")).raw == img.extra["amd64_manifest"].data


def test_artifact_with_subject(client, any_registry, images):
    art = images["artifact"]
    m = client.manifest(ref(any_registry, "test/single:sbom"))
    assert m.raw == art.root.data
    assert m.artifact_type == "application/spdx+json"
    assert m.subject.digest == images["single"].digest


def test_zstd_layer(client, any_registry, images):
    m = client.image(ref(any_registry, "test/zstd:v1"))
    assert [mt.compression(layer.media_type) for layer in m.layers] == ["zstd", "gzip"]
    data = client.blob(ref(any_registry, "test/zstd:v1"), m.layers[0])
    assert data[:4] == b"\x28\xb5\x2f\xfd"


def test_by_digest_and_tag_plus_digest(client, any_registry, images):
    img = images["single"]
    by_digest = client.manifest(ref(any_registry, f"test/single@{img.digest}"))
    assert by_digest.raw == img.root.data
    # name:tag@digest keeps both, and the digest is what is fetched.
    both = rx.parse_reference(ref(any_registry, f"test/single:no-such-tag@{img.digest}"))
    assert both.tag == "no-such-tag"
    assert client.manifest(both).digest == img.digest


def test_tags_and_catalog(client, any_registry, images):
    assert {"v1", "sbom"} <= set(client.tags(ref(any_registry, "test/single")))
    repos = client.catalog(any_registry.host)
    assert {"test/single", "test/multi", "test/docker", "test/zstd"} <= set(repos)


def test_not_found(client, any_registry):
    with pytest.raises(rx.NotFound) as info:
        client.resolve(ref(any_registry, "test/single:nope"))
    assert info.value.status == 404
    with pytest.raises(rx.NotFound) as info:
        client.manifest(ref(any_registry, "test/does-not-exist:v1"))
    assert info.value.codes and info.value.codes[0] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_skopeo_agrees(any_registry, images, tmp_path):
    """An independent client (skopeo) reads the same bytes we resolve and verify."""
    from registry_explorer.sandbox.push import skopeo_inspect_raw
    from registry_explorer.sandbox.registry import require_binary

    require_binary("skopeo")
    client = client_for(any_registry)
    cert_dir = None
    if any_registry.ca_file:
        cert_dir = tmp_path / "certs"
        cert_dir.mkdir()
        (cert_dir / "ca.crt").write_bytes(any_registry.ca_file.read_bytes())
    for path in ("test/multi:v1", "test/docker:v1", "test/single:v1", "test/zstd:v1"):
        raw = skopeo_inspect_raw(ref(any_registry, path), tls_verify=bool(cert_dir), cert_dir=cert_dir,
                                 creds=any_registry.auth)
        m = client.manifest(ref(any_registry, path))
        assert raw == m.raw
        assert m.digest == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_fetch_cancel_leaves_nothing(open_registry, tmp_path):
    import threading

    client = client_for(open_registry)
    r = ref(open_registry, "test/single:v1")
    big = max(client.image(r).layers, key=lambda d: d.size)
    cancel = threading.Event()
    calls = []

    def progress(desc, done, total):
        calls.append(done)
        cancel.set()  # cancel after the first chunk arrived

    with pytest.raises(rx.Cancelled):
        client.fetch_blobs(r, [big], tmp_path / "c", progress=progress, cancel=cancel)
    assert calls and calls[-1] < big.size
    assert list((tmp_path / "c").iterdir()) == []
