"""Reading one file's bytes from a remote layer with HTTP Range requests, through a `LayerIndex`.

Every ranged read is checked against digests that came from verified data: each fetched block
of compressed bytes against the sha256 the index recorded for it during the verified pass,
before zran or zstd inflates it (`verified-index`), or the digests of a TOC the manifest vouches
for: each chunk's and the whole file's (`estargz-toc`, `zstd-chunked-toc`; `toc.read_chunks`). A
registry that does not honour Range (200, a different Content-Range, 416) raises `RangeRefused`;
the caller then streams the verified layer instead.
"""

from __future__ import annotations

import hashlib
import io

import zstandard

from ..core.errors import DigestMismatch, InvalidManifest, RangeRefused, RegistryExplorerError
from .estargz import TOC_NAME, inflate_member
from .index import BLOCK, TOC_KINDS, IndexEntry, LayerIndex, SizedRawIO
from .toc import read_chunks
from .trust import VERIFIED_INDEX
from .zstdchunked import inflate_frames

__all__ = ["RangeRefused", "RangedBlob", "check_digest", "planned_range", "read_entry_ranged"]

# Slack after the estimated end of a file's compressed bytes: zran reads ahead by its buffer.
RANGE_SLACK = 64 << 10
_ZRAN_READBUF = 16 << 10


