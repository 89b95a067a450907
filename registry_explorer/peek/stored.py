"""How a `LayerIndex` is stored: a small head of columns, and the gzip windows apart, in groups.

A warm read in a new process loads the index from disk, and that used to cost more than the read
(issue 23: 0.2 s for a layer of 6,001 files, 8 MB stored): every window decompressed and every
entry made an object. Now:

* the **head** (`encode`'s first part, kind "layer-index") holds the index's fields as JSON and its
  entries as columns: one string blob per text column (paths, link targets, digests) with the
  length of each value, packed int64/float64 arrays for the numbers, one byte per type and
  whiteout mark; then the block digests. Loading it is a few array copies, and `Columns.row(i)`
  makes an `IndexEntry` only when a path is looked up;
* the **zran windows** (32 KiB per gzip seek point, most of an index's size) are stored in groups
  of `WINDOW_GROUP` points, one cache entry each (kind "layer-zran"), and the head records each
  group's sha256: a read loads the one group holding the point it starts from, checked against the
  head, so a stale or swapped group is never used.

A TOC kind stores no entries at all: its entries are always rebuilt from its verified TOC bytes
(`indexes.py`), which the head keeps.
"""

from __future__ import annotations

import hashlib
import json
import struct
from array import array
from itertools import accumulate

import zstandard

from ..core import jsontext
from ..core.errors import InvalidManifest
from ..layers.tar import Entry
from .index import BLOCK, BLOCK_KINDS, TOC_KINDS, Digests, IndexEntry, LayerIndex
from .zran import ZranTable

__all__ = ["WINDOW_GROUP", "Columns", "StoredIndexDamaged", "decode", "encode"]

_MAGIC = b"RXLI4"  # 4: columns, windows stored apart (an older stored index is rebuilt)
_DIGEST = 32
# Seek points per stored group of windows: 32 x 32 KiB = 1 MiB before compression, so loading the
# group a read needs costs about a millisecond, and a 256 MiB layer's windows are ~17 cache entries.
WINDOW_GROUP = 32
# zstd level: the windows are deflate history (raw file data) and compress ~2:1 at any level
# (measured on the big sample: level 3 to 22 within 0.5%), so a fast one.
_ZSTD_LEVEL = 3
_MAX_HEAD = 512 << 20
_TYPES = ("file", "dir", "symlink", "hardlink", "char", "block", "fifo", "other")
_WHITEOUTS = (None, "file", "opaque")
_INTS = ("size", "mode", "uid", "gid", "offset", "chunk_offset", "chunk_size")
_TEXTS = ("path", "linkname", "digest")


class StoredIndexDamaged(InvalidManifest):
    """A stored index lost part of itself (a window group evicted or damaged): forget it and read another way."""


class Columns:
    """An index's entries as columns; `row(i)` makes the i-th `IndexEntry`."""

    def __init__(self, texts: dict[str, list[str]], ints: dict[str, array], mtime: array, types: bytes,
                 whiteouts: bytes):
        self.paths = texts["path"]
        self._texts, self._ints, self._mtime, self._types, self.whiteouts = texts, ints, mtime, types, whiteouts

    def __len__(self) -> int:
        return len(self.paths)

    def row(self, i: int) -> IndexEntry:
        """Entry `i` as an IndexEntry."""
        n = self._ints
        entry = Entry(path=self.paths[i], type=_TYPES[self._types[i]], size=n["size"][i], mode=n["mode"][i],
                      uid=n["uid"][i], gid=n["gid"][i], mtime=self._mtime[i], linkname=self._texts["linkname"][i],
                      whiteout=_WHITEOUTS[self.whiteouts[i]])
        return IndexEntry(entry, n["offset"][i], self._texts["digest"][i], n["chunk_offset"][i], n["chunk_size"][i])


