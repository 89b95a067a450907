"""Layer listing, merging and dive's wasted-space numbers on tar streams built in memory."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import random
import tarfile
import zlib

import pandas as pd
import pytest
import zstandard
from helpers.hostile import bounded

from registry_explorer import layers as layerfs
from registry_explorer.core.digest import VerifyingReader
from registry_explorer.core.errors import DigestMismatch, InvalidManifest, TooLarge
from registry_explorer.core.models import Descriptor
from registry_explorer.frames.files import (
    FILE_COLUMNS,
    IMAGE_FILE_COLUMNS,
    WASTED_COLUMNS,
    entries_frame,
    merged_frame,
    wasted_frame,
)
from registry_explorer.layers import Entry, efficiency, iter_entries, iter_layer, merge_layers

TAR = "application/vnd.oci.image.layer.v1.tar"
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
UNKNOWN = "application/octet-stream"
MTIME = 1704067200


def member(name, kind="file", data=b"", **kw):
    """A (TarInfo, data) pair; kind is file, dir, symlink, hardlink, char, block or fifo."""
    info = tarfile.TarInfo(name)
    info.mtime = kw.pop("mtime", MTIME)
    info.mode = kw.pop("mode", 0o644)
    info.uid = kw.pop("uid", 0)
    info.gid = kw.pop("gid", 0)
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
                 "fifo": tarfile.FIFOTYPE}[kind]
    info.linkname = kw.pop("linkname", "")
    info.pax_headers = kw.pop("pax", {})
    assert not kw, kw
    if kind == "file":
        info.size = len(data)
    return info, data


def tar_bytes(*members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(data)


def listing(data: bytes, media_type=TAR, **kw):
    return list(iter_entries(io.BytesIO(data), media_type, **kw))


SAMPLE = tar_bytes(
    member("./", "dir", mode=0o755),
    member("./etc/", "dir", mode=0o755),
    member("./etc/passwd", data=b"root:x:0:0\n", mode=0o100644, uid=1, gid=2),
    member("/usr/bin/tool", data=b"#!/bin/sh\n", mode=0o4755),
    member("bin", "symlink", linkname="usr/bin", mode=0o777),
    member("usr/bin/tool2", "hardlink", linkname="./usr/bin/tool"),
    member("dev/null", "char"),
    member("dev/sda", "block"),
    member("run/pipe", "fifo"),
    member("etc/.wh.shadow"),
    member("opt/app/.wh..wh..opq"),
    member(".wh.tmp"),
    member("var/.wh..wh.plnk", "dir"),
)


# --- entries -----------------------------------------------------------------------------------


def test_entry_fields_types_and_paths():
    got = {(e.path, e.whiteout): e for e in listing(SAMPLE)}
    assert list(got) == [
        (".", None), ("etc", None), ("etc/passwd", None), ("usr/bin/tool", None), ("bin", None),
        ("usr/bin/tool2", None), ("dev/null", None), ("dev/sda", None), ("run/pipe", None),
        ("etc/shadow", "file"), ("opt/app", "opaque"), ("tmp", "file"), ("var/.wh..wh.plnk", None),
    ]
    assert got["etc/passwd", None] == Entry("etc/passwd", "file", 11, 0o644, 1, 2, MTIME, "", None)
    assert got["usr/bin/tool", None].mode == 0o4755
    assert got["bin", None].type == "symlink" and got["bin", None].linkname == "usr/bin"
    assert got["usr/bin/tool2", None].type == "hardlink" and got["usr/bin/tool2", None].linkname == "usr/bin/tool"
    assert [got[p, None].type for p in ("dev/null", "dev/sda", "run/pipe", "etc", ".")] == [
        "char", "block", "fifo", "dir", "dir"]
    assert got["etc/shadow", "file"].type == "file"


def test_normalize_path():
    assert layerfs.normalize_path("./a//b/./c/") == "a/b/c"
    assert [layerfs.normalize_path(p) for p in ("", "/", "./", ".")] == [".", ".", ".", "."]
    assert layerfs.normalize_path("../x") == "../x"  # listed as written, never resolved


@pytest.mark.parametrize("media_type,encode", [
    (TAR, lambda b: b),
    (GZIP, gz),
    (ZSTD, zst),
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", gz),
    (UNKNOWN, gz),  # sniffed by magic number
    (UNKNOWN, zst),
    (UNKNOWN, lambda b: b),
    (GZIP, lambda b: gz(b[:4096]) + gz(b[4096:])),  # concatenated gzip members (pigz, appenders)
    (GZIP, lambda b: gz(b) + b"\0" * 100),  # zero padding after the member, as gzip(1) accepts
    (ZSTD, lambda b: zst(b[:4096]) + zst(b[4096:])),  # several zstd frames
], ids=["tar", "gzip", "zstd", "docker-gzip", "sniff-gzip", "sniff-zstd", "sniff-tar", "gzip-members",
        "gzip-padding", "zstd-frames"])
def test_compressions_give_the_same_listing(media_type, encode):
    assert listing(encode(SAMPLE), media_type) == listing(SAMPLE)


def _gz_tar_with_one_big_file(size: int) -> bytes:
    """gzip(tar of `big` with `size` zero bytes, then `b`), built in chunks: the tar itself is never in memory."""
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    info = tarfile.TarInfo("big")
    info.size, info.mtime = size, MTIME
    out = [comp.compress(info.tobuf(tarfile.PAX_FORMAT))]
    chunk = bytes(1 << 20)
    for done in range(0, size, len(chunk)):
        out.append(comp.compress(chunk[: min(len(chunk), size - done)]))
    out.append(comp.compress(bytes(-size % tarfile.BLOCKSIZE)))
    small, data = member("b", data=b"x")
    out.append(comp.compress(small.tobuf(tarfile.PAX_FORMAT) + data + bytes(tarfile.BLOCKSIZE - 1)))
    out.append(comp.compress(bytes(2 * tarfile.BLOCKSIZE)) + comp.flush())
    return b"".join(out)


def test_contents_are_skipped_not_buffered():
    """A layer holding a 200 MiB file is listed with the file's bytes skipped: peak RSS grows far less than 200 MiB."""
    size = 200 << 20
    blob = _gz_tar_with_one_big_file(size)
    assert len(blob) < 2 << 20, "the fixture itself stays small in memory"
    with bounded(seconds=120, rss=48 << 20) as b:
        got = [(e.path, e.size) for e in listing(blob, GZIP)]
    assert got == [("big", size), ("b", 1)]
    assert b.rss_growth < 48 << 20


