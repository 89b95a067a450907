"""The one file reader: the bytes of one resolved file, by the cheapest route whose chain of trust holds.

1. The verified copy that this very read just streamed to build the layer's index: no second
   request for bytes the registry already sent (`layer-digest`).
2. Ranged, through an index that serves this manifest (`peek/trust.py`): Range requests checked
   against block digests (`verified-index`) or the TOC's entry digests (`estargz-toc`, ...).
3. One verified stream of the layer: a `stream-only` layer (one zstd frame), or a registry that
   does not honour Range (the trace exchange's `note` says why). The file's bytes are held back
   until the whole layer hashed to its digest (`layer-digest`).

What the read cost (`.requests`, `.bytes_moved`) is measured by the caller (`http.trace.metered`),
so full passes, TOC fetches and manifest requests all count, as a proxy would count them.

`read_entries` reads several files of one layer by the same routes, sharing the work: the Range
requests of files close together are merged into one (a package database is often hundreds of small
files side by side), and a layer that must be streamed is streamed once for all of them.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..core.errors import InvalidManifest, RangeRefused, RegistryExplorerError
from ..core.models import Descriptor
from ..layers.compress import IN_CHUNK, decompressed
from ..layers.tar import iter_members, normalize_path
from ..peek.index import IndexEntry, LayerIndex
from ..peek.ranged import check_digest, planned_range, read_entry_ranged
from ..peek.stored import StoredIndexDamaged
from ..peek.trust import EXPLAIN, LAYER_DIGEST

__all__ = ["BATCH_BYTES", "COALESCE_GAP", "MAX_PEEK_BYTES", "PeekFile", "read_entries", "read_entry"]

# open_file holds a file in memory to check it whole against its digest; bound what that may cost.
MAX_PEEK_BYTES = 1 << 30
# Two files' compressed ranges closer than this are fetched by one Range request: the bytes between
# them cost less than a round trip (a request is ~1 ms on a LAN, 256 KiB ~2 ms at 1 Gbit/s).
COALESCE_GAP = 256 << 10
# Compressed bytes held at once while several files of a layer are read: files are read in batches of
# merged ranges up to this size, so thousands of package.json files spread over a 1 GB layer never hold it all.
BATCH_BYTES = 32 << 20


class PeekFile(io.BytesIO):
    """A read-only, seekable file read from an image: `.size`, `.path`, `.layer`, `.verification`.

    `.verification` names the chain of trust that vouched for the bytes (`peek/trust.py`) and
    `.verified_by` says it in a sentence; `.requests` and `.bytes_moved` are what reading it cost.
    """

    def __init__(self, data: bytes, *, path: str, layer: Descriptor, verification: str,
                 requests: int = 0, bytes_moved: int = 0, kind: str = ""):
        super().__init__(data)
        self.size = len(data)
        self.path = path
        self.layer = layer
        self.verification = verification
        self.requests = requests
        self.bytes_moved = bytes_moved
        self.kind = kind

    @property
    def verified_by(self) -> str:
        """What vouched for these bytes, in a sentence."""
        return EXPLAIN.get(self.verification, self.verification)

    def writable(self) -> bool:
        """Read-only."""
        return False

    def write(self, *_a) -> int:
        """Read-only: always raises io.UnsupportedOperation."""
        raise io.UnsupportedOperation("PeekFile is read-only")

    def __repr__(self) -> str:
        return f"PeekFile({self.path!r}, size={self.size}, verification={self.verification!r})"

    def reopen(self) -> PeekFile:
        """A fresh file over the same verified bytes (position 0; nothing moved on the wire for it)."""
        return PeekFile(self.getbuffer().tobytes(), path=self.path, layer=self.layer,
                        verification=self.verification, kind=self.kind)


def _local_fetch(path: Path):
    def fetch(start: int, end: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(end - start)
    return fetch


def read_entry(source, ref, desc: Descriptor, index: LayerIndex, entry: IndexEntry,
               local: Path | None = None) -> tuple[bytes, str]:
    """(bytes, chain) of one regular file of layer `desc` (see the module docstring for the routes)."""
    if index.kind != "stream-only" and local is not None and local.is_file():
        data, _, _ = read_entry_ranged(index, entry, _local_fetch(local))
        return data, LAYER_DIGEST
    if index.kind != "stream-only":
        try:
            data, chain, _ = read_entry_ranged(index, entry, lambda a, b: source.read_range(ref, desc, a, b),
                                               source.origin)
        except RangeRefused:
            pass  # noted in the trace; the verified stream below still gives the right bytes
        except StoredIndexDamaged:
            source.indexes.forget(desc)  # the next look builds it again; this read streams the layer
        else:
            return data, chain  # checked against the file's own digest in read_entry_ranged
    return _stream_entry(source, ref, desc, entry, local), LAYER_DIGEST


def _stream_entry(source, ref, desc: Descriptor, e: IndexEntry, local: Path | None) -> bytes:
    """One file's bytes from one verified stream of the layer, returned only after the layer's digest checked."""
    what = f"{e.entry.path} in layer {desc.digest}"
    if e.offset < 0:  # a TOC index knows where the file's chunks are, not where it lies in the tar
        with source.open_blob(ref, desc) as blob:
            data = _member(blob, desc, e.entry.path)
    elif local is not None and local.is_file():  # this read's own verified copy
        with open(local, "rb") as f:
            data = _cut(decompressed(f, desc.media_type, f"layer {desc.digest}"), e.offset, e.entry.size)
    else:
        with source.open_blob(ref, desc) as blob:
            data = _cut(decompressed(blob, desc.media_type, f"layer {desc.digest}"), e.offset, e.entry.size)
            while blob.read(IN_CHUNK):  # to the end: the verifying reader checks the digest there
                pass
    if len(data) != e.entry.size:
        raise InvalidManifest(f"{what}: the layer ends before the file does")
    if e.digest:
        check_digest(data, e.digest, what, source.origin)
    return data


def _member(blob, desc: Descriptor, path: str) -> bytes:
    """The content of the last regular member named `path`, after the whole blob was read (and its digest checked)."""
    data = b""
    for tar, info in iter_members(blob, desc.media_type, what=f"layer {desc.digest}"):
        if info.isreg() and normalize_path(info.name) == path:
            data = tar.extractfile(info).read()  # a later member for the same path wins, as extraction does
    return data


def _cut(stream, offset: int, size: int) -> bytes:
    """`size` bytes at `offset` of a forward-only stream."""
    while offset > 0:
        chunk = stream.read(min(offset, IN_CHUNK))
        if not chunk:
            return b""
        offset -= len(chunk)
    parts = []
    while size > 0:
        chunk = stream.read(min(size, IN_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


class _Segments:
    """A fetch(start, end) that answers from ranges fetched before, else asks the source."""

    def __init__(self, fetch, merged: list[tuple[int, int]]):
        self._fetch = fetch
        self._segments = [(lo, fetch(lo, hi)) for lo, hi in merged]

    def __call__(self, start: int, end: int) -> bytes:
        for lo, data in self._segments:
            if lo <= start and end <= lo + len(data):
                return data[start - lo:end - lo]
        data = self._fetch(start, end)
        self._segments.append((start, data))
        return data


def _batches(planned: list[tuple[tuple[int, int], str]]) -> list[tuple[list[tuple[int, int]], list[str]]]:
    """Files by planned range, in batches: (their ranges merged where closer than COALESCE_GAP, names),
    each batch's merged ranges at most BATCH_BYTES in all (a single larger file is a batch of its own)."""
    out: list[tuple[list[tuple[int, int]], list[str]]] = []
    merged: list[list[int]] = []
    names: list[str] = []
    total = 0
    for (lo, hi), name in sorted(planned):
        grow = max(0, hi - merged[-1][1]) if merged and lo <= merged[-1][1] + COALESCE_GAP else hi - lo
        if names and total + grow > BATCH_BYTES:
            out.append(([(a, b) for a, b in merged], names))
            merged, names, total, grow = [], [], 0, hi - lo
        if merged and lo <= merged[-1][1] + COALESCE_GAP:
            merged[-1][1] = max(merged[-1][1], hi)
        elif hi > lo:
            merged.append([lo, hi])
        names.append(name)
        total += grow
    if names:
        out.append(([(a, b) for a, b in merged], names))
    return out