def _pack_texts(values: list[str]) -> tuple[bytes, bytes]:
    """(text, lengths): NUL-separated when no value holds a NUL (a tar name cannot), else each value's length."""
    if not any("\0" in v for v in values):
        return "\0".join(values).encode("utf-8", "surrogateescape"), b""
    return "".join(values).encode("utf-8", "surrogateescape"), array("q", map(len, values)).tobytes()


def _unpack_texts(blob: bytes, lengths: bytes, rows: int) -> list[str]:
    text = blob.decode("utf-8", "surrogateescape")
    if not lengths:  # str.split runs in C: the usual case
        return text.split("\0") if rows else []
    ends = list(accumulate(array("q", lengths)))
    if (ends[-1] if ends else 0) != len(text):
        raise ValueError("a text column does not add up")
    return [text[a:b] for a, b in zip([0, *ends], ends)]


def encode(index: LayerIndex) -> tuple[bytes, list[bytes]]:
    """(head, window groups): what `LayerIndexes` stores for `index` (see the module docstring)."""
    rows = [] if index.kind in TOC_KINDS else index.entries
    parts: list[bytes] = []
    for name in _TEXTS:
        values = [e.entry.path if name == "path" else e.entry.linkname if name == "linkname" else e.digest
                  for e in rows]
        parts.extend(_pack_texts(values))
    for name in _INTS:
        parts.append(array("q", (getattr(e.entry, name) if name in ("size", "mode", "uid", "gid") else getattr(e, name)
                                 for e in rows)).tobytes())
    parts.append(array("d", (e.entry.mtime for e in rows)).tobytes())
    parts.append(bytes(_TYPES.index(e.entry.type) if e.entry.type in _TYPES else len(_TYPES) - 1 for e in rows))
    parts.append(bytes(_WHITEOUTS.index(e.entry.whiteout) for e in rows))
    groups: list[bytes] = []
    table = index.zran_table
    if table is not None:
        cctx = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
        for g in range(0, len(table.points), WINDOW_GROUP):
            groups.append(cctx.compress(b"".join(index.window(k) or b"" for k in range(g, g + WINDOW_GROUP)
                                                 if k < len(table.points))))
    doc = {
        "layer_digest": index.layer_digest, "layer_size": index.layer_size, "media_type": index.media_type,
        "kind": index.kind, "chain": index.chain, "anchor": index.anchor, "span": index.span,
        "toc_offset": index.toc_offset, "toc_length": len(index.toc), "rows": len(rows),
        "parts": [len(p) for p in parts], "seek_points": index.seek_points, "frames": index.frames,
        "zran": table.to_json() if table is not None else None,
        "groups": [hashlib.sha256(g).hexdigest() for g in groups],
        "implied": sorted(index.implied()) if rows else [],  # so a loaded index need not work them out
    }
    meta = json.dumps(doc, separators=(",", ":")).encode()
    blocks = index.blocks.tobytes() if isinstance(index.blocks, Digests) else b"".join(index.blocks)
    raw = b"".join([_MAGIC, struct.pack(">Q", len(meta)), meta, *parts, index.toc, blocks])
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(raw), groups


