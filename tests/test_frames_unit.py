"""Frame builders on models built from real registry documents (no network)."""

import hashlib
import json
from pathlib import Path

import pandas as pd

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core import mediatypes as mt
from registry_explorer.http.trace import Trace

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
    # Read from the fixture by hand: history[0] made the only layer; history[1] (CMD) is empty_layer.
    assert row["created_by"] == "ADD alpine-minirootfs-3.23.2-x86_64.tar.gz / # buildkit"


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


def _doc_pair(layers, config):
    """A hand-written schema2 manifest ([(hex char, size)]) and its config, parsed."""
    m = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
         "config": {"mediaType": mt.DOCKER_CONFIG, "digest": "sha256:" + "c" * 64, "size": 1},
         "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": "sha256:" + ch * 64, "size": n} for ch, n in layers]}
    raw = json.dumps({"architecture": "amd64", "os": "linux", "config": config}).encode()
    cfg = rx.ImageConfig.parse(raw, rx.Descriptor(mt.DOCKER_CONFIG, "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)))
    return rx.parse_manifest(json.dumps(m).encode(), mt.DOCKER_MANIFEST), cfg


def test_compare_images_pure():
    """Every row of a comparison, written by hand from the two documents below."""
    ma, ca = _doc_pair([("1", 10), ("2", 20), ("3", 30)], {
        "Env": ["PATH=/a", "X=1", "ONLY_A=1"], "Labels": {"v": "1", "same": "s", "gone": "g"},
        "Entrypoint": ["/init"], "Cmd": ["run"], "WorkingDir": "/w"})
    mb, cb = _doc_pair([("2", 20), ("4", 40)], {
        "Env": ["PATH=/b", "X=1", "ONLY_B=2"], "Labels": {"v": "2", "same": "s", "new": "n"},
        "Entrypoint": ["/init"], "Cmd": ["serve"], "WorkingDir": "/w", "User": "app"})
    df = frames.compare_images(ma, ca, mb, cb)
    assert list(df.columns) == frames.manifests.COMPARE_COLUMNS
    rows = [tuple(None if (isinstance(v, float) and pd.isna(v)) else v for v in r)
            for r in df.astype(object).itertuples(index=False, name=None)]
    assert rows == [
        ("layer", "sha256:" + "1" * 64, 0, None, "only_a", 10),
        ("layer", "sha256:" + "2" * 64, 1, 0, "shared", 20),
        ("layer", "sha256:" + "3" * 64, 2, None, "only_a", 30),
        ("layer", "sha256:" + "4" * 64, None, 1, "only_b", 40),
        ("env", "ONLY_A", "1", None, "only_a", None),
        ("env", "ONLY_B", None, "2", "only_b", None),
        ("env", "PATH", "/a", "/b", "changed", None),
        ("env", "X", "1", "1", "same", None),
        ("labels", "gone", "g", None, "only_a", None),
        ("labels", "new", None, "n", "only_b", None),
        ("labels", "same", "s", "s", "same", None),
        ("labels", "v", "1", "2", "changed", None),
        ("entrypoint", "entrypoint", ["/init"], ["/init"], "same", None),
        ("cmd", "cmd", ["run"], ["serve"], "changed", None),
        ("working_dir", "working_dir", "/w", "/w", "same", None),
        ("user", "user", None, "app", "changed", None),
    ]
    assert df.attrs == {"shared_bytes": 20, "only_a_bytes": 40, "only_b_bytes": 40}


def test_trace_frame_columns():
    tr = Trace(maxlen=3)
    for i in range(5):
        tr.start("GET", f"http://127.0.0.1:1/v2/x/manifests/{i}", "manifest", {"Authorization": "Bearer s3cr3t"})
    df = frames.trace(tr)
    assert list(df.columns) == frames.manifests.TRACE_COLUMNS
    assert list(df["seq"]) == [3, 4, 5], "a ring of the last N"
    assert "s3cr3t" not in df.to_string() and set(df["auth"]) == {"Bearer"}
