"""The end of a tar stream (issue 23, defect 2), with GNU tar as the reference.

Real writers stop after the last member: `ctr-remote image convert --zstdchunked` on a block
boundary, umoci 0.4.7's `insert` even before the last file's padding (umoci #436). Every member is
complete, so the layer lists and reads. A stream cut inside a member's data or inside a header
lost something and is refused. GNU tar 1.34 is asked about every cut as well, and the two edges
where we differ from it on purpose are pinned: it exits 2 when only the padding is missing (no byte
of content is), and 0 when the cut falls inside a header block (a header is lost).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from contextlib import contextmanager

import pytest
import zstandard

from registry_explorer.core.digest import VerifyingReader
from registry_explorer.core.errors import InvalidManifest
from registry_explorer.core.models import Descriptor
from registry_explorer.layers import iter_entries
from registry_explorer.layers.compress import ZstdFrameWalk, decompressed
from registry_explorer.peek.build import build_index
from registry_explorer.peek.ranged import read_entry_ranged

TAR = "application/vnd.oci.image.layer.v1.tar"
GZIP = TAR + "+gzip"
ZSTD = TAR + "+zstd"
FILES = [("a.txt", b"alpha\n" * 50), ("dir/b.bin", os.urandom(3000)), ("z-last.txt", b"the last one\n")]


def _tar(files=FILES, fmt=tarfile.PAX_FORMAT) -> tuple[bytes, list[tarfile.TarInfo]]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            if name == FILES[-1][0]:
                info.pax_headers = {"comment": "a PAX header before the last member"}
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return raw, tar.getmembers()


def _cuts():
    raw, members = _tar()
    last = members[-1]
    data_end = last.offset_data + last.size
    return raw, {
        "complete": len(raw),
        "one-zero-block": -(-data_end // 512) * 512 + 512,
        "no-marker": -(-data_end // 512) * 512,  # ctr-remote --zstdchunked
        "no-padding": data_end,  # umoci 0.4.7 insert
        "inside-last-data": data_end - 3,
        "inside-first-data": members[0].offset_data + 100,
        "inside-pax-header": last.offset + 100,  # last.offset: its PAX header
        "inside-pax-records": last.offset + 512 + 20,
        "inside-member-header": last.offset_data - 512 + 300,
    }


ACCEPTED = {"complete", "one-zero-block", "no-marker", "no-padding"}
_RAW, CUTS = _cuts()


def _names(data: bytes, media_type=TAR) -> list[str]:
    return [e.path for e in iter_entries(io.BytesIO(data), media_type)]


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("encode,media_type", [(lambda b: b, TAR), (gzip.compress, GZIP),
                                               (lambda b: zstandard.ZstdCompressor().compress(b), ZSTD)],
                         ids=["tar", "gzip", "zstd"])
def test_a_complete_last_member_ends_the_stream_a_cut_one_is_refused(cut, encode, media_type):
    stream = encode(_RAW[:CUTS[cut]])
    if cut in ACCEPTED:
        assert _names(stream, media_type) == [n for n, _ in FILES]
    else:
        with pytest.raises(InvalidManifest, match="truncated|unexpected end"):
            _names(stream, media_type)


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is the reference")
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_gnu_tar_agrees_except_at_the_two_documented_edges(cut):
    gnu = subprocess.run(["tar", "-t"], input=_RAW[:CUTS[cut]], capture_output=True)
    ours = cut in ACCEPTED
    edges = {"no-padding": (2, True), "inside-pax-header": (0, False), "inside-member-header": (0, False)}
    if cut in edges:
        assert (gnu.returncode, ours) == edges[cut], gnu.stderr
    else:
        assert (gnu.returncode == 0) == ours, (cut, gnu.returncode, gnu.stderr)


def test_empty_stream_is_refused():
    with pytest.raises(InvalidManifest, match="empty"):
        _names(b"")


def test_gnu_format_long_names_without_marker():
    files = [("d/" + "n" * 150, b"long name\n"), ("last", b"x" * 700)]
    raw, members = _tar(files, tarfile.GNU_FORMAT)
    end = members[-1].offset_data + members[-1].size
    assert _names(raw[:end]) == [n for n, _ in files]
    with pytest.raises(InvalidManifest):
        _names(raw[:end - 1])


class _Blobs:
    """A source of one in-memory blob (what build_index needs), verified by the real VerifyingReader."""

    def __init__(self, data: bytes):
        self.data = data

    @contextmanager
    def open_blob(self, ref, desc):
        yield VerifyingReader(io.BytesIO(self.data), desc.digest, desc.size, what="blob")


@pytest.mark.parametrize("media_type,encode", [(TAR, lambda b: b), (GZIP, gzip.compress)], ids=["tar", "gzip"])
def test_layer_without_padding_indexes_and_reads_its_last_file(media_type, encode):
    blob = encode(_RAW[:CUTS["no-padding"]])
    desc = Descriptor(media_type, "sha256:" + hashlib.sha256(blob).hexdigest(), len(blob))
    idx = build_index(_Blobs(blob), None, desc)
    assert idx.kind == ("tar" if media_type == TAR else "gzip-checkpoints")
    e = idx.find("z-last.txt")
    data, chain, _ = read_entry_ranged(idx, e, lambda a, b: blob[a:b])
    assert data == FILES[-1][1] and chain == "verified-index"


def test_truncated_zstd_is_caught_by_its_frames_not_by_the_tar():
    """python-zstandard ends quietly inside a frame; the frame walk notices (the tar no longer would)."""
    raw, _ = _tar()
    frames = b"".join(zstandard.ZstdCompressor(write_checksum=True).compress(raw[i:i + 1024])
                      for i in range(0, len(raw), 1024))
    walk = ZstdFrameWalk()
    walk.feed(frames)
    assert walk.at_boundary
    for cut in (10, len(frames) // 2, len(frames) - 2):
        reader = decompressed(io.BytesIO(frames[:cut]), ZSTD)
        with pytest.raises(InvalidManifest, match="truncated"):
            while reader.read(1 << 16):
                pass


def test_skippable_frames_are_walked_over():
    payload = zstandard.ZstdCompressor().compress(b"data")
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"12345"
    reader = decompressed(io.BytesIO(payload + skippable), ZSTD)
    assert reader.read(100) == b"data" and reader.read(100) == b""
    reader = decompressed(io.BytesIO(payload + skippable[:-1]), ZSTD)
    with pytest.raises(InvalidManifest, match="truncated"):
        while reader.read(100):
            pass


@pytest.mark.parametrize("cut", ["inside-last-data", "inside-first-data"])
def test_verified_pass_refuses_a_layer_cut_inside_data(cut):
    """The index-building pass hashes contents as it goes: a cut there is our error, not tarfile's."""
    blob = _RAW[:CUTS[cut]]
    desc = Descriptor(TAR, "sha256:" + hashlib.sha256(blob).hexdigest(), len(blob))
    with pytest.raises(InvalidManifest, match="truncated inside"):
        build_index(_Blobs(blob), None, desc)
