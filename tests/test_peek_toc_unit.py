"""TOC formats without a registry (issue 23): eStargz files in many chunks, zstd:chunked, and their stored indexes.

The layers come from our own writers (`peek.estargz.estargz_layer`, `peek.zstdchunked.zstd_chunked_layer`),
laid out as ctr-remote and containers/storage lay them out; the same reads against the real tools'
layers are in tests/test_peek_producers.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest
import zstandard

from registry_explorer.core.errors import DigestMismatch, InvalidManifest
from registry_explorer.core.models import Descriptor
from registry_explorer.layers import iter_entries
from registry_explorer.peek import toc as toc_mod
from registry_explorer.peek.estargz import TOC_NAME, estargz_layer, read_toc_index
from registry_explorer.peek.indexes import LayerIndexes
from registry_explorer.peek.ranged import read_entry_ranged
from registry_explorer.peek.stored import decode, encode
from registry_explorer.peek.trust import ESTARGZ_TOC, ZSTD_CHUNKED_TOC, chains_for
from registry_explorer.peek.zstdchunked import (
    footer_position,
    index_from_zstd_toc,
    parse_position,
    read_zstd_toc_index,
    zstd_chunked_layer,
)
from registry_explorer.sources.cache import Cache

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
BIG = os.urandom(5 * 65536 + 1234)  # six chunks of 64 KiB, the last one short
FILES = [("etc", "dir", b""), ("etc/motd", "reg", b"hello\n"), ("big.bin", "reg", BIG), ("empty", "reg", b""),
         ("link", "symlink", "etc/motd"), ("z-last.txt", "reg", b"last\n")]
CHUNK = 64 << 10


class Blob:
    """A blob behind `fetch(start, end)`, counting requests and bytes as a registry would see them."""

    def __init__(self, data: bytes, media_type: str, annotations=None):
        self.data = bytearray(data)
        self.desc = Descriptor(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data),
                               annotations=annotations or {})
        self.requests: list[tuple[int, int]] = []

    def fetch(self, start: int, end: int) -> bytes:
        self.requests.append((start, end))
        return bytes(self.data[start:end])

    @property
    def moved(self) -> int:
        return sum(b - a for a, b in self.requests)


def estargz(chunk_size=CHUNK):
    blob, toc_digest, _ = estargz_layer(FILES, chunk_size=chunk_size)
    b = Blob(blob, GZIP, {"containerd.io/snapshot/stargz/toc.digest": toc_digest})
    return b, read_toc_index(b.fetch, b.desc, toc_digest)


def zstd_chunked(chunk_size=CHUNK):
    blob, notes, _ = zstd_chunked_layer(FILES, chunk_size=chunk_size)
    b = Blob(blob, ZSTD, notes)
    checksum, position = (notes[k] for k in sorted(notes))  # manifest-checksum, manifest-position
    return b, read_zstd_toc_index(b.fetch, b.desc, checksum, position)


FORMATS = {"estargz": estargz, "zstd-chunked": zstd_chunked}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_in_many_chunks_reads_whole_in_one_request(fmt):
    blob, idx = FORMATS[fmt]()
    e = idx.find("big.bin")
    assert len(e.chunks) == 6 and [c.u_size for c in e.chunks] == [CHUNK] * 5 + [1234]
    assert all(c.digest for c in e.chunks) and e.digest == "sha256:" + hashlib.sha256(BIG).hexdigest()
    blob.requests.clear()
    data, chain, _ = read_entry_ranged(idx, e, blob.fetch)
    assert data == BIG and chain == {"estargz": ESTARGZ_TOC, "zstd-chunked": ZSTD_CHUNKED_TOC}[fmt]
    assert blob.requests == [(e.chunks[0].c_start, e.chunks[-1].c_end)]  # contiguous chunks: one Range
    assert blob.moved == e.chunk_size <= len(gzip.compress(BIG)) + 6 * 4096


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", [0, 3, 5])
def test_a_flipped_byte_in_any_chunk_is_caught_by_that_chunks_digest(fmt, which):
    blob, idx = FORMATS[fmt]()
    c = idx.find("big.bin").chunks[which]
    blob.data[(c.c_start + c.c_end) // 2] ^= 0xFF
    with pytest.raises(DigestMismatch, match=f"chunk at byte {c.u_offset} of big.bin") as exc:
        read_entry_ranged(idx, idx.find("big.bin"), blob.fetch, origin="layout")
    assert exc.value.origin == "layout" and "in transit" not in str(exc.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_toc_lists_what_tar_lists(fmt):
    """Defect 4: an eStargz TOC lists stargz.index.json, as `tar -t` does (it is the last member)."""
    blob, idx = FORMATS[fmt]()
    media_type = blob.desc.media_type
    tar = [(e.path, e.type, e.size, e.mode) for e in iter_entries(io.BytesIO(bytes(blob.data)), media_type)]
    assert [(e.entry.path, e.entry.type, e.entry.size, e.entry.mode) for e in idx.entries] == tar
    assert (TOC_NAME in {p for p, *_ in tar}) == (fmt == "estargz")
    assert idx.toc_offset > 0  # where the format's own metadata starts in the blob


def test_reading_stargz_index_json_costs_nothing_and_gives_the_verified_toc():
    blob, idx = estargz()
    blob.requests.clear()
    data, chain, _ = read_entry_ranged(idx, idx.find(TOC_NAME), blob.fetch)
    assert blob.requests == [] and chain == ESTARGZ_TOC
    assert "sha256:" + hashlib.sha256(data).hexdigest() == idx.anchor and json.loads(data)["version"] == 1


def test_chunks_are_grouped_into_bounded_requests(monkeypatch):
    monkeypatch.setattr(toc_mod, "RANGE_GROUP", 3 * CHUNK)
    blob, idx = zstd_chunked()
    blob.requests.clear()
    assert read_entry_ranged(idx, idx.find("big.bin"), blob.fetch)[0] == BIG
    assert len(blob.requests) == 3 and blob.moved == idx.find("big.bin").chunk_size


def test_zeros_chunks_are_made_not_fetched():
    """containers/storage marks runs of zeros `chunkType: zeros` (its holes finder)."""
    content = b"head" * 1000 + bytes(100_000) + b"tail" * 1000
    blob, notes, _ = zstd_chunked_layer([("f", "reg", content)], chunk_size=4000)
    position = notes["io.github.containers.zstd-chunked.manifest-position"]
    offset, length, _ = parse_position(position, len(blob), "x")
    doc = json.loads(zstandard.ZstdDecompressor().decompress(blob[offset:offset + length]))
    zeros = [e for e in doc["entries"] if e.get("chunkDigest") ==
             "sha256:" + hashlib.sha256(bytes(e.get("chunkSize", 0))).hexdigest()]
    assert zeros
    for e in zeros:
        e["chunkType"] = "zeros"
    compressed = zstandard.ZstdCompressor().compress(json.dumps(doc).encode())
    checksum = "sha256:" + hashlib.sha256(compressed).hexdigest()
    idx = index_from_zstd_toc(compressed, "sha256:" + "0" * 64, len(blob), ZSTD, checksum, offset)
    fetched = []

    def fetch(a, b):
        fetched.append((a, b))
        return blob[a:b]
    assert read_entry_ranged(idx, idx.find("f"), fetch)[0] == content
    holes = [c for c in idx.find("f").chunks if c.zeros]
    assert len(holes) == len(zeros) and not any(a <= h.c_start < b for h in holes for a, b in fetched)


@pytest.mark.parametrize("damage", ["gap", "overlap", "past-the-toc", "chunk-of-nothing", "no-digest"])
def test_a_toc_whose_chunks_do_not_tile_the_file_is_refused(damage):
    blob, notes, _ = zstd_chunked_layer(FILES, chunk_size=CHUNK)
    offset, length, _ = parse_position(notes["io.github.containers.zstd-chunked.manifest-position"], len(blob), "x")
    doc = json.loads(zstandard.ZstdDecompressor().decompress(blob[offset:offset + length]))
    entries = doc["entries"]
    chunks = [e for e in entries if e["name"] == "big.bin"]
    if damage == "gap":
        chunks[2]["chunkOffset"] += 10
    elif damage == "overlap":
        chunks[2]["chunkOffset"] -= 10
    elif damage == "past-the-toc":
        chunks[0]["endOffset"] = len(blob)
    elif damage == "chunk-of-nothing":
        entries.insert(0, {"type": "chunk", "name": "etc/motd", "offset": 100})
    else:
        del chunks[0]["digest"]
    with pytest.raises(InvalidManifest):
        toc_mod.entries_from_toc(entries, "layer x", offset - 8)


def test_footer_and_annotation_agree_and_both_magics_are_read():
    blob, notes, _ = zstd_chunked_layer(FILES)
    position = notes["io.github.containers.zstd-chunked.manifest-position"]
    assert footer_position(blob[-72:], len(blob), "x") == parse_position(position, len(blob), "x")
    # the first writers (before containers/storage 1.50): a 40-byte footer ending in "GnUlInUx"
    offset, length, plain = parse_position(position, len(blob), "x")
    old = b"\x50\x2a\x4d\x18" + (40).to_bytes(4, "little") + b"".join(
        v.to_bytes(8, "little") for v in (offset, length, plain, 1)) + b"GnUlInUx"
    assert footer_position(b"junk" + old, len(blob), "x") == (offset, length, plain)
    with pytest.raises(InvalidManifest, match="footer"):
        footer_position(old[:-1] + b"y", len(blob), "x")


@pytest.mark.parametrize("text", ["1:2:3", "a:b:c:d", "100:10:50:2", "4:10:50:1", "10:999999999:50:1"])
def test_a_bad_position_annotation_is_refused(text):
    with pytest.raises(InvalidManifest):
        parse_position(text, 10_000, "layer x")


def test_a_toc_that_does_not_match_its_checksum_is_refused_before_it_is_read():
    blob, notes, _ = zstd_chunked_layer(FILES)
    b = Blob(blob, ZSTD, notes)
    position = notes["io.github.containers.zstd-chunked.manifest-position"]
    with pytest.raises(DigestMismatch, match="TOC"):
        read_zstd_toc_index(b.fetch, b.desc, "sha256:" + "1" * 64, position)
    offset = int(position.split(":")[0])
    b.data[offset + 3] ^= 1
    with pytest.raises(DigestMismatch, match="TOC"):
        read_zstd_toc_index(b.fetch, b.desc, notes["io.github.containers.zstd-chunked.manifest-checksum"], position)
    with pytest.raises(DigestMismatch, match="layout's file") as exc:  # read from a layout: its file is the cause
        read_zstd_toc_index(b.fetch, b.desc, notes["io.github.containers.zstd-chunked.manifest-checksum"], position,
                            origin="layout")
    assert exc.value.origin == "layout"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_stored_toc_index_is_rebuilt_from_its_verified_toc(fmt, tmp_path):
    blob, idx = FORMATS[fmt]()
    store = LayerIndexes(Cache(tmp_path))
    store.remember(idx)
    again = LayerIndexes(Cache(tmp_path)).find(blob.desc)
    assert again is not None and again.kind == idx.kind and again.chain == idx.chain
    assert [(e.entry, e.digest, e.chunks) for e in again.entries] == [(e.entry, e.digest, e.chunks) for e in idx.entries]
    # a stored copy whose TOC bytes were swapped is never used
    forged = decode(encode(idx)[0], layer_digest=idx.layer_digest)
    forged.toc = forged.toc[:-1] + bytes([forged.toc[-1] ^ 1])
    store2 = LayerIndexes(Cache(tmp_path / "forged"))
    store2.remember(forged)
    assert LayerIndexes(Cache(tmp_path / "forged")).find(blob.desc) is None


def test_a_descriptor_naming_another_checksum_does_not_find_the_index(tmp_path):
    blob, idx = zstd_chunked()
    store = LayerIndexes(Cache(tmp_path))
    store.remember(idx)
    notes = dict(blob.desc.annotations)
    notes["io.github.containers.zstd-chunked.manifest-checksum"] = "sha256:" + "2" * 64
    other = Descriptor(blob.desc.media_type, blob.desc.digest, blob.desc.size, annotations=notes)
    assert [c.name for c in chains_for(other)][-1] == ZSTD_CHUNKED_TOC
    assert store.find(other) is None and store.find(blob.desc) is idx


def test_our_writers_make_layers_tar_reads_alike():
    for blob, media_type in ((estargz_layer(FILES)[0], GZIP), (zstd_chunked_layer(FILES)[0], ZSTD)):
        raw = gzip.decompress(blob) if media_type == GZIP else zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(blob), read_across_frames=True).read()
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            assert tar.extractfile("big.bin").read() == BIG
