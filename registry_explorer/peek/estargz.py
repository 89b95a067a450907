"""eStargz: reading a layer's TOC with Range requests, and writing eStargz layers for the sandbox.

Format (stargz-snapshotter, docs/estargz.md): a gzip stream of concatenated members in which
every non-empty regular file's payload and the TOC's tar header each start a new member; the
last tar entry is the TOC, `stargz.index.json`; the blob ends with a 51-byte footer, an empty
gzip member whose Extra field is the subfield "SG" holding `%016xSTARGZ` (the TOC's offset).
The layer descriptor's annotation `containerd.io/snapshot/stargz/toc.digest` is the sha256 of
the TOC JSON; each entry's `digest`/`chunkDigest` is the sha256 of its content.
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
from ..layers.tar import entry_from_tarinfo
from .index import IndexEntry, LayerIndex
from .trust import ESTARGZ_TOC

__all__ = ["FOOTER_SIZE", "TOC_NAME", "estargz_layer", "index_from_toc", "read_toc_index"]

FOOTER_SIZE = 51
TOC_NAME = "stargz.index.json"
# The TOC of a layer with a million files is ~200 MB of JSON; refuse more before inflating it.
MAX_TOC_BYTES = 256 << 20
# One Range for the tail: the footer, and the TOC with it when it is small (most layers).
TAIL_FETCH = 256 << 10
_FOOTER_RE = re.compile(rb"([0-9a-f]{16})STARGZ")
# Entry digests are checked with hashlib: only sha256 is written by eStargz writers (estargz.md).
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
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


def estargz_layer(files: list[tuple[str, str, bytes | str]]) -> tuple[bytes, str, str]:
    """(blob, TOC digest, diff_id) of an eStargz layer of (name, "dir"|"reg"|"symlink", data or target)."""
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
        if kind == "reg" and payload:
            entry["offset"] = blob.tell()
            entry["digest"] = entry["chunkDigest"] = "sha256:" + hashlib.sha256(payload).hexdigest()
            padded = payload + b"\0" * (-len(payload) % 512)
            raw.write(padded)
            blob.write(_member(padded))
        toc_entries.append(entry)
    toc = json.dumps({"version": 1, "entries": toc_entries}, separators=(",", ":")).encode()
    toc_info = tarfile.TarInfo(TOC_NAME)
    toc_info.size, toc_info.mtime = len(toc), 0
    tail = toc_info.tobuf(tarfile.PAX_FORMAT) + toc + b"\0" * (-len(toc) % 512) + b"\0" * 1024
    raw.write(tail)
    toc_offset = blob.tell()
    blob.write(_member(tail))
    blob.write(footer(toc_offset))
    return blob.getvalue(), "sha256:" + hashlib.sha256(toc).hexdigest(), "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()


def _gunzip_member(data: bytes, limit: int, what: str) -> bytes:
    d = zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidManifest(f"{what}: not gzip ({exc})") from None
    if len(out) > limit:
        raise InvalidManifest(f"{what}: more than {limit} bytes")
    return out


def read_toc_index(fetch, desc: Descriptor, toc_digest: str) -> LayerIndex:
    """The `estargz-toc` index of a layer: footer and TOC by Range (`fetch(start, end)`), TOC digest checked."""
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
    member = tail[toc_offset - tail_start:-FOOTER_SIZE] if toc_offset >= tail_start \
        else fetch(toc_offset, desc.size - FOOTER_SIZE)
    raw = _gunzip_member(member, MAX_TOC_BYTES, what + " TOC")
    try:
        info = tarfile.TarInfo.frombuf(raw[:512], "utf-8", "surrogateescape")
    except tarfile.TarError as exc:
        raise InvalidManifest(f"{what}: the TOC has no tar header ({exc})") from None
    toc = raw[512:512 + info.size]
    actual = "sha256:" + hashlib.sha256(toc).hexdigest()
    if info.name != TOC_NAME or actual != toc_digest:
        raise DigestMismatch(toc_digest, actual, what=what + " TOC")  # verified before it is parsed
    return index_from_toc(toc, desc.digest, desc.size, desc.media_type, toc_digest, toc_offset)


def index_from_toc(toc: bytes, layer_digest: str, layer_size: int, media_type: str, toc_digest: str,
                   toc_offset: int) -> LayerIndex:
    """The `estargz-toc` index of a TOC whose digest was already checked (also what a stored copy is rebuilt from)."""
    what = f"eStargz layer {layer_digest}"
    try:
        doc = jsontext.loads(toc)
        items = [e for e in doc["entries"] if isinstance(e, dict) and e.get("type") != "chunk"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidManifest(f"{what}: unreadable TOC ({exc})") from None
    offsets = sorted({_int(e.get("offset", -1), what) for e in items} | {toc_offset})
    entries = []
    for e in items:
        try:
            ti = tarfile.TarInfo(str(e["name"]))
            ti.type = _TYPES.get(str(e["type"]), tarfile.REGTYPE)
            ti.size = int(e.get("size", 0))
            ti.mode, ti.uid, ti.gid = int(e.get("mode", 0)), int(e.get("uid", 0)), int(e.get("gid", 0))
            ti.linkname = str(e.get("linkName", ""))
            off = int(e.get("offset", -1))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidManifest(f"{what}: a TOC entry is malformed ({exc})") from None
        if ti.size < 0 or (off != -1 and not 0 <= off < toc_offset):
            raise InvalidManifest(f"{what}: a TOC entry lies outside the blob")
        digest = str(e.get("digest") or e.get("chunkDigest") or "")
        if ti.type == tarfile.REGTYPE and ti.size and not _DIGEST_RE.match(digest):
            raise InvalidManifest(f"{what}: TOC entry {str(e['name'])[:200]!r} has no sha256 digest")
        nxt = next((o for o in offsets if o > off), toc_offset) if off >= 0 else -1
        entries.append(IndexEntry(entry_from_tarinfo(ti), -1, digest, off, nxt - off if off >= 0 else -1))
    return LayerIndex(layer_digest=layer_digest, layer_size=layer_size, media_type=media_type,
                      kind="estargz-toc", chain=ESTARGZ_TOC, anchor=toc_digest, entries=entries, toc=toc,
                      toc_offset=toc_offset)


def _int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidManifest(f"{what}: a TOC offset is not a number") from None
