"""What the two TOC formats share: a verified table of contents as index entries, and a file read by its chunks.

eStargz (stargz-snapshotter docs/estargz.md) and zstd:chunked (containers/storage
pkg/chunked/internal/minimal) describe a layer with the same JSON vocabulary: one entry per tar
member (`name`, `type`, `size`, `mode`, `uid`, `gid`, `linkName`, `modtime`) and, for a regular
file with content, where its bytes start in the blob (`offset`) and their sha256 (`digest`). A
large file is split into chunks: the `reg` entry is the first, each further one is a `chunk` entry
of the same name with its `chunkOffset` in the file; `chunkSize`/`chunkDigest` describe each chunk
(a `chunkSize` of 0 means "to the end of the file"). Every chunk is its own compressed unit (a gzip
member, or zstd frames) starting at its `offset` and ending where the next chunk starts; the last
ends at `endOffset` (zstd:chunked) or at the next offset any entry names, or at the TOC. A
`chunkType` of "zeros" (zstd:chunked's holes) is a run of zero bytes: it is made, not fetched.

The TOC has already matched the digest a manifest names, so its offsets are the manifest's word;
they are still checked to tile each file exactly and to stay inside the blob, and every chunk is
checked against its `chunkDigest` and the whole file against its `digest` before a byte is returned.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from datetime import datetime
from typing import NamedTuple

from ..core.errors import DigestMismatch, InvalidManifest
from ..layers.tar import entry_from_fields
from .index import IndexEntry

__all__ = ["MAX_TOC_BYTES", "RANGE_GROUP", "Chunk", "entries_from_toc", "read_chunks"]

# The TOC of a layer with a million files is ~200 MB of JSON; refuse more before inflating it
# (containers/storage stops at 150 MiB, maxTocSize).
MAX_TOC_BYTES = 256 << 20
# Compressed bytes asked for in one Range request when a file spans many chunks: a 20 MiB file is
# one request; a 1 GiB one (MAX_PEEK_BYTES) is 32, none holding more than this in flight.
RANGE_GROUP = 32 << 20
# Both formats write only sha256 (estargz.md; containers/storage uses digest.Canonical).
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_EMPTY_SHA256 = "sha256:" + hashlib.sha256(b"").hexdigest()
# TOC type -> Entry type
_KINDS = {"dir": "dir", "reg": "file", "symlink": "symlink", "hardlink": "hardlink", "char": "char", "block": "block",
          "fifo": "fifo"}


class Chunk(NamedTuple):
    """One compressed unit of a file: blob bytes [c_start, c_end) inflate to file bytes [u_offset, u_offset + u_size)."""

    c_start: int
    c_end: int
    u_offset: int
    u_size: int
    digest: str  # the chunk's sha256 ("" when only the whole file has one)
    zeros: bool = False  # a hole: u_size zero bytes, nothing to fetch


def _int(value, what: str, default: int = 0) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidManifest(f"{what}: a TOC number is not an integer ({str(value)[:40]!r})")
    return value


def _text(e: dict, key: str, what: str = "") -> str:
    """A string field of a TOC entry ("" when absent); a TOC is JSON a server wrote, so a list here is damage."""
    value = e.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        if not what:  # the caller words its own refusal
            return ""
        raise InvalidManifest(f"{what}: a TOC {key} is not a string ({str(value)[:40]!r})")
    return value


def _mtime(value, what: str) -> float:
    if not value:
        return 0.0
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        raise InvalidManifest(f"{what}: a TOC modtime is not a time ({str(value)[:40]!r})") from None


def entries_from_toc(items, what: str, data_end: int) -> list[IndexEntry]:
    """Index entries (in TOC order, chunks attached to their file) of a verified TOC's `entries` list.

    `data_end` is where the compressed members end (the TOC's own start): no chunk may reach past it.
    """
    if not isinstance(items, list) or not all(isinstance(e, dict) for e in items):
        raise InvalidManifest(f"{what}: the TOC's entries are not a list of objects")
    starts = sorted({o for o in (_int(e.get("offset"), what) for e in items) if o > 0})
    files: list[tuple[dict, list[dict]]] = []
    for e in items:
        if e.get("type") == "chunk":
            if not files or files[-1][0].get("name") != e.get("name") or files[-1][0].get("type") != "reg":
                raise InvalidManifest(f"{what}: a chunk entry of {str(e.get('name'))[:200]!r} follows no file of that name")
            files[-1][1].append(e)
        else:
            files.append((e, [e]))
    mtimes: dict = {}  # most entries share a handful of modtimes: parse each once
    return [_entry(e, parts, what, starts, data_end, mtimes) for e, parts in files]


def _entry(e: dict, parts: list[dict], what: str, starts: list[int], data_end: int, mtimes: dict) -> IndexEntry:
    name, kind = e.get("name"), _text(e, "type")
    kind = _KINDS.get(kind) if kind else None
    if not isinstance(name, str) or not name or kind is None:
        raise InvalidManifest(f"{what}: TOC entry {str(name)[:200]!r} has no name or an unknown type "
                              f"{str(e.get('type'))[:40]!r}")
    size = e.get("size", 0) if kind == "file" else 0
    mode, uid, gid = e.get("mode", 0), e.get("uid", 0), e.get("gid", 0)
    if not all(type(v) is int for v in (size, mode, uid, gid)) or size < 0:  # type(): a bool is no number here
        raise InvalidManifest(f"{what}: TOC entry {name[:200]!r} has a size, mode or owner that is not a number")
    stamp = _text(e, "modtime", what)
    mtime = mtimes.get(stamp)
    if mtime is None:
        mtime = mtimes[stamp] = _mtime(stamp, what)
    entry = entry_from_fields(name, kind, size, mode, uid, gid, mtime, _text(e, "linkName", what))
    if kind != "file":
        return IndexEntry(entry)
    if not size:  # as the verified pass records it, so rx.diff compares alike across chains
        return IndexEntry(entry, -1, _EMPTY_SHA256)
    digest = str(e.get("digest") or "")
    if not _DIGEST_RE.match(digest):
        raise InvalidManifest(f"{what}: TOC entry {name[:200]!r} has no sha256 digest")
    chunks = _chunks(e, parts, size, f"{what}: TOC entry {name[:200]!r}", starts, data_end)
    return IndexEntry(entry, -1, digest, chunks[0].c_start, chunks[-1].c_end - chunks[0].c_start, chunks)


def _chunks(e: dict, parts: list[dict], size: int, what: str, starts: list[int], data_end: int) -> tuple[Chunk, ...]:
    u_offsets = [_int(p.get("chunkOffset"), what) for p in parts] if len(parts) > 1 else [0]
    c_starts = [_int(p.get("offset"), what) for p in parts]
    out = []
    for i, p in enumerate(parts):
        u_end = u_offsets[i + 1] if i + 1 < len(parts) else size
        if i + 1 < len(parts):
            c_end = c_starts[i + 1]
        elif e.get("endOffset"):  # zstd:chunked says where the last frame ends
            c_end = _int(e.get("endOffset"), what)
        else:  # eStargz: the member runs to the next one any entry starts, or to the TOC
            k = bisect.bisect_right(starts, c_starts[i])
            c_end = starts[k] if k < len(starts) else data_end
        u_size = u_end - u_offsets[i]
        declared = _int(p.get("chunkSize"), what)
        chunk_digest = str(p.get("chunkDigest") or "")
        if not 0 < c_starts[i] < c_end <= data_end or u_size <= 0 or (declared and declared != u_size) \
                or (i == 0 and _int(p.get("chunkOffset"), what) != 0) \
                or (chunk_digest and not _DIGEST_RE.match(chunk_digest)):
            raise InvalidManifest(f"{what}: chunk {i} does not fit the file or the blob")
        out.append(Chunk(c_starts[i], c_end, u_offsets[i], u_size, chunk_digest, p.get("chunkType") == "zeros"))
    return tuple(out)


def _check(data: bytes, digest: str, what: str, origin: str) -> None:
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise DigestMismatch(digest, actual, what=what, origin=origin)


def read_chunks(e: IndexEntry, fetch, inflate, what: str, origin: str = "registry") -> bytes:
    """The bytes of a file with `chunks`: contiguous chunks fetched together (`fetch(start, end)`), each inflated
    (`inflate(compressed, size)` gives at most `size` bytes) and checked, then the whole file checked."""
    out = bytearray(e.entry.size)
    group: list[Chunk] = []

    def flush() -> None:
        if not group:
            return
        lo, hi = group[0].c_start, group[-1].c_end
        blob = fetch(lo, hi)
        for c in group:
            _place(out, c, inflate(blob[c.c_start - lo:c.c_end - lo], c.u_size), what, origin)
        group.clear()

    for c in e.chunks:
        if c.zeros:
            _place(out, c, bytes(c.u_size), what, origin)
            continue
        if group and (c.c_start != group[-1].c_end or c.c_end - group[0].c_start > RANGE_GROUP):
            flush()
        group.append(c)
    flush()
    data = bytes(out)
    _check(data, e.digest, what, origin)  # a tampered chunk without a chunkDigest still fails here
    return data


def _place(out: bytearray, c: Chunk, data: bytes, what: str, origin: str) -> None:
    if len(data) != c.u_size:
        raise DigestMismatch(c.digest or "a whole chunk", f"{len(data)} of {c.u_size} bytes",
                             what=f"chunk at byte {c.u_offset} of {what}", origin=origin)
    if c.digest:
        _check(data, c.digest, f"chunk at byte {c.u_offset} of {what}", origin)
    out[c.u_offset:c.u_offset + c.u_size] = data