# --- hostile and damaged input -----------------------------------------------------------------

def _end_of_members(data: bytes) -> int:
    """Offset of the end-of-archive marker: where a tar cut cleanly between members ends."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + -(-last.size // 512) * 512


@pytest.mark.parametrize("cut", ["mid-header", "mid-data", "empty"])
def test_truncated_tar_is_an_error(cut):
    data = tar_bytes(member("a", data=b"x" * 3000), member("b", data=b"y" * 10))
    at = {"mid-header": 512 + 512 * 6 + 100, "mid-data": 1024 + 700, "empty": 0}[cut]
    with pytest.raises(InvalidManifest, match="truncated|unexpected end|empty"):
        listing(data[:at])


def test_tar_without_end_of_archive_marker_lists_every_member():
    """ctr-remote --zstdchunked and umoci insert end after the last member (tests/test_tar_end.py has more)."""
    data = tar_bytes(member("a", data=b"x" * 3000), member("b", data=b"y" * 10))
    assert listing(data[:_end_of_members(data)]) == listing(data)


@pytest.mark.parametrize("cut", [10, 300, -5])
def test_truncated_gzip_is_an_error(cut):
    data = gz(tar_bytes(member("a", data=os.urandom(5000))))
    with pytest.raises(InvalidManifest, match="gzip stream is truncated"):
        listing(data[:cut], GZIP)


def test_truncated_zstd_is_an_error():
    # zstandard's stream_reader ends quietly at a truncated frame; the missing tar end marker tells.
    data = zst(tar_bytes(member("a", data=os.urandom(5000)), member("b", data=os.urandom(3000))))
    with pytest.raises(InvalidManifest):
        listing(data[: len(data) // 2], ZSTD)


def _replace_header(data: bytes, name: str, block: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        at = tar.getmember(name).offset
    return data[:at] + block + data[at + 512:]


NOISE = random.Random(7).randbytes(2048)


@pytest.mark.parametrize("media_type,data,match", [
    (GZIP, gz(SAMPLE) + b"garbage!", "not gzip"),
    (GZIP, b"\x1f\x8b\x07" + bytes(200), "gzip stream is corrupt"),  # compression method 7 does not exist
    (GZIP, b"", "gzip stream is empty"),
    (ZSTD, zst(SAMPLE) + b"garbage!", "zstd stream is corrupt"),
    (TAR, NOISE, "invalid tar header at offset 0"),
    (TAR, _replace_header(SAMPLE, "/usr/bin/tool", NOISE[:512]), "invalid tar header at offset"),
], ids=["gzip-trailing-garbage", "gzip-bad-method", "gzip-empty", "zstd-trailing-garbage", "not-tar",
        "bad-header-mid-archive"])
def test_corrupt_streams_are_clear_errors(media_type, data, match):
    with pytest.raises(InvalidManifest, match=match):
        listing(data, media_type)


def test_too_many_entries():
    data = tar_bytes(*(member(f"f{i}") for i in range(5)))
    assert len(listing(data, max_entries=5)) == 5
    with pytest.raises(InvalidManifest, match="more than 4 entries"):
        listing(data, max_entries=4)


def test_too_long_paths():
    long_name = "d/" * 60 + "file"  # 124 bytes: needs a PAX path record
    data = tar_bytes(member(long_name))
    assert listing(data)[0].path == long_name
    with pytest.raises(InvalidManifest, match="path is longer than 100 bytes"):
        listing(data, max_path=100)
    with pytest.raises(InvalidManifest, match="link target is longer"):
        listing(tar_bytes(member("l", "symlink", linkname="x" * 200)), max_path=100)
    with pytest.raises(InvalidManifest, match=f"longer than {layerfs.MAX_PATH_LENGTH}"):
        listing(tar_bytes(member("a/" * 2100)))


def test_decompression_bomb_is_capped():
    bomb = tar_bytes(member("zeros", data=bytes(8 << 20)))
    for media_type, encode in ((GZIP, gz), (ZSTD, zst)):
        compressed = encode(bomb)
        assert len(compressed) < 64 << 10
        with pytest.raises(TooLarge, match="limit is 1048576 bytes"):
            listing(compressed, media_type, max_bytes=1 << 20)
    # Many small entries past the cap trip it too, not only one big entry.
    many = tar_bytes(*(member(f"f{i}", data=bytes(4000)) for i in range(400)))
    with pytest.raises(TooLarge):
        listing(gz(many), GZIP, max_bytes=1 << 20)


def test_oversized_pax_header_is_refused():
    data = tar_bytes(member("a", pax={"comment": "x" * (2 << 20)}))
    with pytest.raises(TooLarge, match="tar headers of one entry"):
        listing(gz(data), GZIP)


def test_long_extended_header_chain_is_refused():
    data = tar_bytes(member("a", data=b"hello", pax={"comment": "hi"}))
    pax_size = int(data[124:136].rstrip(b"\0 ") or b"0", 8)
    pax = data[: 512 + -(-pax_size // 512) * 512]  # the 'x' header and its records
    assert listing(pax * 3 + data[len(pax):])[0].path == "a"
    with pytest.raises(InvalidManifest, match="extended tar headers chained"):
        listing(pax * 40 + data[len(pax):])


# --- verification through a client -------------------------------------------------------------


class FakeClient:
    """Serves blobs from memory through the real VerifyingReader, like Client.open_blob."""

    def __init__(self, blobs: dict[str, bytes]):
        self.blobs = blobs
        self.readers: list[VerifyingReader] = []
        self.workers = 2

    @contextlib.contextmanager
    def open_blob(self, ref, descriptor):
        reader = VerifyingReader(io.BytesIO(self.blobs[descriptor.digest]), descriptor.digest, descriptor.size)
        self.readers.append(reader)
        yield reader


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_iter_layer_verifies_the_digest_at_the_end():
    data = gz(SAMPLE)
    desc = Descriptor(GZIP, _sha(data), len(data))
    client = FakeClient({desc.digest: data})
    assert len(list(iter_layer(client, "r/x:1", desc))) == 13
    assert client.readers[-1].verified


def test_digest_mismatch_surfaces():
    data = gz(SAMPLE)
    desc = Descriptor(GZIP, _sha(b"something else"), len(data))
    with pytest.raises(DigestMismatch) as info:
        list(iter_layer(FakeClient({desc.digest: data}), "r/x:1", desc))
    assert info.value.expected == desc.digest and info.value.actual == _sha(data)


def test_corrupt_download_is_blamed_on_the_digest_not_the_layer():
    good = gz(tar_bytes(member("a", data=os.urandom(100_000)), member("b", data=b"b")))
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF  # what the fault proxy does
    desc = Descriptor(GZIP, _sha(good), len(good))
    with pytest.raises(DigestMismatch):
        list(iter_layer(FakeClient({desc.digest: bytes(bad)}), "r/x:1", desc))
    # The same damage in a blob whose digest matches is the layer's fault.
    desc_bad = Descriptor(GZIP, _sha(bytes(bad)), len(bad))
    with pytest.raises(InvalidManifest, match=desc_bad.digest):
        list(iter_layer(FakeClient({desc_bad.digest: bytes(bad)}), "r/x:1", desc_bad))


# --- merge ---------------------------------------------------------------------------------


def E(path, type="file", size=0, whiteout=None):  # noqa: N802 - a terse constructor for tables
    return Entry(path, type, size, 0o644, 0, 0, MTIME, "", whiteout)


def test_merge_applies_whiteouts_in_order():
    layers = [
        (0, "sha256:l0", [E("etc", "dir"), E("etc/a", size=1), E("etc/b", size=2), E("opt", "dir"),
                          E("opt/x", size=3), E("opt/sub", "dir"), E("opt/sub/y", size=4), E("gone", "dir"),
                          E("gone/deep", "dir"), E("gone/deep/z", size=5), E("dir2file", "dir"), E("dir2file/c")]),
        (1, "sha256:l1", [E("etc/a", size=10), E("gone", whiteout="file"), E("new", size=6)]),
        (2, "sha256:l2", [E("etc/b", whiteout="file"), E("opt", whiteout="opaque"), E("opt/fresh", size=7),
                          E("new", whiteout="file"), E("new", size=8), E("dir2file", size=9)]),
    ]
    merged = {p.entry.path: (p.layer_index, p.layer_digest, p.entry.size) for p in merge_layers(layers)}
    assert merged == {
        "etc": (0, "sha256:l0", 0),
        "etc/a": (1, "sha256:l1", 10),  # last writer wins
        "opt": (0, "sha256:l0", 0),  # the opaque directory itself stays
        "opt/fresh": (2, "sha256:l2", 7),  # entries of the opaque whiteout's own layer stay
        "new": (2, "sha256:l2", 8),  # a whiteout never hides its own layer's entries
        "dir2file": (2, "sha256:l2", 9),  # a file over a directory drops the directory's contents
    }
    assert list(merged) == sorted(merged)


def test_whiteouts_listed_after_their_own_layers_entries_hide_only_lower_layers():
    """Tar order is free: a whiteout after an entry of its own layer must still not hide that entry."""
    layers = [
        (0, "sha256:l0", [E("new", size=1), E("opt", "dir"), E("opt/x", size=3)]),
        (1, "sha256:l1", [E("new", size=8), E("new", whiteout="file"), E("opt/fresh", size=7),
                          E("opt", whiteout="opaque")]),
    ]
    merged = {p.entry.path: (p.layer_index, p.entry.size) for p in merge_layers(layers)}
    assert merged == {"new": (1, 8), "opt": (0, 0), "opt/fresh": (1, 7)}


def test_merge_recreates_after_delete_and_opaque_root():
    layers = [
        (0, "a", [E("x", "dir"), E("x/1"), E("y")]),
        (1, "b", [E("x", whiteout="file")]),
        (2, "c", [E("x", "dir"), E("x/2")]),
        (3, "d", [E(".", whiteout="opaque"), E("z")]),
    ]
    assert [p.entry.path for p in merge_layers(layers)] == ["z"]
    assert [p.entry.path for p in merge_layers(layers[:3])] == ["x", "x/2", "y"]


# --- dive's efficiency ---------------------------------------------------------------------


def test_efficiency_matches_dive_unit_test():
    # dive/filetree/efficiency_test.go TestEfficency: parents are implicit (not directories),
    # so the whiteout of /etc/nginx counts 0 bytes and the score is exactly 0.75.
    layers = [
        [E("etc/nginx/nginx.conf", size=2000), E("etc/nginx/public", size=3000)],
        [E("etc/nginx/nginx.conf", size=5000), E("etc/athing", size=10000)],
        [E("etc/nginx", whiteout="file")],
    ]
    eff = efficiency(layers)
    assert eff.score == 0.75
    assert [(u.path, u.count, u.total_size, u.layers) for u in eff.inefficient] == [
        ("etc/nginx/nginx.conf", 2, 7000, (0, 1))]
    assert eff.wasted_bytes == 7000
    # TestEfficency_ScratchImage
    scratch = efficiency([[E("nothing")], [], []])
    assert scratch.score == 1.0 and scratch.inefficient == []
    assert efficiency([]).score == 1.0


def test_efficiency_hand_computed():
    layers = [
        [E("a.txt", size=100), E("d", "dir"), E("d/f", size=1000), E("e", "dir"), E("c", "dir"),
         E("c/old", size=50)],
        [E("a.txt", size=300), E("d", whiteout="file")],
        [E("a.txt", whiteout="file"), E("e", whiteout="file"), E("c", whiteout="opaque")],
    ]
    eff = efficiency(layers)
    # Leaf versions: a.txt 100, 300, then 0 (whiteout of a file); d/f 1000 once; d 1000 once (its
    # whiteout is charged the directory's contents); e 0 twice (empty dir, then removed);
    # c/old 50 once (opaque whiteouts are ignored, as in dive).
    assert [(u.path, u.count, u.total_size, u.min_size, u.wasted_size, u.layers) for u in eff.inefficient] == [
        ("a.txt", 3, 400, 0, 400, (0, 1, 2)),
        ("e", 2, 0, 0, 0, (0, 2)),
    ]
    assert eff.discovered_bytes == 400 + 1000 + 1000 + 0 + 50
    assert eff.score == pytest.approx((0 + 1000 + 1000 + 0 + 50) / 2450)
    assert eff.score == 1 - sum(u.wasted_size for u in eff.inefficient) / eff.discovered_bytes
    assert (eff.wasted_bytes, eff.total_bytes, eff.user_bytes) == (400, 1150 + 300 + 0, 300)
    assert eff.wasted_user_ratio == pytest.approx(400 / 300)


# --- pure frames ---------------------------------------------------------------------------


def test_entries_frame_columns_and_dtypes():
    df = entries_frame(listing(SAMPLE))
    assert list(df.columns) == FILE_COLUMNS
    assert len(df) == 13
    assert str(df["size"].dtype) == "int64" and str(df["mode"].dtype) == "int64"
    assert str(df["mtime"].dt.tz) == "UTC"
    assert df["mtime"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert df.loc[df.path == "usr/bin/tool", "mode"].item() == 0o4755
    assert df.loc[df.whiteout == "opaque", "path"].tolist() == ["opt/app"]
    empty = entries_frame([])
    assert list(empty.columns) == FILE_COLUMNS and len(empty) == 0 and str(empty["size"].dtype) == "int64"
    # An mtime beyond pandas' range becomes NaT instead of failing the whole frame.
    far = entries_frame([Entry("x", "file", 0, 0, 0, 0, 1e13, "", None)])
    assert far["mtime"].isna().all()


def test_merged_and_wasted_frames():
    layers = [[E("a", size=5), E("b", size=1)], [E("a", size=7)], [E("b", whiteout="file")]]
    merged = merged_frame(merge_layers([(i, f"sha256:{i}", e) for i, e in enumerate(layers)]))
    assert list(merged.columns) == IMAGE_FILE_COLUMNS
    assert merged[["path", "layer_index", "layer_digest", "size"]].values.tolist() == [["a", 1, "sha256:1", 7]]
    df = wasted_frame(layers)
    assert list(df.columns) == WASTED_COLUMNS
    assert df.values.tolist() == [["a", 2, 12, 7, [0, 1]], ["b", 2, 1, 1, [0, 2]]]
    assert df.attrs == {"efficiency": pytest.approx(5 / 13), "wasted_bytes": 13, "total_bytes": 13,
                        "user_bytes": 7, "wasted_user_ratio": pytest.approx(13 / 7)}