def read_entries(source, ref, desc: Descriptor, index: LayerIndex, entries: dict[str, IndexEntry],
                 local: Path | None = None) -> dict[str, tuple[bytes, str] | RegistryExplorerError]:
    """{name: (bytes, chain)} of several regular files of layer `desc`, or the error of each that failed.

    The routes of `read_entry`, shared: one verified copy or one stream for all of them; else their
    planned Range requests merged where close (`COALESCE_GAP`), in batches of at most `BATCH_BYTES`, and
    each file checked as `read_entry` does (a refused Range or a damaged stored index: the files not read
    yet come from one verified stream).
    """
    out: dict[str, tuple[bytes, str] | RegistryExplorerError] = {}
    if index.kind != "stream-only" and local is not None and local.is_file():
        fetch = _local_fetch(local)
        for name, e in entries.items():
            out[name] = _one(lambda e=e: (read_entry_ranged(index, e, fetch, source.origin)[0], LAYER_DIGEST))
        return out
    if index.kind == "stream-only":
        return _stream_entries(source, ref, desc, entries, local)
    planned = [(planned_range(index, e) or (0, 0), name) for name, e in entries.items()]
    fetch = lambda a, b: source.read_range(ref, desc, a, b)  # noqa: E731 - the one fetch every batch uses
    try:
        for merged, names in _batches(planned):
            try:
                segments = _Segments(fetch, merged)
            except (RangeRefused, StoredIndexDamaged):
                raise
            except RegistryExplorerError as exc:  # this batch's bytes did not come: its files say why
                out.update(dict.fromkeys(names, exc))
                continue
            for name in names:
                try:
                    out[name] = read_entry_ranged(index, entries[name], segments, source.origin)[:2]
                except (RangeRefused, StoredIndexDamaged):
                    raise
                except RegistryExplorerError as exc:  # this file failed its check; the others read on
                    out[name] = exc
    except RangeRefused:
        pass  # noted in the trace; one verified stream gives the files not read yet
    except StoredIndexDamaged:
        source.indexes.forget(desc)  # the next look builds it again; these files come from the stream
    rest = {n: e for n, e in entries.items() if n not in out}
    return {**out, **(_stream_entries(source, ref, desc, rest, local) if rest else {})}