def decode(head: bytes, *, layer_digest: str, load_group=None) -> LayerIndex:
    """The index stored as `head`; `load_group(g)` gives window group g's stored bytes (None if gone).

    InvalidManifest if the head is malformed or names another layer; a window group that is gone or
    does not match its digest in the head raises InvalidManifest when a read needs it.
    """
    try:
        raw = zstandard.ZstdDecompressor().decompress(head, max_output_size=_MAX_HEAD)
        if not raw.startswith(_MAGIC):
            raise ValueError("not this version's stored index")
        (n,) = struct.unpack(">Q", raw[len(_MAGIC):len(_MAGIC) + 8])
        at = len(_MAGIC) + 8
        doc = jsontext.loads(raw[at:at + n])
        at += n
        parts = []
        for size in doc["parts"]:
            parts.append(raw[at:at + int(size)])
            at += int(size)
        toc = raw[at:at + int(doc["toc_length"])]
        tail = raw[at + int(doc["toc_length"]):]
        if len(parts) != 2 * len(_TEXTS) + len(_INTS) + 3 or len(toc) != int(doc["toc_length"]) or len(tail) % _DIGEST:
            raise ValueError("truncated")
        rows = int(doc["rows"])
        texts = {name: _unpack_texts(parts[2 * i], parts[2 * i + 1], rows) for i, name in enumerate(_TEXTS)}
        ints = {name: array("q", parts[2 * len(_TEXTS) + i]) for i, name in enumerate(_INTS)}
        k = 2 * len(_TEXTS) + len(_INTS)
        mtime, types, whiteouts = array("d", parts[k]), parts[k + 1], parts[k + 2]
        if any(len(c) != rows for c in (*texts.values(), *ints.values(), mtime, types, whiteouts)) or \
                types.strip(bytes(range(len(_TYPES)))) or whiteouts.strip(bytes(range(len(_WHITEOUTS)))):
            raise ValueError("the columns do not agree")
        table = ZranTable.from_json(doc["zran"]) if doc["zran"] is not None else None
        idx = LayerIndex(
            layer_digest=str(doc["layer_digest"]), layer_size=int(doc["layer_size"]), media_type=str(doc["media_type"]),
            kind=str(doc["kind"]), chain=str(doc["chain"]), anchor=str(doc["anchor"]), span=int(doc["span"]),
            seek_points=[(int(a), int(b)) for a, b in doc["seek_points"]],
            frames=[(int(a), int(b), int(c)) for a, b, c in doc["frames"]],
            blocks=Digests(tail), toc=toc,
            toc_offset=int(doc["toc_offset"]), columns=Columns(texts, ints, mtime, types, whiteouts),
            implied={str(p) for p in doc["implied"]} if rows else None,
            zran_table=table, windows=_Windows(table, [str(d) for d in doc["groups"]], load_group, layer_digest)
            if table is not None else None)
    except (zstandard.ZstdError, ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        raise InvalidManifest(f"stored index of layer {layer_digest} is unreadable: {exc}") from None
    if idx.layer_digest != layer_digest:
        raise InvalidManifest(f"stored index names layer {idx.layer_digest}, not {layer_digest}")
    if idx.kind in BLOCK_KINDS and len(idx.blocks) != -(-idx.layer_size // BLOCK):
        raise InvalidManifest(f"stored index of layer {layer_digest} lacks block digests")
    return idx


class _Windows:
    """Point k's window, loading (and checking, and keeping) the stored group that holds it on first use."""

    def __init__(self, table: ZranTable, digests: list[str], load_group, layer_digest: str):
        self._table, self._digests, self._load, self._what = table, digests, load_group, f"layer {layer_digest}"
        self._groups: dict[int, list[bytes | None]] = {}
        if len(digests) != -(-len(table.points) // WINDOW_GROUP):
            raise ValueError("the window groups do not cover the seek points")

    def __call__(self, k: int) -> bytes | None:
        g = k // WINDOW_GROUP
        if g not in self._groups:
            self._groups[g] = self._group(g)
        return self._groups[g][k - g * WINDOW_GROUP]

    def _group(self, g: int) -> list[bytes | None]:
        stored = self._load(g) if self._load is not None else None
        if stored is None or hashlib.sha256(stored).hexdigest() != self._digests[g]:
            raise StoredIndexDamaged(f"stored index of {self._what}: its gzip windows {g} are missing or damaged")
        raw = zstandard.ZstdDecompressor().decompress(stored, max_output_size=WINDOW_GROUP * self._table.window)
        out, at = [], 0
        for p in self._table.points[g * WINDOW_GROUP:(g + 1) * WINDOW_GROUP]:
            out.append(raw[at:at + self._table.window] if p[3] else None)
            at += self._table.window if p[3] else 0
        if at != len(raw):
            raise StoredIndexDamaged(f"stored index of {self._what}: its gzip windows {g} do not add up")
        return out
