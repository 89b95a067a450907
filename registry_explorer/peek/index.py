"""`LayerIndex`: where each file of a layer lives, and how to get there without reading the layer.

Kinds (`.kind`):
* ``gzip-checkpoints`` - tar headers with uncompressed data offsets, plus gzip seek points every
  `span` bytes of output (each with the 32 KiB deflate window needed to resume there), exported
  by `indexed_gzip` (zran). Built only from a local copy whose layer digest already verified.
* ``estargz-toc`` - the layer's own TOC (`stargz.index.json`), verified against the manifest's
  `containerd.io/snapshot/stargz/toc.digest` annotation; each entry carries its content digest.
* ``zstd-chunked-toc`` - the zstd:chunked TOC, verified against the manifest's checksum annotation.
* ``zstd-frames`` - a zstd layer of several frames: each frame's compressed and uncompressed span.
* ``tar`` - an uncompressed layer: the tar offsets are the blob's own, checked by block digests.
* ``stream-only`` - no random access (one zstd frame): reads stream the whole (verified) layer.

Which chain of trust an index was built under, and so which manifests it may serve, is
`chain`/`anchor` (see `peek/trust.py`); a TOC index also keeps the TOC bytes (`toc`), so a stored
copy is re-hashed against its anchor whenever it is loaded.

The sha256 of every `BLOCK` bytes of the compressed blob is recorded during the verified pass
(`blocks`), so each block fetched later by Range is checked before zran inflates it: compressed
bytes are never trusted on their own, and the index stays small (32 bytes per 32 KiB, about
0.1%, where a digest per file would cost 32 bytes per file). How an index is stored (columns, and
the zran windows apart from them) is `peek/stored.py`.
"""

from __future__ import annotations

import bisect
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ..layers.tar import Entry
from .zran import mini_index, split_export

__all__ = ["BLOCK", "BLOCK_KINDS", "DEFAULT_SPAN", "KINDS", "TOC_KINDS", "Digests", "IndexEntry", "LayerIndex"]

# 1 MiB of output between seek points: each point stores a 32 KiB window, so the index is about
# 3% of the uncompressed layer before compression (oci.dag.dev uses 4 MiB for about 1%).
DEFAULT_SPAN = 1 << 20
KINDS = ("gzip-checkpoints", "estargz-toc", "zstd-chunked-toc", "zstd-frames", "tar", "stream-only")
# Kinds whose ranged reads are checked by block digests recorded in the verified full pass.
BLOCK_KINDS = ("gzip-checkpoints", "zstd-frames", "tar")
# Kinds built from a TOC that a manifest annotation vouches for (not the layer digest).
TOC_KINDS = ("estargz-toc", "zstd-chunked-toc")
# Compressed bytes per verified block of a ranged read: small enough that aligning a Range to
# blocks adds at most 64 KiB, large enough that the digests are ~0.1% of the layer.
BLOCK = 32 << 10


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One tar entry with where its content starts (`offset`, uncompressed; -1 when unknown).

    For a TOC kind, `chunks` are the file's compressed units (`peek.toc.Chunk`: where each lies in
    the blob, which bytes of the file it holds, its digest), `chunk_offset`/`chunk_size` the span
    they cover together, and `digest` the TOC's digest of the whole content; for others `digest` is
    the sha256 recorded from the verified stream ("" for non-files).
    """

    entry: Entry
    offset: int = -1
    digest: str = ""
    chunk_offset: int = -1
    chunk_size: int = -1
    chunks: tuple = ()


class Digests(Sequence):
    """sha256 digests kept as one bytes object (32 bytes each): a loaded index's block digests, unsliced."""

    def __init__(self, raw: bytes):
        if len(raw) % 32:
            raise ValueError("not a whole number of sha256 digests")
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw) // 32

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        k %= len(self)
        return self._raw[32 * k:32 * k + 32]

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def tobytes(self) -> bytes:
        """The digests, concatenated."""
        return self._raw


