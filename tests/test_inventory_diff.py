"""rx.diff row for row against GNU tar + sha256sum of both images extracted, on images real tools wrote.

Pairs (tests/helpers/producer_fixtures.py and diff_images.py): buildah against podman; buildah against
buildah with the overlay driver (an opaque directory); buildah's edit of its own image (types changed,
mode and owner changed, same-size content, removals, hard links); two platforms of buildah's multi-arch
list; the same image pushed gzip and zstd (no change at all). The truth: helpers/extracted.py. Requests
counted at a proxy: with the layer indexes known, a diff asks for no blob.
"""

from __future__ import annotations

import pytest
from helpers.diff_images import build_pair
from helpers.extracted import extract, tree_state, truth_diff
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.frames.changes import DIFF_COLUMNS, diff_summary
from registry_explorer.inventory.diff import CHANGES

pytestmark = pytest.mark.integration
FIELDS = ("type", "size", "mode", "uid", "gid", "link", "digest")


@pytest.fixture(scope="module")
def edited_pair(producer_registry, tmp_path_factory):
    return build_pair(producer_registry, tmp_path_factory.mktemp("diff-pair"))


def _client(host, cache=False) -> rx.Client:
    return rx.Client(insecure=(host,), docker_config={}, cache=cache)


def _truth(reg, a: str, b: str, tmp_path, platforms=(None, None)) -> list[dict]:
    states = []
    for side, (ref, platform) in enumerate(zip((a, b), platforms)):
        repo, _, tag = ref.split("/", 1)[1].rpartition(":")
        states.append(tree_state(extract(reg.url, repo, tag, tmp_path / f"root-{side}", platform)))
    return truth_diff(*states)


def _ours(df) -> list[dict]:
    rows = []
    for r in df.to_dict("records"):
        row = {"path": r["path"], "change": r["change"]}
        for field in FIELDS:
            for s in ("a", "b"):
                v = r[f"{field}_{s}"]
                row[f"{field}_{s}"] = None if v is None or v is rx.frames.changes.pd.NA else v
        rows.append(row)
    return rows


def _check(reg, a, b, tmp_path, platform=None, platforms=(None, None)):
    df = rx.diff(_client(reg.host), a, b, platform=platform)
    assert list(df.columns) == DIFF_COLUMNS
    truth = _truth(reg, a, b, tmp_path, platforms)
    assert _ours(df) == truth
    return df


def test_buildah_against_podman(buildah_images, podman_images, producer_registry, tmp_path):
    df = _check(producer_registry, buildah_images["gzip"].reference, podman_images["gzip"].reference, tmp_path)
    assert {"added", "removed", "modified"} <= set(df["change"])
    assert (df["change"] == "removed").sum() > 10  # every path under a removed directory is a row


def test_opaque_directory(buildah_images, buildah_opaque_image, producer_registry, tmp_path):
    df = _check(producer_registry, buildah_images["gzip"].reference, buildah_opaque_image.reference, tmp_path)
    assert "opaque-dir/new.txt" in set(df["path"]) and "opaque-dir/old-1.txt" not in set(df["path"])


def test_types_modes_owners_links_and_removals(edited_pair, producer_registry, tmp_path):
    a, b = edited_pair
    df = _check(producer_registry, a, b, tmp_path).set_index("path")
    assert {c: df.loc[p, "change"] for c, p in (
        ("f2d", "t/f2d"), ("d2f", "t/d2f"), ("l2f", "t/l2f"), ("f2l", "t/f2l"), ("d2l", "t/d2l"))} == dict.fromkeys(
        ("f2d", "d2f", "l2f", "f2l", "d2l"), "type changed")
    assert df.loc["m/mode.sh", "change"] == "metadata only" and (df.loc["m/mode.sh", "mode_a"], df.loc["m/mode.sh", "mode_b"]) == (0o644, 0o755)
    assert df.loc["m/owner.txt", "change"] == "metadata only" and df.loc["m/owner.txt", "uid_b"] == 1000
    assert df.loc["m/content.txt", "change"] == "modified" and df.loc["m/content.txt", "size_a"] == df.loc["m/content.txt", "size_b"]
    assert str(df["mtime_a"].dtype).endswith(", UTC]") and df.loc["m/content.txt", "mtime_b"].year == 2023
    assert {"m/gone.txt", "m/gone-dir", "m/gone-dir/x.txt", "t/d2f/child.txt", "t/d2l/c.txt"} <= set(df.index[df.change == "removed"])
    assert df.loc["m/up-link", "digest_b"] == df.loc["m/up-target.txt", "digest_b"]  # a hard link has its target's bytes
    assert "m/same.txt" not in df.index and "m/hard-link" not in df.index
    assert df.loc["t/f2d", "layer_b"] == 1 and df.loc["t/f2d", "layer_a"] == 0


