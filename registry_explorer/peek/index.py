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
0.1%, where a digest per file would cost 32 bytes per file). On disk an index is zstd-compressed
JSON, the zran index and the block digests (`to_bytes`/`from_bytes`).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from dataclasses import dataclass, field

import zstandard

from ..core import jsontext
from ..core.errors import InvalidManifest
from ..layers.tar import Entry

__all__ = ["BLOCK", "BLOCK_KINDS", "DEFAULT_SPAN", "KINDS", "TOC_KINDS", "IndexEntry", "LayerIndex"]

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
_DIGEST = 32  # sha256
_MAGIC = b"RXLI3"  # 3: the chain of trust is stored with the index (a stored RXLI2 is rebuilt)
# zstd level for stored indexes: the windows are deflate history (raw file data) and compress
# ~2:1 at any level (measured on the big sample: level 3 to 22 within 0.5%), so a fast level.
_ZSTD_LEVEL = 6
_MAX_INDEX_JSON = 512 << 20


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One tar entry with where its content starts (`offset`, uncompressed; -1 when unknown).

    For eStargz, `chunk_offset`/`chunk_size` locate the compressed gzip member holding the file
    and `digest` is the TOC's `digest` of the content; for others `digest` is the sha256 recorded
    from the verified stream ("" for non-files).
    """

    entry: Entry
    offset: int = -1
    digest: str = ""
    chunk_offset: int = -1
    chunk_size: int = -1


@dataclass
class LayerIndex:
    """The index of one layer blob (see the module docstring); `.entries` in archive order."""
    layer_digest: str
    layer_size: int
    media_type: str
    kind: str
    chain: str  # peek.trust: "verified-index" (built in a verified full pass) or a TOC chain
    anchor: str = ""  # the TOC digest / checksum a TOC chain is keyed by ("" for verified-index)
    span: int = DEFAULT_SPAN
    entries: list[IndexEntry] = field(default_factory=list, repr=False)
    seek_points: list[tuple[int, int]] = field(default_factory=list, repr=False)  # (uncompressed, compressed)
    zran: bytes = field(default=b"", repr=False)  # indexed_gzip's exported index (gzip-checkpoints)
    frames: list[tuple[int, int, int]] = field(default_factory=list, repr=False)  # zstd: (c_off, c_len, u_off)
    blocks: list[bytes] = field(default_factory=list, repr=False)  # sha256 of each BLOCK of the blob
    toc: bytes = field(default=b"", repr=False)  # TOC kinds: the verified TOC bytes the entries came from
    toc_offset: int = -1  # TOC kinds: where the TOC starts in the blob (format metadata, not a file)

    def check_block(self, k: int, data: bytes) -> bool:
        """True when `data` is block `k` of the blob as the verified pass saw it."""
        return 0 <= k < len(self.blocks) and hashlib.sha256(data).digest() == self.blocks[k]

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def files(self) -> list[Entry]:
        """The entries as layerfs.Entry (what frames.files tabulates)."""
        return [e.entry for e in self.entries]

    def find(self, path: str) -> IndexEntry | None:
        """The last entry for `path` in this layer (a later tar member wins, as extraction does)."""
        hit = None
        for e in self.entries:
            if e.entry.path == path and e.entry.whiteout is None:
                hit = e
        return hit

    def point_before(self, offset: int) -> tuple[int, int]:
        """The last seek point at or before uncompressed `offset`."""
        best = self.seek_points[0]
        for p in self.seek_points:
            if p[0] <= offset:
                best = p
            else:
                break
        return best

    def point_after(self, offset: int) -> tuple[int, int] | None:
        """The first seek point at or after uncompressed `offset` (None past the last one)."""
        for p in self.seek_points:
            if p[0] >= offset:
                return p
        return None

    # -- storage ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The stored form: zstd(MAGIC, JSON length, JSON, zran index)."""
        doc = {
            "layer_digest": self.layer_digest, "layer_size": self.layer_size, "media_type": self.media_type,
            "kind": self.kind, "chain": self.chain, "anchor": self.anchor, "span": self.span,
            "toc_offset": self.toc_offset, "toc_length": len(self.toc),
            "entries": [[e.entry.path, e.entry.type, e.entry.size, e.entry.mode, e.entry.uid, e.entry.gid,
                         e.entry.mtime, e.entry.linkname, e.entry.whiteout, e.offset, e.digest,
                         e.chunk_offset, e.chunk_size] for e in self.entries],
            "seek_points": self.seek_points, "frames": self.frames,
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        raw = _MAGIC + struct.pack(">QQ", len(body), len(self.zran)) + body + self.zran + self.toc + b"".join(self.blocks)
        return zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(raw)

    @classmethod
    def from_bytes(cls, data: bytes, *, layer_digest: str) -> LayerIndex:
        """Parse a stored index; InvalidManifest if it is malformed or names another layer."""
        try:
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=_MAX_INDEX_JSON)
            if not raw.startswith(_MAGIC):
                raise ValueError("bad magic")
            n, z = struct.unpack(">QQ", raw[len(_MAGIC):len(_MAGIC) + 16])
            start = len(_MAGIC) + 16
            doc = jsontext.loads(raw[start:start + n])
            zran = raw[start + n:start + n + z]
            t = int(doc["toc_length"])
            toc, tail = raw[start + n + z:start + n + z + t], raw[start + n + z + t:]
            if len(zran) != z or len(toc) != t or len(tail) % _DIGEST:
                raise ValueError("truncated")
            entries = [IndexEntry(Entry(path=str(r[0]), type=str(r[1]), size=int(r[2]), mode=int(r[3]),
                                        uid=int(r[4]), gid=int(r[5]), mtime=float(r[6]), linkname=str(r[7]),
                                        whiteout=r[8]), int(r[9]), str(r[10]), int(r[11]), int(r[12]))
                       for r in doc["entries"]]
            idx = cls(layer_digest=str(doc["layer_digest"]), layer_size=int(doc["layer_size"]),
                      media_type=str(doc["media_type"]), kind=str(doc["kind"]), chain=str(doc["chain"]),
                      anchor=str(doc["anchor"]), span=int(doc["span"]), entries=entries, toc=toc,
                      toc_offset=int(doc["toc_offset"]),
                      seek_points=[(int(a), int(b)) for a, b in doc["seek_points"]],
                      zran=zran, blocks=[tail[i:i + _DIGEST] for i in range(0, len(tail), _DIGEST)],
                      frames=[(int(a), int(b), int(c)) for a, b, c in doc["frames"]])
        except (zstandard.ZstdError, ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
            raise InvalidManifest(f"stored index of layer {layer_digest} is unreadable: {exc}") from None
        if idx.layer_digest != layer_digest:
            raise InvalidManifest(f"stored index names layer {idx.layer_digest}, not {layer_digest}")
        if idx.kind in BLOCK_KINDS and len(idx.blocks) != -(-idx.layer_size // BLOCK):
            raise InvalidManifest(f"stored index of layer {layer_digest} lacks block digests")
        return idx


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