def _one(read):
    try:
        return read()
    except RegistryExplorerError as exc:
        return exc


def _stream_entries(source, ref, desc: Descriptor, entries: dict[str, IndexEntry],
                    local: Path | None) -> dict[str, tuple[bytes, str] | RegistryExplorerError]:
    """Every file from one verified stream of the layer, handed out only after the layer's digest checked.

    A TOC index knows where a file's chunks are, not where it lies in the tar: those are read as
    `read_entry` reads them, one stream each (only when Range is refused, or the stored TOC index is damaged).
    """
    out: dict[str, tuple[bytes, str] | RegistryExplorerError] = {}
    wanted = sorted((e.offset, name) for name, e in entries.items() if e.offset >= 0)
    for name, e in entries.items():
        if e.offset < 0:
            out[name] = _one(lambda e=e: (_stream_entry(source, ref, desc, e, local), LAYER_DIGEST))
    got: dict[str, bytes] = {}

    def walk(raw) -> None:
        stream, at = decompressed(raw, desc.media_type, f"layer {desc.digest}"), 0
        for offset, name in wanted:
            e = entries[name]
            if offset < at:  # two names for one file (hard links): the same bytes
                got[name] = next(got[n] for o, n in wanted if o == offset and n in got)
                continue
            got[name] = _cut(stream, offset - at, e.entry.size)
            at = offset + len(got[name])
        while stream.read(IN_CHUNK):
            pass

    if not wanted:
        return out
    try:
        if local is not None and local.is_file():  # this read's own verified copy
            with open(local, "rb") as f:
                walk(f)
        else:
            with source.open_blob(ref, desc) as blob:
                walk(blob)
                while blob.read(IN_CHUNK):  # to the end: the verifying reader checks the digest there
                    pass
    except RegistryExplorerError as exc:  # the layer did not verify (or broke off): no file of it is handed out
        return {**out, **{name: exc for _, name in wanted}}
    for _offset, name in wanted:
        out[name] = _one(lambda name=name: _checked(got[name], entries[name], desc, source.origin))
    return out


def _checked(data: bytes, e: IndexEntry, desc: Descriptor, origin: str) -> tuple[bytes, str]:
    what = f"{e.entry.path} in layer {desc.digest}"
    if len(data) != e.entry.size:
        raise InvalidManifest(f"{what}: the layer ends before the file does")
    if e.digest:
        check_digest(data, e.digest, what, origin)
    return data, LAYER_DIGEST
