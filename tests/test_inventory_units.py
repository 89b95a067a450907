"""Issue 25's pure parts, without a registry: content digests from the passing stream, the diff rules, the SBOM
comparison (purls, versions, several versions of one name), and the sandbox samples' determinism."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile

import pytest
import zstandard

from registry_explorer.frames.changes import changes_frame, diff_summary
from registry_explorer.imagefs import reader
from registry_explorer.inventory import PackageRecord
from registry_explorer.inventory.declared import Declared, _purl, compare, declared_packages
from registry_explorer.inventory.diff import FileState, ImageState, changes
from registry_explorer.inventory.image import Found
from registry_explorer.peek.build import _entries, _walk
from registry_explorer.peek.digests import Hasher
from registry_explorer.sandbox import samples_inventory
from registry_explorer.supply.sbom import Package, Sbom

# Sizes around tarfile's stream buffer (64 KiB), its blocks (512) and a few large ones.
SIZES = [0, 1, 511, 512, 513, 65_023, 65_024, 65_535, 65_536, 65_537, 131_072, 200_000, 1 << 20]


def _random_tar(seed: int, fmt: int) -> tuple[bytes, dict[str, str]]:
    rnd = random.Random(seed)
    buf, want = io.BytesIO(), {}
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for i in range(60):
            # Long names need PAX / GNU extended headers: the content then starts after several header blocks.
            name = f"d{i % 7}/" + ("long-" * rnd.choice([0, 0, 30])) + f"f{i}.bin"
            size = rnd.choice(SIZES) if i % 3 else rnd.randrange(0, 300_000)
            data = rnd.randbytes(size)
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(data))
            want[name] = "sha256:" + hashlib.sha256(data).hexdigest()
            if i % 11 == 0:  # a hard link and a symlink between files: no digest of their own
                link = tarfile.TarInfo(name + ".hard")
                link.type, link.linkname = tarfile.LNKTYPE, name
                tar.addfile(link)
    return buf.getvalue(), want


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_content_digests_from_the_passing_stream_equal_hashlib(seed, compression, monkeypatch):
    read_again = []
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: read_again.append(m) or None)
    raw, want = _random_tar(seed, tarfile.PAX_FORMAT if seed % 2 else tarfile.GNU_FORMAT)
    blob, media_type = {
        "gzip": (gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"),
        "zstd": (zstandard.ZstdCompressor().compress(raw), "application/vnd.oci.image.layer.v1.tar+zstd"),
        "none": (raw, "application/vnd.oci.image.layer.v1.tar"),
    }[compression]
    hasher = Hasher(32 << 10)
    hasher.blob(blob)
    rows = _walk(io.BytesIO(blob), media_type, "layer x", hasher)
    hasher.close()
    entries = _entries(rows, hasher)
    got = {e.entry.path: e.digest for e in entries if e.entry.type == "file"}
    assert got == want
    assert read_again == []  # every content was hashed as it passed, none read a second time
    assert all(e.digest == "" for e in entries if e.entry.type == "hardlink")
    blocks = [hashlib.sha256(blob[i:i + (32 << 10)]).digest() for i in range(0, len(blob), 32 << 10)]
    assert hasher.blocks == blocks


def _state(path, kind="file", *, digest="sha256:a", size=1, mode=0o644, uid=0, mtime=0.0, link="", layer=0):
    return FileState(path, kind, size, mode, uid, 0, mtime, link, digest if kind == "file" else None, layer)


def test_diff_rules():
    a = {p.path: p for p in [_state("same"), _state("touched", mtime=1.0), _state("mode"), _state("content"),
                             _state("unknown", digest=""), _state("link", "symlink", link="x"), _state("t"),
                             _state("gone")]}
    b = {p.path: p for p in [_state("same"), _state("touched", mtime=2.0), _state("mode", mode=0o755),
                             _state("content", digest="sha256:b"), _state("unknown", digest=""),
                             _state("link", "symlink", link="y"), _state("t", "dir"), _state("new")]}
    got = {path: change for path, change, _, _ in changes(ImageState("a", None, a), ImageState("b", None, b))}
    assert got == {"mode": "metadata only", "content": "modified", "unknown": "modified", "link": "modified",
                   "t": "type changed", "gone": "removed", "new": "added"}  # an mtime alone is no change
    df = changes_frame(changes(ImageState("a", None, a), ImageState("b", None, b)))
    summary = diff_summary(df)
    assert summary[summary.top == "(all)"]["paths"].sum() == len(df) == 7
    assert list(summary["top"].unique()) == sorted(got) + ["(all)"]  # each root-level path is its own top


@pytest.mark.parametrize(("purl", "want"), [
    ("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64", ("deb", "zlib1g", "1:1.2.13.dfsg-1", {"arch": "amd64"})),
    ("pkg:rpm/fedora/bash@5.2.26-3.fc40?arch=x86_64&epoch=2", ("rpm", "bash", "5.2.26-3.fc40",
                                                                {"arch": "x86_64", "epoch": "2"})),
    ("pkg:npm/%40rx/alpha@2.0.0", ("npm", "@rx/alpha", "2.0.0", {})),
    ("pkg:maven/org.example/rx-app@1.4.0", ("maven", "org.example:rx-app", "1.4.0", {})),
    ("pkg:pypi/requests@2.32.3#src/x", ("pypi", "requests", "2.32.3", {})),
    ("not a purl", (None, None, None, {})),
])
def test_purls(purl, want):
    assert _purl(purl) == want


def _found(eco, name, version, layer=0):
    return Found(PackageRecord(eco, name, version, None, None, None, "db"), layer)


def test_compare_pairs_versions_and_names():
    found = [_found("rpm", "kernel", "6.1-1"), _found("rpm", "kernel", "6.2-1"), _found("rpm", "bash", "2:5.2-3"),
             _found("python", "Charset_Normalizer", "3.3.2"), _found("deb", "libssl3", "3.0.13"),
             _found("deb", "only-here", "1")]
    sbom = Sbom(raw=b"", format="spdx", spec_version="SPDX-2.3", name="x", relationships=(), packages=(
        Package("1", "kernel", "6.2-1", "pkg:rpm/f/kernel@6.2-1", "", ""),
        Package("2", "kernel", "6.0-1", "pkg:rpm/f/kernel@6.0-1", "", ""),
        Package("3", "bash", "5.2-3", "pkg:rpm/f/bash@5.2-3?epoch=2", "", ""),
        Package("4", "charset-normalizer", "3.3.2", "pkg:pypi/charset-normalizer@3.3.2", "", ""),
        Package("5", "libssl3", "3.0.11", "", "", ""),  # no purl: the one ecosystem with that name
        Package("6", "image", "1.0", "pkg:oci/image@sha256%3Aabc", "", ""),  # the image itself: not a package
        Package("7", "ghost", "1", "pkg:deb/debian/ghost@1", "", "")))
    declared = declared_packages(sbom)
    assert Declared("rpm", "bash", "2:5.2-3", "pkg:rpm/f/bash@5.2-3?epoch=2") in declared
    assert "image" not in {d.name for d in declared}
    pairs = {(f.record.name if f else d.name, f.record.version if f else None, d.version if d else None): s
             for f, d, s in compare(found, declared)}
    assert pairs == {
        ("kernel", "6.2-1", "6.2-1"): "same", ("kernel", "6.1-1", "6.0-1"): "version differs",
        ("bash", "2:5.2-3", "2:5.2-3"): "same", ("Charset_Normalizer", "3.3.2", "3.3.2"): "same",
        ("libssl3", "3.0.13", "3.0.11"): "version differs", ("only-here", "1", None): "only installed",
        ("ghost", None, "1"): "only in SBOM"}


def test_rpm_epoch_zero_is_no_epoch():
    pairs = compare([_found("rpm", "a", "0:1.0-1")], [Declared("rpm", "a", "1.0-1", "")])
    assert [s for _, _, s in pairs] == ["same"]


def test_sandbox_samples_are_deterministic():
    one, two = samples_inventory.build_inventory(), samples_inventory.build_inventory()
    for key in ("1.0", "1.1"):
        assert one[key].digest == two[key].digest
    assert one["sbom"].digest == two["sbom"].digest
    assert one["1.0"].extra["layers"][0].digest == one["1.1"].extra["layers"][0].digest  # the shared base layer


def test_ranged_reads_of_one_layer_are_merged_in_bounded_batches(monkeypatch):
    monkeypatch.setattr(reader, "BATCH_BYTES", 1000)
    monkeypatch.setattr(reader, "COALESCE_GAP", 10)
    rnd = random.Random(3)
    planned = [((lo, lo + rnd.randrange(1, 300)), f"f{i}") for i, lo in enumerate(rnd.sample(range(0, 20_000, 7), 80))]
    planned += [((0, 0), "empty"), ((30_000, 32_000), "big")]
    batches = reader._batches(planned)
    assert sorted(n for _, names in batches for n in names) == sorted(n for _, n in planned)
    by_name = dict((n, r) for r, n in planned)
    for merged, names in batches:
        assert sum(b - a for a, b in merged) <= 1000 or names == ["big"]
        assert all(b + 10 < c for (_, b), (c, _) in zip(merged, merged[1:]))  # merged where closer than the gap
        for n in names:  # every file's range is inside one fetched range
            lo, hi = by_name[n]
            assert hi == lo or any(a <= lo and hi <= b for a, b in merged)