class RangedBlob(SizedRawIO):
    """A remote blob as a seekable file that fetches missing bytes with Range requests.

    `fetch(start, end)` returns exactly bytes [start, end). The first miss fetches the planned
    window; later misses fetch what is asked plus `RANGE_SLACK`. Given an `index` with block
    digests, every fetch is widened to whole blocks and each block is checked (DigestMismatch)
    before any byte of it is handed out.
    """

    def __init__(self, fetch, size: int, plan: tuple[int, int] | None = None, index: LayerIndex | None = None,
                 origin: str = "registry"):
        self._index = index if index is not None and index.blocks else None
        self._origin = origin
        self.failed: DigestMismatch | None = None
        self._fetch = fetch
        self._size = size
        self._pos = 0
        self._segments: list[tuple[int, bytes]] = []
        self._plan = plan
        self.requests = 0
        self.bytes_moved = 0
        self.refused: RangeRefused | None = None

    def _get(self, start: int, end: int) -> None:
        if self._index is not None:
            start, end = start // BLOCK * BLOCK, min(self._size, -(-end // BLOCK) * BLOCK)
        try:
            data = self._fetch(start, end)
        except RangeRefused as exc:
            self.refused = exc  # zran wraps exceptions from Python reads; the caller re-raises this one
            raise
        self.requests += 1
        self.bytes_moved += len(data)
        if self._index is not None:
            for off in range(start, end, BLOCK):
                if not self._index.check_block(off // BLOCK, data[off - start:off - start + BLOCK]):
                    self.failed = DigestMismatch(f"block {off // BLOCK} recorded in the verified index",
                                                 "different bytes", what=f"bytes {off}.. of layer {self._index.layer_digest}",
                                                 origin=self._origin)
                    raise self.failed
        self._segments.append((start, data))

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes at the position, fetching them if no segment holds them."""
        if n is None or n < 0:
            n = self._size - self._pos
        n = min(n, self._size - self._pos)
        if n <= 0:
            return b""
        for start, data in self._segments:
            if start <= self._pos < start + len(data):
                out = data[self._pos - start:self._pos - start + n]
                self._pos += len(out)
                return out
        if self._plan and self._plan[0] <= self._pos < self._plan[1]:
            lo, hi = self._plan
            self._plan = None
        else:
            lo, hi = self._pos, min(self._size, self._pos + n + RANGE_SLACK)
        self._get(lo, hi)
        return self.read(n)

    def readinto(self, b) -> int:
        """File protocol."""
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def check_digest(data: bytes, digest: str, what: str, origin: str = "registry") -> None:
    """DigestMismatch unless `data` hashes to `digest` (sha256 or sha512; anything else is not a digest we check)."""
    algo, _, hexpart = digest.partition(":")
    if algo not in ("sha256", "sha512") or not hexpart:
        raise InvalidManifest(f"{what}: {digest[:80]!r} is not a sha256 or sha512 digest")
    actual = f"{algo}:{hashlib.new(algo, data).hexdigest()}"
    if actual != digest:
        raise DigestMismatch(digest, actual, what=what, origin=origin)


def _gzip_plan(index: LayerIndex, start: int, end: int) -> tuple[int, int]:
    """The compressed window to fetch first: from the seek point before `start` to just past `end`."""
    pu, pc = index.point_before(start)
    nxt = index.point_after(end)
    if nxt is not None and nxt[0] > pu:
        ratio = (nxt[1] - pc) / (nxt[0] - pu)
        limit = nxt[1] + _ZRAN_READBUF
    else:  # past the last point (zran's last point is the end of the stream)
        last_u = max(index.seek_points[-1][0], end, pu + 1)
        ratio = (index.layer_size - pc) / max(1, last_u - pu)
        limit = index.layer_size
    lo = max(0, pc - 1)  # a point may start mid-byte: zran reads the byte before it
    hi = min(index.layer_size, limit, pc + int((end - pu) * ratio * 1.05) + RANGE_SLACK)
    return lo, max(hi, lo + 1)


def planned_range(index: LayerIndex, e: IndexEntry) -> tuple[int, int] | None:
    """The compressed bytes [lo, hi) a ranged read of `e` fetches first (whole blocks where blocks are checked).

    What a reader of several files plans with: the ranges of files close together are fetched as one
    (`imagefs.reader.read_entries`). None for an empty file, a file a TOC index holds no bytes of (the TOC
    itself, holes), or an index without ranged reads.
    """
    size = e.entry.size
    if size == 0:
        return None
    if index.kind == "gzip-checkpoints":
        lo, hi = _gzip_plan(index, e.offset, e.offset + size)
    elif index.kind == "tar":
        lo, hi = e.offset, e.offset + size
    elif index.kind in TOC_KINDS:
        if e.chunk_offset < 0 or e.chunk_size <= 0:
            return None
        lo, hi = e.chunk_offset, e.chunk_offset + e.chunk_size
    elif index.kind == "zstd-frames":
        covering = [f for f in index.frames if f[2] < e.offset + size and _frame_end(index, f) > e.offset]
        if not covering:
            return None
        lo, hi = covering[0][0], covering[-1][0] + covering[-1][1]
    else:
        return None
    if index.blocks:
        lo, hi = lo // BLOCK * BLOCK, min(index.layer_size, -(-hi // BLOCK) * BLOCK)
    return lo, hi


def read_entry_ranged(index: LayerIndex, e: IndexEntry, fetch, origin: str = "registry"
                      ) -> tuple[bytes, str, RangedBlob | None]:
    """(content, verification label, the ranged file) of one regular file, checked against its digest.

    `origin` ("registry" or "layout") says where the bytes came from when a digest does not match.
    Every block read was checked against the verified pass, but a damaged index can point a file at
    another file's verified bytes: only the file's own digest tells, so it is checked here, once, for
    every route (a TOC read checks each chunk and the whole file in read_chunks).
    """
    what = f"{e.entry.path} in layer {index.layer_digest}"
    data, chain, blob = _read_ranged(index, e, fetch, origin, what)
    if e.digest and index.kind not in TOC_KINDS:
        check_digest(data, e.digest, what, origin)
    return data, chain, blob


def _read_ranged(index: LayerIndex, e: IndexEntry, fetch, origin: str, what: str
                 ) -> tuple[bytes, str, RangedBlob | None]:
    size = e.entry.size
    if size == 0:
        return b"", index.chain, None
    if index.kind == "gzip-checkpoints":
        import indexed_gzip as igz  # import time: indexed_gzip loads numpy (70 ms), only gzip layers need it

        blob = RangedBlob(fetch, index.layer_size, _gzip_plan(index, e.offset, e.offset + size), index, origin)
        g = igz._IndexedGzipFile(fileobj=blob, auto_build=False, skip_crc_check=True, readbuf_size=_ZRAN_READBUF,
                                 spacing=index.span)
        try:
            g.import_index(fileobj=io.BytesIO(index.zran_for(e.offset, e.offset + size)))
            g.seek(e.offset)
            parts, left = [], size
            while left:
                chunk = g.read(min(left, 1 << 20))
                if not chunk:
                    raise InvalidManifest(f"{what}: the layer ends before the file does")
                parts.append(chunk)
                left -= len(chunk)
        except (igz.ZranError, ValueError, OSError, RegistryExplorerError) as exc:
            if blob.refused is not None:
                raise blob.refused from None
            if blob.failed is not None:
                raise blob.failed from None
            if isinstance(exc, RegistryExplorerError):
                raise
            raise DigestMismatch(e.digest, f"undecodable ({exc})", what=what, origin=origin) from None
        finally:
            g.close()
        return b"".join(parts), VERIFIED_INDEX, blob
    if index.kind == "tar":  # uncompressed: the file's bytes are the blob's, at its tar offset
        blob = RangedBlob(fetch, index.layer_size, (e.offset, e.offset + size), index, origin)
        blob.seek(e.offset)
        data = blob.read(size)
        if len(data) != size:
            raise InvalidManifest(f"{what}: the layer ends before the file does")
        return data, VERIFIED_INDEX, blob
    if index.kind in TOC_KINDS:
        if e.entry.path == TOC_NAME and index.kind == "estargz-toc" and e.digest == index.anchor:
            return index.toc, index.chain, None  # the TOC itself: verified when the index was made
        inflate = inflate_member if index.kind == "estargz-toc" else inflate_frames
        return read_chunks(e, fetch, inflate, what, origin), index.chain, None
    if index.kind == "zstd-frames":
        covering = [f for f in index.frames if f[2] < e.offset + size and _frame_end(index, f) > e.offset]
        lo, hi = covering[0][0], covering[-1][0] + covering[-1][1]
        blob = RangedBlob(fetch, index.layer_size, (lo, hi), index, origin)
        blob.seek(lo)
        comp = blob.read(hi - lo)
        want, parts = e.offset + size - covering[0][2], []
        try:
            out = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(comp), read_across_frames=True)
            while want > 0 and (chunk := out.read(min(want, 1 << 20))):
                parts.append(chunk)
                want -= len(chunk)
        except zstandard.ZstdError:
            parts = []
        data = b"".join(parts)[e.offset - covering[0][2]:]
        if len(data) != size:  # cannot happen with verified blocks; never hand out short bytes
            raise InvalidManifest(f"{what}: the frames hold {len(data)} bytes, not {size}")
        return data, VERIFIED_INDEX, blob
    raise ValueError(f"a {index.kind} index has no ranged reads")


def _frame_end(index: LayerIndex, frame: tuple[int, int, int]) -> int:
    i = index.frames.index(frame)
    return index.frames[i + 1][2] if i + 1 < len(index.frames) else 1 << 62
