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
"""

from __future__ import annotations

import io
from pathlib import Path

from ..core.errors import InvalidManifest, RangeRefused
from ..core.models import Descriptor
from ..layers.compress import IN_CHUNK, decompressed
from ..layers.tar import iter_members, normalize_path
from ..peek.index import IndexEntry, LayerIndex
from ..peek.ranged import check_digest, read_entry_ranged
from ..peek.stored import StoredIndexDamaged
from ..peek.trust import EXPLAIN, LAYER_DIGEST

__all__ = ["MAX_PEEK_BYTES", "PeekFile", "read_entry"]

# open_file holds a file in memory to check it whole against its digest; bound what that may cost.
MAX_PEEK_BYTES = 1 << 30


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
            if entry.digest:  # the file's own digest, from the verified pass or the TOC: checked too
                check_digest(data, entry.digest, f"{entry.entry.path} in layer {desc.digest}", source.origin)
            return data, chain
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
