"""The real-producer harness builds what it claims: compression, annotations, tar contents, TOCs, and
digests that skopeo and containerd's ctr agree with (helpers/producer_fixtures.py)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
import requests
import zstandard
from helpers.producers import (
    ACCEPT,
    COMPRESSION,
    OCI_GZIP,
    OCI_TAR,
    OCI_ZSTD,
    STARGZ_TOC,
    ZSTD_CHUNKED_PREFIXES,
    Layout,
    ProducerError,
    Pushed,
    PushedIndex,
    ToolBox,
    check_layer,
    check_pushed,
    record_from_json,
)
from helpers.producers_content import BIG_FILE, MIB, OVER_4MIB

pytestmark = pytest.mark.integration

PUSHED = ["buildah-gzip", "buildah-zstd", "buildah-zstd-chunked", "buildah-opaque", "podman-gzip", "podman-zstd",
          "skopeo-gzip", "skopeo-zstd", "umoci-pushed", "ctr-remote-estargz", "ctr-remote-estargz-64k",
          "ctr-remote-zstdchunked", "ctr-remote-uncompressed"]
ZERO_BLOCK = b"\0" * 512


def get(reg, path: str, **headers) -> requests.Response:
    r = requests.get(f"{reg.url}/v2/{path}", headers=headers, verify=reg.verify, timeout=60)
    assert r.status_code in (200, 206), (path, r.status_code)
    return r


def manifest(reg, rec) -> dict:
    return get(reg, f"{rec.repository}/manifests/{rec.digest}", Accept=ACCEPT).json()


def blob(reg, rec, digest: str) -> bytes:
    data = get(reg, f"{rec.repository}/blobs/{digest}").content
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    return data


def tar_stream(data: bytes, media_type: str) -> bytes:
    if media_type == OCI_GZIP:
        return gzip.decompress(data)
    if media_type == OCI_ZSTD:  # zstd:chunked: many frames and skippable frames
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    assert media_type == OCI_TAR
    return data


def entry_name(name: str) -> str:
    """A tar or TOC name as the records spell it: no leading "./" or "/" (umoci's root entry is "/")."""
    name = name[2:] if name.startswith("./") else name
    return name.strip("/") or "/"


class Member:
    """A tar member and its content (TarInfo has __slots__)."""

    def __init__(self, info: tarfile.TarInfo, content: bytes):
        self.info, self.content = info, content

    def __getattr__(self, name):
        return getattr(self.info, name)


def tar_entries(stream: bytes) -> dict[str, Member]:
    """Members by name (leading "./" and "/" dropped); a stream that stops inside the last entry's padding
    (umoci) is padded first, so tarfile lists it like a complete one."""
    stream += b"\0" * (-len(stream) % 512) + ZERO_BLOCK * 2
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tf:
        out = {}
        for m in tf:
            out[entry_name(m.name)] = Member(m, tf.extractfile(m).read() if m.isreg() else b"")
        return out


def ends_with_eoa_marker(stream: bytes) -> bool:
    """Walk the headers: True when two zero blocks follow the last entry (POSIX end of archive)."""
    off = 0
    while off + 512 <= len(stream) and stream[off:off + 512] != ZERO_BLOCK:
        size = int(stream[off + 124:off + 136].strip(b"\0 ") or b"0", 8)
        off += 512 + size + (-size % 512)
    return stream[off:off + 1024] == ZERO_BLOCK * 2


def check_members(members: dict, layer, *, vfs: bool = False) -> None:
    """Every entry the tool was given is in the layer tar as given; removals are whiteouts."""
    for e in layer.entries:
        m = members[e.path]
        if e.kind == "file":
            assert m.isreg() and m.content == e.data and m.mode & 0o7777 == e.mode, e
        elif e.kind == "dir":
            assert m.isdir() and m.mode & 0o7777 == e.mode, e
        elif e.kind == "symlink":
            assert m.issym() and m.linkname == e.target, e
        else:  # the first of the pair a tool meets is the file, the other the link
            pair = {e.path: m, e.target: members[e.target]}
            assert sorted(x.type for x in pair.values()) == [tarfile.REGTYPE, tarfile.LNKTYPE], e
            assert next(x for x in pair.values() if x.islnk()).linkname in pair
    for gone in layer.removed:
        parent, _, base = gone.rpartition("/")
        if vfs and any(e.path == gone for e in layer.entries):  # re-created: vfs writes a whiteout per old file
            assert any(n.startswith(f"{gone}/.wh.") and n != f"{gone}/.wh..wh..opq" for n in members), gone
        else:
            assert (f"{parent}/" if parent else "") + ".wh." + base in members, gone
    for od in layer.opaque:
        assert members[f"{od}/.wh..wh..opq"].isreg()


@pytest.mark.parametrize("name", PUSHED)
def test_pushed_layers_have_the_compression_asked_for(produced, producer_registry, name):
    rec = produced[name]
    m = check_pushed(producer_registry, rec)  # manifest digest, layer count, media types, first bytes, annotations
    media_type, magic, _ = COMPRESSION[rec.variant]
    assert [d["mediaType"] for d in m["layers"]] == list(rec.layer_media_types) == [media_type] * len(rec.input.layers)
    for d in m["layers"]:
        head = get(producer_registry, f"{rec.repository}/blobs/{d['digest']}", Range="bytes=0-511").content
        assert head.startswith(magic) if magic else head[257:262] == b"ustar"
        notes = d.get("annotations") or {}
        if rec.variant != "zstd:chunked":  # ctr-remote's zstd:chunked also names its TOC this way; buildah's does not
            assert (STARGZ_TOC in notes) == (rec.variant == "estargz")
        chunked = [k for k in notes if k.startswith(ZSTD_CHUNKED_PREFIXES) and k.endswith("manifest-position")]
        assert bool(chunked) == (rec.variant == "zstd:chunked")


def test_the_checker_refuses_a_layer_that_is_not_what_was_asked(produced, producer_registry):
    """What the blob-info-cache trap looks like (a gzip blob where zstd was asked for) fails the harness."""
    rec = produced["buildah-gzip"]
    desc = manifest(producer_registry, rec)["layers"][0]
    head = blob(producer_registry, rec, desc["digest"])[:512]
    check_layer("gzip", desc, head, "as pushed")
    for variant, why in (("zstd", "media type"), ("zstd:chunked", "media type"), ("estargz", "stargz"),
                         ("none", "media type")):
        with pytest.raises(ProducerError, match=why):
            check_layer(variant, desc, head, "relabelled")
    with pytest.raises(ProducerError, match="first bytes"):
        check_layer("zstd", {**desc, "mediaType": OCI_ZSTD}, head, "zstd label on gzip bytes")
    zstd = produced["buildah-zstd"]
    plain = manifest(producer_registry, zstd)["layers"][0]
    head = blob(producer_registry, zstd, plain["digest"])[:512]
    check_layer("zstd", plain, head, "as pushed")
    with pytest.raises(ProducerError, match="no zstd-chunked manifest-position"):
        check_layer("zstd:chunked", plain, head, "plain zstd where zstd:chunked was asked for")


def test_no_compression_reused_another_ones_blob(produced, skopeo_layouts):
    """The same three tar streams, in five encodings: each encoding's blobs are its own."""
    by_variant: dict[str, set] = {}
    for n in PUSHED:
        if produced[n].input_name == "buildah":
            by_variant.setdefault(produced[n].variant, set()).update(produced[n].layer_digests)
    by_variant["none"] |= set(skopeo_layouts["uncompressed"].layer_digests)
    assert sorted(by_variant) == sorted(COMPRESSION)
    assert sum(len(s) for s in by_variant.values()) == len(set().union(*by_variant.values()))
    # decompressing ctr-remote and skopeo's uncompressed copy give buildah's tar streams (its diff_ids)
    assert produced["ctr-remote-uncompressed"].layer_digests == skopeo_layouts["uncompressed"].layer_digests


def test_buildah_layers_hold_what_buildah_was_given(produced, producer_registry):
    rec = produced["buildah-gzip"]
    m = manifest(producer_registry, rec)
    for layer, desc in zip(rec.input.layers, m["layers"]):
        members = tar_entries(tar_stream(blob(producer_registry, rec, desc["digest"]), desc["mediaType"]))
        check_members(members, layer, vfs=True)
    base, changes, big = (tar_entries(tar_stream(blob(producer_registry, rec, d["digest"]), d["mediaType"]))
                          for d in m["layers"])
    assert list(base)[0] == "000-first.txt" and list(base)[-1] == "zzz-last.txt"
    assert ".wh.gone-dir" in changes and "gone-dir/a.txt" not in changes, "a directory whiteout, not one per file"
    assert not any(n.endswith(".wh..wh..opq") for n in changes), "vfs cannot write an opaque marker"
    assert len(base[OVER_4MIB].content) > 4 * MIB and big[BIG_FILE].size == 20 * MIB
    assert rec.files["etc/app/middle.conf"].data.count(b"v2") == 5 and "gone-dir/a.txt" not in rec.files


@pytest.mark.parametrize("name", ["buildah-opaque", "podman-zstd", "skopeo-zstd", "ctr-remote-zstdchunked",
                                  "ctr-remote-uncompressed"])
def test_other_writers_layers_hold_what_they_were_given(produced, producer_registry, name):
    rec = produced[name]
    for layer, desc in zip(rec.input.layers, manifest(producer_registry, rec)["layers"]):
        members = tar_entries(tar_stream(blob(producer_registry, rec, desc["digest"]), desc["mediaType"]))
        check_members(members, layer, vfs=rec.input_name == "buildah")
        assert set(rec.format_entries) <= set(members)


def test_multiarch_list_has_two_platforms(produced, producer_registry, buildah_multiarch):
    idx = get(producer_registry, f"{buildah_multiarch.repository}/manifests/{buildah_multiarch.tag}",
              Accept=buildah_multiarch.media_type).json()
    assert {(d["platform"]["os"], d["platform"]["architecture"]) for d in idx["manifests"]} == {
        ("linux", "amd64"), ("linux", "arm64")}
    for platform, child in buildah_multiarch.platforms.items():
        m = check_pushed(producer_registry, child)
        config = json.loads(blob(producer_registry, child, m["config"]["digest"]))
        assert f"{config['os']}/{config['architecture']}" == platform
        (layer,) = m["layers"]
        members = tar_entries(tar_stream(blob(producer_registry, child, layer["digest"]), layer["mediaType"]))
        assert members["arch.txt"].content == platform.split("/")[1].encode() + b"\n"


def _estargz_toc(data: bytes) -> tuple[dict, bytes]:
    """The TOC of an eStargz blob, by its footer (stargz-snapshotter docs/estargz.md: 51-byte gzip member
    whose Extra field is %016x of the TOC offset + "STARGZ")."""
    footer = data[-51:]
    found = re.search(rb"([0-9a-f]{16})STARGZ", footer)
    assert found, footer
    toc_tar = gzip.decompress(data[int(found.group(1), 16):-51])
    toc_json = tar_entries(toc_tar)["stargz.index.json"].content
    return json.loads(toc_json), toc_json


@pytest.mark.parametrize("name, chunk", [("ctr-remote-estargz", 4 * MIB), ("ctr-remote-estargz-64k", 64 * 1024)])
def test_estargz_toc_chunks_the_20_mib_file(produced, producer_registry, name, chunk):
    rec = produced[name]
    desc = manifest(producer_registry, rec)["layers"][2]
    data = blob(producer_registry, rec, desc["digest"])
    toc, toc_json = _estargz_toc(data)
    assert desc["annotations"][STARGZ_TOC] == "sha256:" + hashlib.sha256(toc_json).hexdigest()
    parts = [e for e in toc["entries"] if e["name"] == BIG_FILE]
    assert [p["type"] for p in parts] == ["reg"] + ["chunk"] * (20 * MIB // chunk - 1)
    expected = rec.files[BIG_FILE].data
    assert parts[0]["digest"] == "sha256:" + hashlib.sha256(expected).hexdigest()
    for p in (parts[0], parts[len(parts) // 2], parts[-1]):  # each chunk is one gzip member, alone
        start, size = p.get("chunkOffset", 0), p.get("chunkSize") or len(expected)
        assert p["chunkDigest"] == "sha256:" + hashlib.sha256(expected[start:start + size]).hexdigest()
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert member.decompress(data[p["offset"]:p["offset"] + size + 4096]) == expected[start:start + size]
        assert member.eof


@pytest.mark.parametrize("name", ["buildah-zstd-chunked", "ctr-remote-zstdchunked"])
def test_zstd_chunked_annotations_point_at_a_verified_toc(produced, producer_registry, name):
    rec = produced[name]
    for desc in manifest(producer_registry, rec)["layers"]:
        notes = desc["annotations"]
        (prefix,) = {p for p in ZSTD_CHUNKED_PREFIXES if p + "manifest-position" in notes}
        offset, length, plain, kind = map(int, notes[prefix + "manifest-position"].split(":"))
        frame = get(producer_registry, f"{rec.repository}/blobs/{desc['digest']}",
                    Range=f"bytes={offset}-{offset + length - 1}").content
        assert notes[prefix + "manifest-checksum"] == "sha256:" + hashlib.sha256(frame).hexdigest()
        toc_json = zstandard.ZstdDecompressor().decompress(frame, max_output_size=plain)
        toc = json.loads(toc_json)
        assert kind == 1 and {entry_name(e["name"]) for e in toc["entries"]} >= {
            e.path for e in rec.input.layers[rec.layer_digests.index(desc["digest"])].entries if e.kind == "file"}
        if STARGZ_TOC in notes:  # ctr-remote also names the TOC JSON itself, as for eStargz
            assert notes[STARGZ_TOC] == "sha256:" + hashlib.sha256(toc_json).hexdigest()
        big = [e["type"] for e in toc["entries"] if e["name"] == BIG_FILE]
        assert not big or (big[0] == "reg" and big[1:] == ["chunk"] * (len(big) - 1) and len(big) > 1)


def _layout_streams(layout: Layout):
    m = json.loads(layout.blob(layout.digest).read_bytes())
    for d in m["layers"]:
        yield d, tar_stream(layout.blob(d["digest"]).read_bytes(), d["mediaType"])


def test_umoci_insert_writes_no_end_of_archive_marker(umoci_layout):
    streams = [s for _, s in _layout_streams(umoci_layout)]
    assert not any(ends_with_eoa_marker(s) for s in streams)
    # the first layer stops inside the padding of its last file; the others on a block boundary
    assert [len(s) % 512 == 0 for s in streams] == [False, True, True]
    for layer, stream in zip(umoci_layout.input.layers, streams):
        check_members(tar_entries(stream), layer)


def _gnu_tar_list(stream: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(["tar", "-t"], input=stream, capture_output=True)


def test_gnu_tar_lists_block_aligned_layers_without_the_marker(umoci_layout, produced, producer_registry):
    streams = [s for _, s in _layout_streams(umoci_layout)][1:]
    rec = produced["ctr-remote-zstdchunked"]
    for d in manifest(producer_registry, rec)["layers"]:
        streams.append(tar_stream(blob(producer_registry, rec, d["digest"]), d["mediaType"]))
    assert not any(ends_with_eoa_marker(s) for s in streams)
    for stream in streams:
        listed = _gnu_tar_list(stream)
        assert listed.returncode == 0, listed.stderr
        names = [entry_name(n) for n in listed.stdout.decode().splitlines()]
        assert names == list(tar_entries(stream))


def test_gnu_tar_refuses_the_umoci_layer_that_stops_inside_its_padding(umoci_layout):
    """umoci 0.4.7 leaves out the last file's padding too (umoci #436): GNU tar lists every entry, then
    exits 2; Python's tarfile raises after the last member (umoci's own Go reader accepts it)."""
    _, stream = next(_layout_streams(umoci_layout))
    listed = _gnu_tar_list(stream)
    assert listed.returncode == 2 and b"Unexpected EOF" in listed.stderr
    assert listed.stdout.decode().split()[-1] == "zzz-last.txt"
    with pytest.raises(tarfile.ReadError):
        list(tarfile.open(fileobj=io.BytesIO(stream), mode="r:"))


@pytest.mark.parametrize("which", ["uncompressed", "oci"])
def test_skopeo_layouts(skopeo_layouts, produced, which):
    layout = skopeo_layouts[which]
    index = json.loads((layout.path / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == layout.tag
    for f in (layout.path / "blobs" / "sha256").iterdir():  # every blob is named by its digest
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name
    streams = list(_layout_streams(layout))
    assert [d["mediaType"] for d, _ in streams] == list(layout.layer_media_types)
    for layer, (_, stream) in zip(layout.input.layers, streams):
        check_members(tar_entries(stream), layer, vfs=True)
    if which == "oci":  # copied from the registry unchanged
        assert layout.layer_digests == produced["buildah-gzip"].layer_digests


@pytest.mark.parametrize("name", ["buildah-zstd", "buildah-multiarch", "umoci-pushed", "ctr-remote-estargz-64k"])
def test_skopeo_inspect_raw_hashes_to_the_recorded_digest(produced, producer_registry, tmp_path, name):
    rec = produced[name]
    box = ToolBox(tmp_path)
    raw = box.run("skopeo", "inspect", "--raw", *box.registry_flags(producer_registry), f"docker://{rec.reference}")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == rec.digest


@pytest.mark.parametrize("name", ["buildah-multiarch", "podman-zstd", "umoci-pushed", "ctr-remote-estargz-64k"])
def test_ctr_fetches_the_same_digests(produced, producer_registry, ctr_fetch, name):
    rec = produced[name]
    children = rec.platforms.values() if isinstance(rec, PushedIndex) else [rec]
    expected = {rec.digest}
    for child in children:
        m = manifest(producer_registry, child)
        expected |= {child.digest, m["config"]["digest"], *(d["digest"] for d in m["layers"])}
    assert ctr_fetch(rec.reference) == expected


def test_tools_write_their_caches_into_the_namespace_not_the_host(producer_registry, produced, tmp_path):
    host_cache = Path("/var/lib/containers/cache")
    before = host_cache.exists() and sorted((p.name, p.stat().st_mtime_ns) for p in host_cache.iterdir())
    box = ToolBox(tmp_path)
    box.run("skopeo", "copy", *box.registry_flags(producer_registry, "src-"),
            f"docker://{produced['podman-gzip'].reference}", f"oci:{tmp_path / 'out'}:x")
    (written,) = tmp_path.glob("ns/*/_var_lib/u/containers/cache/blob-info-cache-v1.boltdb")
    assert written.stat().st_size > 0
    assert (host_cache.exists() and sorted((p.name, p.stat().st_mtime_ns) for p in host_cache.iterdir())) == before


def test_records_survive_the_between_sessions_cache(produced, producer_set):
    for name, rec in produced.items():
        doc = json.loads(json.dumps(rec.to_json(producer_set.base) if isinstance(rec, Layout) else rec.to_json()))
        back = record_from_json(doc, getattr(rec, "host", ""), producer_set.base)
        assert back == rec, name
        assert isinstance(back, type(rec)) and (not isinstance(rec, Pushed) or back.files == rec.files)


def test_under_ci_a_missing_producer_fails(monkeypatch):
    from helpers import producer_fixtures
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI"):
        producer_fixtures.unavailable("umoci: not installed")
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        producer_fixtures.unavailable("umoci: not installed")
