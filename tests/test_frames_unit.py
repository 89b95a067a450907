"""Frame builders on models built from real registry documents (no network)."""

import hashlib
from pathlib import Path

import pandas as pd

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer import mediatypes as mt
from registry_explorer.trace import Trace

REAL = Path(__file__).parent / "fixtures" / "real"


def doc(rel, media_type=None):
    return rx.parse_manifest((REAL / rel).read_bytes(), media_type)


def config(rel, media_type=mt.OCI_CONFIG):
    raw = (REAL / rel).read_bytes()
    return rx.ImageConfig.parse(raw, rx.Descriptor(media_type, "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)))


def test_platforms_dockerhub_index_with_attestations():
    idx = doc("index/dockerhub-alpine-3.23.2-oci-index-attestations.json")
    df = frames.platforms(idx)
    assert list(df.columns) == frames.manifests.PLATFORM_COLUMNS
    assert len(df) == len(idx.manifests)
    att = df[df["is_attestation"]]
    assert len(att) >= 1 and set(att["os"]) == {"unknown"}
    assert (att["annotations"].map(lambda a: a.get("vnd.docker.reference.type")) == "attestation-manifest").all()
    real = df[~df["is_attestation"]]
    assert "amd64" in set(real["architecture"]) and real["digest"].str.startswith("sha256:").all()


def test_platforms_windows_os_version():
    df = frames.platforms(doc("index/dockerhub-python-latest-2022-manifest-list-windows.json"))
    win = df[df["os"] == "windows"]
    assert sorted(win["os_version"]) == ["10.0.17763.2928", "10.0.20348.707"]
    assert not df["is_attestation"].any()


def test_layers_with_config_alignment():
    m = doc("manifest/dockerhub-alpine-3.23.2-amd64-oci-manifest.json")
    cfg = config("config/dockerhub-alpine-3.23.2-amd64-config.json")
    assert m.config.digest == cfg.descriptor.digest, "the fixture chain is consistent"
    df = frames.layers(m, cfg)
    assert list(df.columns) == frames.manifests.LAYER_COLUMNS + ["diff_id", "created_by"]
    row = df.iloc[0]
    assert row["compression"] == "gzip" and row["size"] == 3860104 and row["size_human"] == "3.7 MiB"
    assert row["diff_id"] == cfg.diff_ids[0]
    assert "ADD" in row["created_by"] or "alpine" in row["created_by"]


def test_layers_foreign_urls_and_zstd():
    df = frames.layers(doc("manifest/dockerhub-hello-world-nanoserver-windows-foreign-layer.json"))
    assert df.loc[0, "urls"][0].startswith("https://mcr.microsoft.com/")
    z = frames.layers(doc("manifest/buildkit-oci-zstd-layer-manifest.json"))
    assert list(z["compression"]) == ["zstd"]
    empty = frames.layers(doc("manifest/buildkit-scratch-manifest-layers-null.json"))
    assert empty.empty and list(empty.columns) == frames.manifests.LAYER_COLUMNS


def test_history_skips_empty_layers():
    cfg = config("config/regclient-buildkit-config-volume-labels-args.json")
    df = frames.history(cfg)
    assert list(df.columns) == frames.manifests.HISTORY_COLUMNS
    assert list(df["empty_layer"]) == [False, True, False, True, False, True, True, True, True]
    produced = df[~df["empty_layer"]]
    assert list(produced["diff_id"]) == cfg.diff_ids
    assert df[df["empty_layer"]]["diff_id"].isna().all()
    assert isinstance(df.loc[0, "created"], pd.Timestamp)


def test_history_classic_builder_and_layers_alignment():
    cfg = config("config/docker-18.09-classic-builder-config-15-history.json", mt.DOCKER_CONFIG)
    df = frames.history(cfg)
    assert df["diff_id"].notna().sum() == len(cfg.diff_ids)
    # Pairing layers to the commands that created them uses only non-empty entries.
    hist = frames.manifests.align_history(cfg, len(cfg.diff_ids))
    assert all(h is not None and not h.empty_layer for h in hist)


def test_history_kaniko_and_null_created():
    cfg = config("config/kaniko-config-author-zero-created.json")
    df = frames.history(cfg)
    assert len(df) == 15 and df["created"].notna().all()
    nul = frames.history(config("config/buildkit-scratch-config-null-created-null-diffids.json"))
    assert list(nul.columns) == frames.manifests.HISTORY_COLUMNS


def test_compare_images_pure():
    m = doc("manifest/dockerhub-python-2022-amd64-schema2-manifest.json")
    m2 = doc("manifest/dockerhub-nginx-1.23.1-amd64-schema2-manifest.json")
    cfg = config("config/dockerhub-mysql-5.7-config.json", mt.DOCKER_CONFIG)
    cfg2 = config("config/regclient-buildkit-config-volume-labels-args.json")
    df = frames.compare_images(m, cfg, m, cfg2)
    lay = df[df["kind"] == "layer"]
    assert (lay["status"] == "shared").all() and df.attrs["only_a_bytes"] == 0
    assert df.attrs["shared_bytes"] == sum(d.size for d in m.layers)
    env = df[df["kind"] == "env"]
    assert set(env["status"]) <= {"same", "changed", "only_a", "only_b"} and "only_a" in set(env["status"])
    df2 = frames.compare_images(m, cfg, m2, cfg)
    assert df2.attrs["only_a_bytes"] == sum(d.size for d in m.layers)
    assert df2.attrs["only_b_bytes"] == sum(d.size for d in m2.layers)
    assert set(df2[df2["kind"] != "layer"]["status"]) == {"same"}


def test_trace_frame_columns():
    tr = Trace(maxlen=3)
    for i in range(5):
        tr.start("GET", f"http://127.0.0.1:1/v2/x/manifests/{i}", "manifest", {"Authorization": "Bearer s3cr3t"})
    df = frames.trace(tr)
    assert list(df.columns) == frames.manifests.TRACE_COLUMNS
    assert list(df["seq"]) == [3, 4, 5], "a ring of the last N"
    assert "s3cr3t" not in df.to_string() and set(df["auth"]) == {"Bearer"}