class LayerIndex:
    """The index of one layer blob (see the module docstring); `.entries` in archive order.

    A loaded index keeps its entries as columns (`peek.stored.Columns`) and makes an `IndexEntry`
    only for a row that is asked for: a warm read of one file in a layer of 6,000 looks up one path,
    it does not build 6,000 objects. `entries` still gives them all, made once on first use.
    """

    def __init__(self, layer_digest: str, layer_size: int, media_type: str, kind: str, chain: str,
                 anchor: str = "", span: int = DEFAULT_SPAN, entries: list[IndexEntry] | None = None,
                 seek_points=(), zran: bytes = b"", frames=(), blocks=(), toc: bytes = b"", toc_offset: int = -1,
                 *, columns=None, zran_table=None, windows=None, implied: set[str] | None = None):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.layer_digest, self.layer_size, self.media_type = layer_digest, layer_size, media_type
        self.kind, self.chain = kind, chain
        self.anchor = anchor  # the TOC digest / checksum a TOC chain is keyed by ("" for verified-index)
        self.span = span
        self.seek_points = list(seek_points)  # gzip: (uncompressed, compressed) of every seek point
        self.frames = list(frames)  # zstd: (c_off, c_len, u_off)
        self.blocks = blocks if isinstance(blocks, Digests) else list(blocks)  # sha256 of each BLOCK of the blob
        self.toc = toc  # TOC kinds: the verified TOC bytes the entries came from
        self.toc_offset = toc_offset  # TOC kinds: where the TOC starts in the blob (format metadata, not a file)
        self._entries = entries if entries is not None or columns is not None else []
        self._columns = columns
        self._by_path: dict[str, int] | None = None
        self._implied: set[str] | None = implied
        # gzip: the zran points and, per point, its 32 KiB window (a list, or a callable loading point k's)
        self.zran_table = zran_table
        self._windows = windows
        if zran:
            self.zran_table, self._windows = split_export(zran, f"layer {layer_digest}")

    def __repr__(self) -> str:
        return (f"LayerIndex(layer_digest={self.layer_digest!r}, kind={self.kind!r}, chain={self.chain!r}, "
                f"entries={len(self)})")

    def __len__(self) -> int:
        return len(self._columns) if self._entries is None else len(self._entries)

    def __bool__(self) -> bool:
        return True  # an index of an empty layer is still an index (`if idx:` must not mean "has entries")

    # -- entries and lookups ---------------------------------------------------------------------

    @property
    def entries(self) -> list[IndexEntry]:
        """Every entry, in archive order (made from the columns once, on first use)."""
        if self._entries is None:
            self._entries = [self._columns.row(i) for i in range(len(self._columns))]
        return self._entries

    @property
    def files(self) -> list[Entry]:
        """The entries as layerfs.Entry (what frames.files tabulates)."""
        return [e.entry for e in self.entries]

    def row(self, i: int) -> IndexEntry:
        """Entry number `i` (archive order)."""
        return self._entries[i] if self._entries is not None else self._columns.row(i)

    def paths(self) -> list[str]:
        """Every entry's path, in archive order (a whiteout's is the path it hides)."""
        return self._columns.paths if self._entries is None else [e.entry.path for e in self._entries]

    def marks(self):
        """Per entry, in archive order: 0, or 1 for a whiteout (`.wh.x`), 2 for an opaque marker (`.wh..wh..opq`)."""
        if self._entries is None:
            return self._columns.whiteouts
        return [0 if e.entry.whiteout is None else 1 if e.entry.whiteout == "file" else 2 for e in self._entries]

    def marked(self, whiteout: str) -> set[str]:
        """Paths of the entries marked "file" (a `.wh.` whiteout) or "opaque" (`.wh..wh..opq`)."""
        code = {"file": 1, "opaque": 2}[whiteout]
        marks, paths = self.marks(), self.paths()
        if isinstance(marks, bytes):  # columns: find the few marked rows in C
            out, i = set(), marks.find(code)
            while i >= 0:
                out.add(paths[i])
                i = marks.find(code, i + 1)
            return out
        return {paths[i] for i, w in enumerate(marks) if w == code}

    def position(self, path: str) -> int | None:
        """The row of the last entry for `path` that is not a whiteout (a later member wins, as extraction does)."""
        if self._by_path is None:
            codes, paths = self.marks(), self.paths()
            if isinstance(codes, bytes) and not codes.strip(b"\0"):  # no whiteouts: built in C
                self._by_path = dict(zip(paths, range(len(paths))))
            else:
                self._by_path = {p: i for i, p in enumerate(paths) if not codes[i]}
        return self._by_path.get(path)

    def find(self, path: str) -> IndexEntry | None:
        """The last entry for `path` in this layer that is not a whiteout (a later member wins, as extraction does)."""
        i = self.position(path)
        return None if i is None else self.row(i)

    def repeats_a_path(self) -> bool:
        """True when the layer's tar writes some path more than once (real tools do not; hostile tars may)."""
        self.position("")
        marks = self.marks()
        unmarked = marks.count(0) if isinstance(marks, bytes) else sum(1 for m in marks if not m)
        return len(self._by_path) != unmarked

    def implied(self) -> set[str]:
        """Directories that exist only because a path under them does (a tar may omit them); made once."""
        if self._implied is None:
            implied: set[str] = set()
            for path, mark in zip(self.paths(), self.marks()):
                cut = -1 if mark else path.rfind("/")  # paths are normalised: no trailing or double slash
                while cut > 0 and path[:cut] not in implied:  # a parent seen before: its parents were too
                    implied.add(path[:cut])
                    cut = path.rfind("/", 0, cut)
            self._implied = implied
        return self._implied

    lookup = find

    # -- blocks and seek points ------------------------------------------------------------------

    def check_block(self, k: int, data: bytes) -> bool:
        """True when `data` is block `k` of the blob as the verified pass saw it."""
        return 0 <= k < len(self.blocks) and hashlib.sha256(data).digest() == self.blocks[k]

    def point_before(self, offset: int) -> tuple[int, int]:
        """The last seek point at or before uncompressed `offset`."""
        i = bisect.bisect_right(self.seek_points, (offset, 1 << 63)) - 1
        return self.seek_points[max(0, i)]

    def point_after(self, offset: int) -> tuple[int, int] | None:
        """The first seek point at or after uncompressed `offset` (None past the last one)."""
        i = bisect.bisect_left(self.seek_points, (offset, -1))
        return self.seek_points[i] if i < len(self.seek_points) else None

    def zran_for(self, offset: int, end: int) -> bytes:
        """A zran (GZIDX) index holding just the seek points a read of uncompressed [offset, end) needs."""
        windows = self._windows
        return mini_index(self.zran_table, windows if callable(windows) else windows.__getitem__, offset, end)

    def window(self, k: int) -> bytes | None:
        """Seek point k's 32 KiB window (None for a point without one)."""
        return self._windows(k) if callable(self._windows) else self._windows[k]


class SizedRawIO(io.RawIOBase):
    """A read-only raw file of known `_size` with a position: the seek/tell half of the file protocol.

    zran (indexed_gzip) seeks back to its checkpoints, so both the growing copy it indexes while a
    layer streams (peek.build) and the remote blob it reads by Range (peek.ranged) present this.
    """

    _size = 0
    _pos = 0

    def readable(self) -> bool:
        """File protocol."""
        return True

    def seekable(self) -> bool:
        """File protocol."""
        return True

    def tell(self) -> int:
        """File protocol."""
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        """File protocol; SEEK_END counts from the descriptor's size."""
        self._pos = max(0, {0: 0, 1: self._pos, 2: self._size}[whence] + offset)
        return self._pos
