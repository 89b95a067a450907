"""Parsing real registry documents, digests over raw bytes, and platform selection."""

import hashlib
import json
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer.core import mediatypes as mt
from registry_explorer.core.digest import manifest_digest
from registry_explorer.core.platform import select

REAL = Path(__file__).parent / "fixtures" / "real"


def load(rel):
    return (REAL / rel).read_bytes()


def test_oci_index_with_attestations():
    raw = load("index/buildkit-0.15-index-with-attestation-manifests.json")
    idx = rx.parse_manifest(raw, mt.OCI_INDEX)
    assert isinstance(idx, rx.Index)
    assert idx.digest == "sha256:1e3839ac14fba8c5e4db574df2046ce21a9e012e4030305cea97ad3f07f81a4a"
    att = [d for d in idx.manifests if d.is_attestation]
    assert len(att) == 2
    assert all(str(d.platform) == "unknown/unknown" for d in att)
    # amd64 is chosen, never the attestation entry.
    (best, *_) = select("linux/amd64", idx.manifests)
    assert str(idx.manifests[best].platform) == "linux/amd64"
    assert select("unknown/unknown", idx.manifests) == []


def test_windows_list_and_os_version():
    raw = load("index/dockerhub-python-latest-2022-manifest-list-windows.json")
    idx = rx.parse_manifest(raw, mt.DOCKER_LIST)
    assert idx.digest == "sha256:567018293e51a89db96ce4c9679fdefc89b3d17a9fe9e94c0091b04ac5bb4e89"
    hits = select("windows/amd64:10.0.17763", idx.manifests)
    assert len(hits) == 1
    assert idx.manifests[hits[0]].platform.os_version == "10.0.17763.2928"
    assert len(select("windows/amd64", idx.manifests)) == 2
    assert select("windows/amd64:10.0.1", idx.manifests) == [], "a version prefix matches on a dot boundary only"


def test_arm_variants_normalise():
    raw = load("index/busybox-2017-manifest-list-arm-variants.json")
    idx = rx.parse_manifest(raw, mt.DOCKER_LIST)
    plats = {i: str(d.platform) for i, d in enumerate(idx.manifests)}
    v6 = select("linux/arm/v6", idx.manifests)
    assert [plats[i] for i in v6] == ["linux/arm/v6"]
    # arm64 entries carry variant v8; asking for plain arm64 must still find them.
    arm64 = select("linux/aarch64", idx.manifests)
    assert [plats[i] for i in arm64] == ["linux/arm64/v8"]
    assert select("linux/arm64/v8", idx.manifests) == arm64


def test_manifest_layers_null_and_zstd():
    m = rx.parse_manifest(load("manifest/buildkit-scratch-manifest-layers-null.json"))
    assert isinstance(m, rx.Manifest) and m.layers == []
    z = rx.parse_manifest(load("manifest/buildkit-oci-zstd-layer-manifest.json"))
    assert [mt.compression(layer.media_type) for layer in z.layers] == ["zstd"]
    assert z.digest == "sha256:f5e3515f39a16543547c03d03ec34faf9276742e6ce7c7dd6e467a14e90b29fc"


def test_foreign_layer_urls():
    m = rx.parse_manifest(load("manifest/dockerhub-hello-world-nanoserver-windows-foreign-layer.json"))
    assert m.layers[0].media_type == mt.DOCKER_FOREIGN_LAYER_GZIP
    assert m.layers[0].urls and m.layers[0].urls[0].startswith("https://mcr.microsoft.com/")
    assert m.digest == "sha256:63c287625c2b0b72900e562de73c0e381472a83b1b39217aef3856cd398eca0b"


def test_helm_manifest_without_media_type_is_sniffed():
    m = rx.parse_manifest(load("artifact/helm-chart-manifest-with-provenance.json"), "application/octet-stream")
    assert m.media_type == mt.OCI_MANIFEST
    assert m.artifact_type == "application/vnd.cncf.helm.config.v1+json"


def test_artifact_subject_and_data_field():
    m = rx.parse_manifest(load("artifact/oras-artifact-config-data-field-subject.json"))
    assert m.subject is not None and m.subject.digest.startswith("sha256:")
    assert m.config.data == b"{}"
    assert m.artifact_type == "signature/file"


