"""zstd:chunked: reading a layer's TOC with Range requests, and writing zstd:chunked layers for the sandbox.

Format (containers/storage `pkg/chunked`: `compressor/compressor.go` writes it and
`internal/minimal/compression.go` names its parts; there is no other specification). The blob is
a valid zstd stream of the layer's tar: the tar headers ride in frames of their own, and each
regular file's content starts a new frame (or several: a large file is cut into chunks, one frame
each, by a rolling checksum). After the tar come zstd *skippable* frames, which a plain decoder
ignores: the TOC (the zstd-compressed JSON table of contents), the tar-split (newer writers), and
a footer frame whose payload records where the TOC is and ends with a magic: `GnUlInUx` after 40
bytes from the first writers (buildah 1.28, ctr-remote 0.12 write it), `GNUlInUx` after 64 since
containers/storage 1.50 ("chunked: fix generating footer", which also added the tar-split fields).

The layer descriptor says the same in two annotations (prefix `io.github.containers.zstd-chunked.`,
`io.containers.zstd-chunked.` before containers/storage 1.39): `manifest-position` is
`offset:length:uncompressed length:type` of the compressed TOC (type 1, the CRFS-style TOC) and
`manifest-checksum` is the sha256 of exactly those `length` compressed bytes. So the checksum covers
the compressed TOC, and that is what an index keeps and re-hashes when it is loaded again; the JSON is
inflated from it (bounded) only after it matched. containers/storage reads the position from the
annotation and never the footer; so do we, and the footer is only the way to find a TOC when a
writer gave the checksum but no position (`footer_position`).

`ctr-remote image convert --zstdchunked` (stargz-snapshotter) writes the same skippable frames and
annotations around an eStargz-style TOC (no `endOffset`; chunks end where the next entry starts):
`toc.entries_from_toc` reads both.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from datetime import datetime, timezone

import zstandard

from ..core import jsontext
from ..core.errors import DigestMismatch, InvalidManifest
from ..core.models import Descriptor
from ..layers.compress import ZSTD_MAX_WINDOW
from .index import LayerIndex
from .toc import MAX_TOC_BYTES, entries_from_toc
from .trust import ZSTD_CHUNKED_TOC

__all__ = ["FOOTER_MAGIC", "footer_position", "index_from_zstd_toc", "inflate_frames", "parse_position",
           "read_zstd_toc_index", "zstd_chunked_layer"]

SKIPPABLE_MAGIC = b"\x50\x2a\x4d\x18"
FOOTER_MAGIC = b"GNUlInUx"
# (payload size, magic) of the footer frame: offset, length, uncompressed length, type, [tar-split
# offset, length, uncompressed length,] magic; all little-endian uint64 (module docstring).
FOOTERS = ((64, FOOTER_MAGIC), (40, b"GnUlInUx"))
_TAIL = 8 + max(size for size, _ in FOOTERS)
CRFS_TYPE = 1  # ManifestTypeCRFS: the only TOC type there is
_SKIPPABLE_HEADER = 8
PREFIX = "io.github.containers.zstd-chunked."


def parse_position(text: str, layer_size: int, what: str) -> tuple[int, int, int]:
    """(offset, compressed length, uncompressed length) from a `manifest-position` annotation."""
    try:
        offset, length, plain, kind = (int(x) for x in text.split(":"))
    except ValueError:
        raise InvalidManifest(f"{what}: manifest-position {text[:80]!r} is not offset:length:length:type") from None
    return _checked(offset, length, plain, kind, layer_size, what)


def _checked(offset: int, length: int, plain: int, kind: int, layer_size: int, what: str) -> tuple[int, int, int]:
    if kind != CRFS_TYPE:
        raise InvalidManifest(f"{what}: TOC type {kind} is not {CRFS_TYPE} (the only one there is)")
    if not (_SKIPPABLE_HEADER <= offset and 0 < length and offset + length <= layer_size):
        raise InvalidManifest(f"{what}: the TOC position lies outside the blob")
    if length > MAX_TOC_BYTES or plain > MAX_TOC_BYTES:
        raise InvalidManifest(f"{what}: the TOC is larger than {MAX_TOC_BYTES} bytes")
    return offset, length, plain


def footer_position(tail: bytes, layer_size: int, what: str) -> tuple[int, int, int]:
    """(offset, compressed length, uncompressed length) of the TOC from the blob's last bytes (its footer frame)."""
    for size, magic in FOOTERS:
        head = tail[-size - _SKIPPABLE_HEADER:-size]
        if tail.endswith(magic) and len(head) == _SKIPPABLE_HEADER and head[:4] == SKIPPABLE_MAGIC and \
                int.from_bytes(head[4:], "little") == size:
            offset, length, plain, kind = struct.unpack("<4Q", tail[-size:-size + 32])
            return _checked(offset, length, plain, kind, layer_size, what)
    raise InvalidManifest(f"{what}: no zstd:chunked footer at the end of the blob")


def inflate_frames(comp: bytes, size: int) -> bytes:
    """At most `size` bytes of the zstd frames at the start of `comp` (fewer if they are damaged or end early)."""
    reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
        io.BytesIO(comp), read_across_frames=True)
    parts, left = [], size
    try:
        while left > 0 and (chunk := reader.read(min(left, 1 << 20))):
            parts.append(chunk)
            left -= len(chunk)
    except zstandard.ZstdError:
        return b""  # the chunk's digest check reports it
    return b"".join(parts)


