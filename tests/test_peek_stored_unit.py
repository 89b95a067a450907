"""How an index is stored and loaded (issue 23, performance): columns made into entries only when asked, gzip
windows apart in groups checked against the head, and a read that imports only the seek points it needs."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
from contextlib import contextmanager

import pytest

from registry_explorer.core.digest import VerifyingReader
from registry_explorer.core.errors import InvalidManifest
from registry_explorer.core.models import Descriptor
from registry_explorer.peek import stored
from registry_explorer.peek.build import build_index
from registry_explorer.peek.index import LayerIndex
from registry_explorer.peek.indexes import LayerIndexes
from registry_explorer.peek.ranged import read_entry_ranged
from registry_explorer.peek.stored import StoredIndexDamaged, decode, encode
from registry_explorer.peek.zran import mini_index, split_export
from registry_explorer.sources.cache import Cache

SPAN = 64 << 10
GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layer() -> tuple[bytes, dict[str, bytes]]:
    rnd = random.Random(5)
    files = {"d3/spans-points.bin": rnd.randbytes(5 << 20)}  # first: a read from point 0 across 80 of them
    files.update({f"d{i % 7}/f{i:03d}.bin": rnd.randbytes(rnd.randrange(1000, 30000)) for i in range(150)})
    files["odd\nname with\ttabs"] = b"a strange name\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000.5
            tar.addfile(info, io.BytesIO(data))
        gone = tarfile.TarInfo("d1/.wh.f008.bin")
        tar.addfile(gone)
        opaque = tarfile.TarInfo("d2/.wh..wh..opq")
        tar.addfile(opaque)
    return gzip.compress(buf.getvalue(), mtime=0), files


class _Source:
    def __init__(self, data: bytes):
        self.data = data
        self.desc = Descriptor(GZIP, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))

    @contextmanager
    def open_blob(self, ref, desc):
        yield VerifyingReader(io.BytesIO(self.data), desc.digest, desc.size)

    def fetch(self, start: int, end: int) -> bytes:
        return self.data[start:end]


@pytest.fixture(scope="module")
def built():
    blob, files = _layer()
    src = _Source(blob)
    return src, build_index(src, None, src.desc, span=SPAN), files


def test_a_loaded_index_lists_and_reads_what_the_built_one_does(built, tmp_path):
    src, idx, files = built
    assert idx.kind == "gzip-checkpoints" and len(idx.zran_table.points) > stored.WINDOW_GROUP  # two groups
    LayerIndexes(Cache(tmp_path)).remember(idx)
    again = LayerIndexes(Cache(tmp_path)).find(src.desc)
    assert again is not idx and again._entries is None  # nothing made yet
    assert again.find("d3/f010.bin") == idx.find("d3/f010.bin") and again._entries is None
    assert again.marked("file") == {"d1/f008.bin"} and again.marked("opaque") == {"d2"}
    assert again.implied() == idx.implied() == {f"d{i}" for i in range(7)}
    assert again.entries == idx.entries and again.blocks == idx.blocks
    big = max(files, key=lambda n: len(files[n]))
    assert len(files[big]) > SPAN // 4
    for name in ("d0/f000.bin", "d4/f074.bin", "d2/f149.bin", "odd\nname with\ttabs", big):
        data, chain, _ = read_entry_ranged(again, again.find(name), src.fetch)
        assert data == files[name] and chain == "verified-index"


def test_a_read_imports_only_the_points_it_needs(built):
    src, idx, _ = built
    table, windows = split_export(mini_index(idx.zran_table, idx.window, 0), "x")
    assert len(table.points) == 2  # the stream's start and the next point
    e = idx.find("d2/f149.bin")
    table, windows = split_export(mini_index(idx.zran_table, idx.window, e.offset, e.offset + 10), "x")
    k = idx.zran_table.point_at(e.offset)
    assert [p[1] for p in table.points] == [0, idx.zran_table.points[k][1], idx.zran_table.points[k + 1][1]]
    assert sum(w is not None for w in windows) == 2 and table.uncompressed == idx.zran_table.uncompressed
    table, _ = split_export(mini_index(idx.zran_table, idx.window, 0, 5 * SPAN), "x")
    assert len(table.points) >= 6  # a read across points brings each of them


def test_a_missing_or_swapped_window_group_is_never_used(built, tmp_path):
    src, idx, _ = built
    head, groups = encode(idx)
    again = decode(head, layer_digest=idx.layer_digest, load_group=lambda g: None)
    far = again.entries[-3]
    with pytest.raises(StoredIndexDamaged, match="windows"):
        read_entry_ranged(again, far, src.fetch)
    swapped = decode(head, layer_digest=idx.layer_digest, load_group=lambda g: groups[(g + 1) % len(groups)])
    with pytest.raises(StoredIndexDamaged):
        read_entry_ranged(swapped, far, src.fetch)
    good = decode(head, layer_digest=idx.layer_digest, load_group=groups.__getitem__)
    assert read_entry_ranged(good, far, src.fetch)[0] == read_entry_ranged(idx, far, src.fetch)[0]


@pytest.mark.parametrize("damage", ["magic", "columns", "another-layer"])
def test_a_damaged_head_is_refused(built, damage):
    import zstandard

    src, idx, _ = built
    head, _ = encode(idx)
    raw = zstandard.ZstdDecompressor().decompress(head)
    if damage == "magic":
        raw = b"RXLI3" + raw[5:]
    elif damage == "columns":
        raw = raw[:-len(idx.blocks) * 32 - 7] + raw[-len(idx.blocks) * 32:]
    layer = "sha256:" + "0" * 64 if damage == "another-layer" else idx.layer_digest
    with pytest.raises(InvalidManifest):
        decode(zstandard.ZstdCompressor().compress(raw), layer_digest=layer)


def test_the_columns_keep_every_field(built):
    src, idx, _ = built
    again = decode(encode(idx)[0], layer_digest=idx.layer_digest, load_group=lambda g: None)
    for i in range(len(idx)):
        assert again.row(i) == idx.entries[i]
    assert isinstance(again, LayerIndex) and len(again) == len(idx)
