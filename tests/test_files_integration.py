"""Layer listings against a real registry: files(), image_files(), wasted(), and a corrupted download."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers.clients import client_for
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.frames.files import FILE_COLUMNS, IMAGE_FILE_COLUMNS, WASTED_COLUMNS
from registry_explorer.sandbox.samples import BIG_LAYER_SIZE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(open_registry):
    return client_for(open_registry)


def ref(reg, name: str) -> str:
    return f"{reg.host}/{name}"


def test_files_of_each_single_layer(client, open_registry):
    r = ref(open_registry, "test/single:v1")
    layers = client.image(r).layers
    dfs = [frames.files(client, r, d) for d in layers]
    for df in dfs:
        assert list(df.columns) == FILE_COLUMNS
        assert (df["mtime"] == pd.Timestamp("2024-01-01", tz="UTC")).all()
        assert (df[["uid", "gid"]] == 0).all().all()
    base, data, top = (df.set_index("path") for df in dfs)
    assert base.loc["bin", "type"] == "symlink" and base.loc["bin", "linkname"] == "usr/bin"
    assert base.loc["usr/bin/hello", "mode"] == 0o755 and base.loc["tmp", "mode"] == 0o1777
    assert base["whiteout"].isna().all()
    assert data.loc["var/lib/data/random.bin", "size"] == BIG_LAYER_SIZE
    assert data.loc["old", "whiteout"] == "file"
    opaque = top[top["whiteout"] == "opaque"]
    assert opaque.index.tolist() == ["opt/app"]
    assert len(dfs[0]) == 16 and len(dfs[1]) == 5 and len(dfs[2]) == 6


def test_files_of_a_zstd_layer(client, open_registry, images):
    r = ref(open_registry, "test/zstd:v1")
    z = client.image(r).layers[0]
    assert rx.mediatypes.compression(z.media_type) == "zstd"
    df = frames.files(client, r, z)
    assert df[["path", "type", "size"]].values.tolist() == [["etc", "dir", 0], ["etc/zstd.txt", "file", 35 * 50]]


def test_image_files_merges_layers(client, open_registry):
    r = ref(open_registry, "test/single:v1")
    layers = client.image(r).layers
    df = frames.image_files(client, r)
    assert list(df.columns) == IMAGE_FILE_COLUMNS
    by_path = df.set_index("path")
    for gone in ("old", "opt/app/stale.txt", "opt/app/keep.txt"):
        assert gone not in by_path.index
    assert not df["path"].str.contains(r"\.wh\.").any()
    expect = {"etc/hostname": 0, "usr/bin/hello": 0, "var/lib/data/random.bin": 1, "opt/app/config.json": 2,
              "etc/motd": 2, "etc": 2, "opt/app": 2}
    for path, index in expect.items():
        assert by_path.loc[path, "layer_index"] == index, path
        assert by_path.loc[path, "layer_digest"] == layers[index].digest
    assert df["path"].is_monotonic_increasing


def test_image_files_of_wasteful_and_platform(client, open_registry, images):
    df = frames.image_files(client, ref(open_registry, "test/wasteful:v1"))
    assert dict(zip(df["path"], df["layer_index"])) == images["wasteful"].extra["merged"]
    arm = frames.image_files(client, ref(open_registry, "test/multi:v1"), platform="linux/arm64")
    assert arm["path"].tolist() == ["etc", "etc/platform"]


def test_wasted_matches_hand_computed(client, open_registry, images):
    extra = images["wasteful"].extra
    df = frames.wasted(client, ref(open_registry, "test/wasteful:v1"))
    assert list(df.columns) == WASTED_COLUMNS
    assert df.to_dict("records") == extra["wasted_rows"]
    assert df.attrs["efficiency"] == pytest.approx(extra["efficiency"])
    for key in ("wasted_bytes", "total_bytes", "user_bytes"):
        assert df.attrs[key] == extra[key], key


def test_flipped_blob_raises_digest_mismatch(open_registry):
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as proxy:
        # cache=False: with a layer index from an earlier test on disk, a listing needs no download
        # at all (issue 12), and this test is about a tampered download.
        client = rx.Client(insecure=(proxy.host,), docker_config={}, cache=False)
        r = f"{proxy.host}/test/single:v1"
        layer = client.image(r).layers[0]
        proxy.flip_blob = True
        with pytest.raises(rx.DigestMismatch) as info:
            frames.files(client, r, layer)
        assert info.value.expected == layer.digest
        with pytest.raises(rx.DigestMismatch):
            frames.image_files(client, r)
        proxy.flip_blob = False
        assert len(frames.files(client, r, layer)) == 16