def read_zstd_toc_index(fetch, desc: Descriptor, checksum: str, position: str, origin: str = "registry") -> LayerIndex:
    """The `zstd-chunked-toc` index of a layer: its TOC by Range (`fetch(start, end)`), checked against `checksum`.

    One request with the position annotation (what containers/storage does); without it, one more
    for the footer. `origin` ("registry" or "layout") says where the bytes came from if they do not match.
    """
    what = f"zstd:chunked layer {desc.digest}"
    if position:
        offset, length, _ = parse_position(position, desc.size, what)
    else:
        tail = fetch(max(0, desc.size - _TAIL), desc.size)
        offset, length, _ = footer_position(tail, desc.size, what)
    compressed = fetch(offset, offset + length)
    actual = "sha256:" + hashlib.sha256(compressed).hexdigest()
    if actual != checksum:
        raise DigestMismatch(checksum, actual, what=what + " TOC", origin=origin)  # verified before it is inflated
    return index_from_zstd_toc(compressed, desc.digest, desc.size, desc.media_type, checksum, offset)


def index_from_zstd_toc(compressed: bytes, layer_digest: str, layer_size: int, media_type: str, checksum: str,
                        toc_offset: int) -> LayerIndex:
    """The index of a compressed TOC that already matched `checksum` (also what a stored copy is rebuilt from)."""
    what = f"zstd:chunked layer {layer_digest}"
    raw = inflate_frames(compressed, MAX_TOC_BYTES + 1)
    if not raw or len(raw) > MAX_TOC_BYTES:
        raise InvalidManifest(f"{what}: the TOC does not inflate to at most {MAX_TOC_BYTES} bytes")
    try:
        items = jsontext.loads(raw)["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidManifest(f"{what}: unreadable TOC ({exc})") from None
    entries = entries_from_toc(items, what, toc_offset - _SKIPPABLE_HEADER)
    return LayerIndex(layer_digest=layer_digest, layer_size=layer_size, media_type=media_type,
                      kind="zstd-chunked-toc", chain=ZSTD_CHUNKED_TOC, anchor=checksum, entries=entries,
                      toc=compressed, toc_offset=toc_offset)


# --- writing (the sandbox's sample, tests) ---------------------------------------------------------


def _skippable(payload: bytes) -> bytes:
    return SKIPPABLE_MAGIC + struct.pack("<I", len(payload)) + payload


def zstd_chunked_layer(files: list[tuple[str, str, bytes | str]], *, chunk_size: int = 0,
                       mtime: int = 0) -> tuple[bytes, dict[str, str], str]:
    """(blob, layer annotations, diff_id) of a zstd:chunked layer of (name, "dir"|"reg"|"symlink", data or target).

    Laid out as containers/storage lays it out: headers and padding in frames of their own, each
    file's content in its own frame (cut every `chunk_size` bytes into `chunk` entries, where
    containers/storage cuts by a rolling checksum), then the TOC, then a 64-byte footer. No
    tar-split: readers ignore one the TOC does not name.
    """
    cctx = zstandard.ZstdCompressor(level=3)
    out, raw, pending, entries = io.BytesIO(), io.BytesIO(), bytearray(), []
    types = {"dir": tarfile.DIRTYPE, "reg": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}
    stamp = f"{datetime.fromtimestamp(mtime, timezone.utc):%Y-%m-%dT%H:%M:%SZ}"

    def frame(data: bytes) -> None:
        raw.write(data)
        out.write(cctx.compress(data))

    for name, kind, payload in files:
        info = tarfile.TarInfo(name)
        info.type, info.mtime = types[kind], mtime
        info.mode = 0o755 if kind == "dir" else 0o777 if kind == "symlink" else 0o644
        if kind == "symlink":
            info.linkname = payload
        if kind == "reg":
            info.size = len(payload)
        header = info.tobuf(tarfile.PAX_FORMAT)
        pending += header
        entry = {"type": kind, "name": info.name + ("/" if kind == "dir" else ""), "mode": info.mode | (
            0o040000 if kind == "dir" else 0o120000 if kind == "symlink" else 0o100000), "modtime": stamp}
        if kind == "symlink":
            entry["linkName"] = payload
        entries.append(entry)
        if kind != "reg" or not payload:
            if kind == "reg":
                entry["digest"] = "sha256:" + hashlib.sha256(b"").hexdigest()
            continue
        frame(bytes(pending))
        pending.clear()
        entry.update(size=len(payload), digest="sha256:" + hashlib.sha256(payload).hexdigest())
        step = chunk_size if 0 < chunk_size < len(payload) else len(payload)
        for at in range(0, len(payload), step):
            part = payload[at:at + step]
            chunk = entry if at == 0 else {"type": "chunk", "name": entry["name"], "chunkOffset": at}
            chunk["offset"] = out.tell()
            if step < len(payload):
                chunk.update(chunkSize=len(part), chunkDigest="sha256:" + hashlib.sha256(part).hexdigest())
            if at:
                entries.append(chunk)
            frame(part)
        entry["endOffset"] = out.tell()
        pending += b"\0" * (-len(payload) % 512)
    frame(bytes(pending) + b"\0" * 1024)  # the last padding and the end-of-archive marker
    manifest = json.dumps({"version": 1, "entries": entries}, separators=(",", ":")).encode()
    compressed = cctx.compress(manifest)
    offset = out.tell() + _SKIPPABLE_HEADER
    out.write(_skippable(compressed))
    out.write(_skippable(struct.pack("<7Q", offset, len(compressed), len(manifest), CRFS_TYPE, 0, 0, 0) + FOOTER_MAGIC))
    notes = {PREFIX + "manifest-checksum": "sha256:" + hashlib.sha256(compressed).hexdigest(),
             PREFIX + "manifest-position": f"{offset}:{len(compressed)}:{len(manifest)}:{CRFS_TYPE}"}
    return out.getvalue(), notes, "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
