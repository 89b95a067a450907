"""OCI layouts: save_layout is byte-identical to skopeo's copy for OCI content, and Layout reads it back."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core import mediatypes as mt
from registry_explorer.sandbox.registry import require_binary
from registry_explorer.sources.layout import parse_layout_reference

pytestmark = pytest.mark.integration


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def skopeo_copy(reg, repo_tag, dest: Path, *extra):
    require_binary("skopeo")
    subprocess.run(["skopeo", "copy", *extra, "--src-tls-verify=false", f"docker://{reg.host}/{repo_tag}",
                    f"oci:{dest}:{repo_tag.split(':')[1]}"], check=True, capture_output=True, timeout=120)


@pytest.mark.parametrize(
    "repo_tag,platform,skopeo_args",
    [("test/single:v1", None, ()), ("test/zstd:v1", None, ()),
     ("test/multi:v1", None, ("--all", "--preserve-digests")),
     ("test/multi:v1", "linux/arm64", ("--override-arch", "arm64")),
     ("test/multi:v1", "linux/arm/v7", ("--override-arch", "arm", "--override-variant", "v7"))],
)
def test_save_layout_matches_skopeo(open_registry, tmp_path, repo_tag, platform, skopeo_args):
    client = client_for(open_registry)
    ours, theirs = tmp_path / "ours", tmp_path / "skopeo"
    lref = client.save_layout(f"{open_registry.host}/{repo_tag}", ours, platform=platform)
    skopeo_copy(open_registry, repo_tag, theirs, *skopeo_args)
    a, b = tree(ours), tree(theirs)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs from skopeo's copy"
    assert str(lref).startswith(f"oci:{ours}:")


def test_layout_reads_back_everything(open_registry, tmp_path, images):
    client = client_for(open_registry)
    path = tmp_path / "lay"
    client.save_layout(f"{open_registry.host}/test/multi:v1", path)
    client.save_layout(f"{open_registry.host}/test/single:v1", path, tag="single")
    client.save_layout(f"{open_registry.host}/test/docker:v1", path, tag="docker")
    lay = rx.Layout(path)
    assert sorted(lay.tags()) == ["docker", "single", "v1"]
    multi = images["multi"]
    assert lay.resolve(f"oci:{path}:v1").digest == multi.digest
    assert isinstance(lay.manifest("v1"), rx.Index)
    arm = lay.image(f"oci:{path}:v1", platform="linux/arm64")
    assert arm.digest == multi.extra["platforms"]["linux/arm64"]
    cfg = lay.config(arm)
    assert cfg.architecture == "arm64"
    # Docker-typed content is kept unconverted: the digest is the registry's.
    assert lay.resolve("docker").media_type == mt.DOCKER_LIST
    assert lay.resolve("docker").digest == images["docker"].digest
    single = lay.image("single")
    got = lay.fetch_blobs("single", single.layers, tmp_path / "out")
    for p, d in zip(got, single.layers):
        assert "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() == d.digest
    assert lay.blob("single", single.config) == images["single"].extra["config_blob"].data
    by_digest = lay.manifest(f"oci:{path}@{multi.digest}")
    assert by_digest.raw == multi.root.data
    df = frames.layers(single, lay.config(single))
    assert len(df) == len(single.layers) and df["diff_id"].notna().all()
    tags = frames.tags(lay, f"oci:{path}")
    assert set(tags["tag"]) == {"docker", "single", "v1"}


def test_layout_detects_corruption_and_bad_input(open_registry, tmp_path, images):
    client = client_for(open_registry)
    path = tmp_path / "lay"
    client.save_layout(f"{open_registry.host}/test/single:v1", path)
    lay = rx.Layout(path)
    m = lay.image("v1")
    victim = path / "blobs" / "sha256" / m.layers[0].digest.split(":")[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(rx.DigestMismatch):
        lay.fetch_blobs("v1", m.layers[:1], tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(rx.NotFound, match="no tag 'nope'"):
        lay.resolve("nope")
    with pytest.raises(rx.NotFound, match="not an OCI image layout"):
        rx.Layout(tmp_path / "missing")
    with pytest.raises(rx.InvalidReference):
        parse_layout_reference("docker://x")


def test_skopeo_reads_our_layout(open_registry, tmp_path, images):
    require_binary("skopeo")
    client = client_for(open_registry)
    path = tmp_path / "lay"
    client.save_layout(f"{open_registry.host}/test/multi:v1", path)
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{path}:v1"], check=True, capture_output=True,
                         timeout=60).stdout
    assert raw == images["multi"].root.data


def test_parse_layout_reference():
    p = parse_layout_reference
    assert p("oci:/a/b:v1") == rx.LayoutReference("/a/b", "v1", None)
    assert p("oci:/a/b") == rx.LayoutReference("/a/b", None, None)
    d = "sha256:" + "a" * 64
    assert p(f"oci:rel/dir@{d}") == rx.LayoutReference("rel/dir", None, d)
    assert p(f"oci:/x:t@{d}") == rx.LayoutReference("/x", "t", d)
    assert str(p("oci:/a/b:v1")) == "oci:/a/b:v1"