def test_signed_schema1_digest_is_over_the_payload():
    raw = load("schema1/containers-image-mitr-busybox-schema1-signed.json")
    assert manifest_digest(raw, mt.DOCKER_SCHEMA1_SIGNED) == (
        "sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000"
    )
    m = rx.parse_manifest(raw)
    assert m.media_type == mt.DOCKER_SCHEMA1_SIGNED
    assert len(m.layers) == 3 and m.config is None


def test_schema1_layers_are_listed_base_first():
    """schema1 lists fsLayers top-most first; .layers is base first like every other manifest.

    Read from the fixture by hand: fsLayers = [a3ed95ca... (the empty gzip layer of `CMD ["sh"]`),
    5cc84ad3... (the `ADD file:6db446a5...` busybox rootfs)].
    """
    m = rx.parse_manifest(load("schema1/dockerhub-busybox-schema1-signed.json"))
    assert [(d.digest, d.size) for d in m.layers] == [
        ("sha256:5cc84ad355aaa64f46ea9c7bbcc319a9d808ab15088a27209c9e70ef86e5a2aa", -1),
        ("sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4", -1),
    ]


def test_config_history_alignment_inputs():
    raw = load("config/docker-18.09-classic-builder-config-15-history.json")
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    cfg = rx.ImageConfig.parse(raw, rx.Descriptor(mt.DOCKER_CONFIG, digest, len(raw)))
    non_empty = [h for h in cfg.history if not h.empty_layer]
    assert len(non_empty) == len(cfg.diff_ids)
    assert cfg.os == "linux"


def test_config_nulls():
    raw = load("config/buildkit-scratch-config-null-created-null-diffids.json")
    cfg = rx.ImageConfig.parse(raw, rx.Descriptor(mt.OCI_CONFIG, "sha256:" + "0" * 64, len(raw)))
    assert cfg.diff_ids == []
    # Read from the fixture by hand: "created": null, "diff_ids": null, one empty_layer CMD entry.
    assert cfg.env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert (cfg.created, cfg.working_dir, cfg.entrypoint, cfg.cmd) == (None, "/", None, None)
    assert [(h.created_by, h.empty_layer) for h in cfg.history] == [("CMD []", True)]


def test_mysql_config_fields():
    raw = load("config/dockerhub-mysql-5.7-config.json")
    cfg = rx.ImageConfig.parse(raw, rx.Descriptor(mt.DOCKER_CONFIG, "sha256:" + "0" * 64, len(raw)))
    assert cfg.entrypoint == ["docker-entrypoint.sh"]
    assert cfg.cmd == ["mysqld"]
    assert "3306/tcp" in cfg.exposed_ports
    assert cfg.volumes == ["/var/lib/mysql"]


def test_content_type_contradicting_document_is_rejected():
    raw = json.dumps({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST, "config": {}, "layers": []}).encode()
    with pytest.raises(rx.InvalidManifest, match="Content-Type says"):
        rx.parse_manifest(raw, mt.OCI_INDEX)


def test_garbage_is_invalid_manifest():
    with pytest.raises(rx.InvalidManifest):
        rx.parse_manifest(b"<html>nope</html>", "text/html")


@pytest.mark.parametrize(
    "text,expected",
    [("linux/amd64", "linux/amd64"), ("linux/arm/v7", "linux/arm/v7"),
     ("windows/amd64:10.0.17763.1040", "windows/amd64:10.0.17763.1040"),
     ("linux/arm64/v8:1.0", "linux/arm64/v8:1.0")],
)
def test_platform_round_trip(text, expected):
    assert str(rx.Platform.parse(text)) == expected


@pytest.mark.parametrize("bad", ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd64:", "", "linux/am d64"])
def test_platform_bad(bad):
    with pytest.raises(rx.InvalidPlatform):
        rx.Platform.parse(bad)


@pytest.mark.parametrize(
    "mt_,kind",
    [(mt.OCI_LAYER_GZIP, "gzip"), (mt.DOCKER_LAYER_GZIP, "gzip"), (mt.OCI_LAYER_ZSTD, "zstd"),
     (mt.OCI_LAYER, "none"), ("application/vnd.example.thing", "unknown")],
)
def test_compression(mt_, kind):
    assert mt.compression(mt_) == kind
