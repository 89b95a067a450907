"""eStargz: reading a layer's TOC with Range requests, and writing eStargz layers for the sandbox.

Format (stargz-snapshotter, docs/estargz.md): a gzip stream of concatenated members in which
every non-empty regular file's payload and the TOC's tar header each start a new member; the
last tar entry is the TOC, `stargz.index.json`; the blob ends with a 51-byte footer, an empty
gzip member whose Extra field is the subfield "SG" holding `%016xSTARGZ` (the TOC's offset).
The layer descriptor's annotation `containerd.io/snapshot/stargz/toc.digest` is the sha256 of
the TOC JSON; each entry's `digest`/`chunkDigest` is the sha256 of its content. Large files are
split into chunks, one gzip member each (`chunk` entries; ctr-remote's default is 4 MiB): the TOC
vocabulary and reading a file by its chunks are shared with zstd:chunked (`toc.py`).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import tarfile
import zlib

from ..core import jsontext
from ..core.errors import DigestMismatch, InvalidManifest
from ..core.models import Descriptor
from ..layers.tar import Entry
from .index import IndexEntry, LayerIndex
from .toc import MAX_TOC_BYTES, entries_from_toc
from .trust import ESTARGZ_TOC

__all__ = ["FOOTER_SIZE", "TOC_NAME", "estargz_layer", "index_from_toc", "inflate_member", "read_toc_index"]

FOOTER_SIZE = 51
TOC_NAME = "stargz.index.json"
# One Range for the tail: the footer, and the TOC with it when it is small. Kept small so that a
# read moves at most the TOC and the file plus 32 KiB; a larger TOC costs one more request for
# exactly the part of it the tail did not hold.
TAIL_FETCH = 32 << 10
_FOOTER_RE = re.compile(rb"([0-9a-f]{16})STARGZ")
_TYPES = {"dir": tarfile.DIRTYPE, "reg": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
          "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


def _member(data: bytes, extra: bytes | None = None) -> bytes:
    """One gzip member (RFC 1952) with mtime 0 and, optionally, an Extra field."""
    flags = 4 if extra is not None else 0
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0" + b"\0\xff"
    if extra is not None:
        head += struct.pack("<H", len(extra)) + extra
    if data:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        body = c.compress(data) + c.flush()
    else:  # an empty final stored block, as Go's compress/gzip writes it: the footer is then 51 bytes
        body = b"\x01\x00\x00\xff\xff"
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def footer(toc_offset: int) -> bytes:
    """The 51-byte eStargz footer pointing at `toc_offset`."""
    payload = b"%016xSTARGZ" % toc_offset
    out = _member(b"", b"SG" + struct.pack("<H", len(payload)) + payload)
    return out


def estargz_layer(files: list[tuple[str, str, bytes | str]], *, chunk_size: int = 0) -> tuple[bytes, str, str]:
    """(blob, TOC digest, diff_id) of an eStargz layer of (name, "dir"|"reg"|"symlink", data or target).

    With `chunk_size`, a file larger than it is split as ctr-remote splits it (`--estargz-chunk-size`):
    one gzip member per chunk, the first described by the `reg` entry and the rest by `chunk` entries.
    """
    blob, raw = io.BytesIO(), io.BytesIO()
    toc_entries = []
    for name, kind, payload in files:
        info = tarfile.TarInfo(name)
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
        info.type = _TYPES[kind]
        info.mode = 0o755 if kind == "dir" else 0o777 if kind == "symlink" else 0o644
        entry = {"name": name, "type": kind, "mode": info.mode, "uid": 0, "gid": 0, "modtime": "1970-01-01T00:00:00Z"}
        if kind == "symlink":
            info.linkname = entry["linkName"] = payload
        if kind == "reg":
            info.size = entry["size"] = len(payload)
        header = info.tobuf(tarfile.PAX_FORMAT)
        raw.write(header)
        blob.write(_member(header))
        toc_entries.append(entry)
        if kind == "reg" and payload:
            entry["digest"] = _sha256(payload)
            step = chunk_size if 0 < chunk_size < len(payload) else len(payload)
            for at in range(0, len(payload), step):
                part = payload[at:at + step]
                chunk = entry if at == 0 else {"name": name, "type": "chunk", "chunkOffset": at}
                chunk.update(offset=blob.tell(), chunkDigest=_sha256(part))
                if step < len(payload):
                    chunk["chunkSize"] = len(part)
                if at:
                    toc_entries.append(chunk)
                if at + step >= len(payload):
                    part += b"\0" * (-len(payload) % 512)  # the tar padding rides in the last chunk's member
                raw.write(part)
                blob.write(_member(part))
    toc = json.dumps({"version": 1, "entries": toc_entries}, separators=(",", ":")).encode()
    toc_info = tarfile.TarInfo(TOC_NAME)
    toc_info.size, toc_info.mtime, toc_info.mode = len(toc), 0, 0  # as stargz-snapshotter writes it
    tail = toc_info.tobuf(tarfile.PAX_FORMAT) + toc + b"\0" * (-len(toc) % 512) + b"\0" * 1024
    raw.write(tail)
    toc_offset = blob.tell()
    blob.write(_member(tail))
    blob.write(footer(toc_offset))
    return blob.getvalue(), _sha256(toc), _sha256(raw.getvalue())


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _gunzip_member(data: bytes, limit: int, what: str) -> bytes:
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidManifest(f"{what}: not gzip ({exc})") from None
    if len(out) > limit:
        raise InvalidManifest(f"{what}: more than {limit} bytes")
    return out


def read_toc_index(fetch, desc: Descriptor, toc_digest: str, origin: str = "registry") -> LayerIndex:
    """The `estargz-toc` index of a layer: footer and TOC by Range (`fetch(start, end)`), TOC digest checked.

    `origin` ("registry" or "layout") says where the bytes came from when the TOC does not match."""
    what = f"eStargz layer {desc.digest}"
    if desc.size < FOOTER_SIZE:
        raise InvalidManifest(f"{what}: smaller than its footer")
    tail_start = max(0, desc.size - TAIL_FETCH)
    tail = fetch(tail_start, desc.size)
    m = _FOOTER_RE.search(tail[-FOOTER_SIZE:])
    if m is None:
        raise InvalidManifest(f"{what}: no eStargz footer")
    toc_offset = int(m.group(1), 16)
    if not 0 <= toc_offset < desc.size - FOOTER_SIZE:
        raise InvalidManifest(f"{what}: footer points outside the blob")
    if desc.size - FOOTER_SIZE - toc_offset > MAX_TOC_BYTES:
        raise InvalidManifest(f"{what}: the TOC is larger than {MAX_TOC_BYTES} bytes")
    member = tail[toc_offset - tail_start:-FOOTER_SIZE] if toc_offset >= tail_start \
        else fetch(toc_offset, tail_start) + tail[:-FOOTER_SIZE]
    raw = _gunzip_member(member, MAX_TOC_BYTES, what + " TOC")
    try:
        info = tarfile.TarInfo.frombuf(raw[:512], "utf-8", "surrogateescape")
    except tarfile.TarError as exc:
        raise InvalidManifest(f"{what}: the TOC has no tar header ({exc})") from None
    toc = raw[512:512 + info.size]
    actual = "sha256:" + hashlib.sha256(toc).hexdigest()
    if info.name != TOC_NAME or actual != toc_digest:
        raise DigestMismatch(toc_digest, actual, what=what + " TOC", origin=origin)  # verified before it is parsed
    return index_from_toc(toc, desc.digest, desc.size, desc.media_type, toc_digest, toc_offset)


def index_from_toc(toc: bytes, layer_digest: str, layer_size: int, media_type: str, toc_digest: str,
                   toc_offset: int) -> LayerIndex:
    """The `estargz-toc` index of a TOC whose digest was already checked (also what a stored copy is rebuilt from).

    The TOC itself is the layer's last tar member, and `tar -t` lists it: so does the index (its
    bytes are the verified TOC, so reading it costs nothing); its header is stargz-snapshotter's
    (mode 0, owner 0, mtime 0), the only part not vouched for by the TOC digest.
    """
    what = f"eStargz layer {layer_digest}"
    try:
        doc = jsontext.loads(toc)
        items = doc["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidManifest(f"{what}: unreadable TOC ({exc})") from None
    entries = entries_from_toc(items, what, toc_offset)
    entries.append(IndexEntry(Entry(path=TOC_NAME, type="file", size=len(toc), mode=0, uid=0, gid=0, mtime=0.0),
                              -1, toc_digest))
    return LayerIndex(layer_digest=layer_digest, layer_size=layer_size, media_type=media_type,
                      kind="estargz-toc", chain=ESTARGZ_TOC, anchor=toc_digest, entries=entries, toc=toc,
                      toc_offset=toc_offset)


def inflate_member(comp: bytes, size: int) -> bytes:
    """At most `size` bytes of the gzip member at the start of `comp` (b"" if it is not one)."""
    try:
        return zlib.decompressobj(wbits=31).decompress(comp, size)
    except zlib.error:
        return b""  # the chunk's digest check reports it