def test_two_platforms_of_one_index(buildah_multiarch, producer_registry, tmp_path):
    ref = buildah_multiarch.reference
    df = _check(producer_registry, ref, ref, tmp_path, platform=("linux/amd64", "linux/arm64"),
                platforms=("linux/amd64", "linux/arm64"))
    assert list(df["path"]) == ["arch.txt"] and df["change"].tolist() == ["modified"]


def test_same_content_other_compression_is_no_change(buildah_images, producer_registry):
    df = rx.diff(_client(producer_registry.host), buildah_images["gzip"].reference, buildah_images["zstd"].reference)
    assert df.empty and list(df.columns) == DIFF_COLUMNS


def test_warm_indexes_make_no_blob_request(buildah_images, podman_images, producer_registry, tmp_path):
    """Counted at a proxy: the first diff builds the indexes (one pass per layer); the second asks no blob."""
    a, b = buildah_images["gzip"].reference, podman_images["gzip"].reference
    with FaultProxy(producer_registry.url, upstream_verify=producer_registry.verify) as proxy:
        pa, pb = (r.replace(producer_registry.host, proxy.host) for r in (a, b))
        cold = rx.diff(_client(proxy.host, tmp_path), pa, pb)
        cold_blobs = [r for r in proxy.requests if "/blobs/" in r["path"]]
        proxy.requests.clear()
        warm = rx.diff(_client(proxy.host, tmp_path), pa, pb)
        seen = list(proxy.requests)
    assert warm.equals(cold)
    assert cold_blobs and not [r for r in seen if "/blobs/" in r["path"]]
    assert all("/manifests/" in r["path"] for r in seen) and len(seen) <= 4
    assert warm.attrs["bytes_moved"] < 10_000 and warm.attrs["pull_bytes"] > 10 << 20
    print(f"cold: {cold.attrs['requests']} requests {cold.attrs['bytes_moved']} bytes; warm: {len(seen)} requests, "
          f"{warm.attrs['bytes_moved']} bytes; pull: {warm.attrs['pull_bytes']} bytes")


def test_summary_adds_up(edited_pair, producer_registry):
    df = rx.diff(_client(producer_registry.host), *edited_pair)
    summary = diff_summary(df)
    total = summary[summary.top == "(all)"].set_index("change")
    assert total["paths"].sum() == len(df)
    assert set(total.index) <= set(CHANGES)
    per_dir = summary[summary.top != "(all)"].groupby("change")["paths"].sum()
    assert per_dir.to_dict() == total["paths"].to_dict()
    removed_bytes = int(df[(df.change == "removed") & (df.type_a == "file")]["size_a"].sum())
    assert total.loc["removed", "bytes_a"] == removed_bytes


def test_estargz_toc_digests_agree_with_the_verified_pass(buildah_images, ctr_remote_images, producer_registry):
    """ctr-remote's eStargz of buildah's image, listed from its TOC (no full pass): every file has the digest
    buildah's gzip layers got in their verified pass; only what eStargz adds differs (its landmark file, and
    the TOC itself, listed as tar -t lists it)."""
    client = _client(producer_registry.host)
    estargz = ctr_remote_images["estargz"].reference
    df = rx.diff(client, buildah_images["gzip"].reference, estargz)
    assert df[["path", "change"]].values.tolist() == [[".no.prefetch.landmark", "added"], ["stargz.index.json", "added"]]
    assert {client.cached_layer_index(d).kind for d in client.image(estargz).layers} == {"estargz-toc"}
