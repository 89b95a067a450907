"""Decompressing layer blobs as streams: gzip (RFC 1952) and zstd, chosen by media type or sniffed.

Every reader returns at most `n` bytes per read(), so a decompression bomb never inflates
more than the caller asked for at once; corrupt or truncated streams raise `InvalidManifest`
naming the layer. Part of `layerfs` (which re-exports these names).
"""

from __future__ import annotations

import zlib
from typing import Any

import zstandard

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest

# Compressed bytes pulled from the network per read.
IN_CHUNK = 256 << 10
# Compressed bytes handed to zlib per call: small enough that the output rarely exceeds one
# read, because zlib returns the unconsumed rest of its input as a fresh copy every call.
GZIP_FEED = 16 << 10
# libzstd's default window limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27), as the zstd CLI uses without
# --memory; frames asking for more (`zstd --long=31`) would make us allocate up to 2 GiB.
ZSTD_MAX_WINDOW = 1 << 27

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _invalid(what: str, message: str) -> InvalidManifest:
    return InvalidManifest(f"{what}: {message}")



class _Prefixed:
    """A stream with some already-read bytes put back in front (for sniffing magic numbers)."""
    def __init__(self, head: bytes, raw):
        self._head = head
        self._raw = raw

    def read(self, n: int) -> bytes:
        """Read up to `n` bytes, the put-back head first."""
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read(n)


class _GzipReader:
    """Incremental gzip decoder (RFC 1952, concatenated members allowed); each read() is bounded.

    zlib with `max_length` caps the output per call, so a bomb never inflates more than `n`
    bytes at once. Unlike gzip.GzipFile, truncation and trailing garbage raise our error.
    https://www.rfc-editor.org/rfc/rfc1952 and https://docs.python.org/3/library/zlib.html#zlib.Decompress.decompress
    """

    def __init__(self, raw, what: str):
        self._raw = raw
        self._what = what
        self._d: Any = None  # the current member's decompressor; None between members
        self._buf = b""  # compressed bytes read from `raw`
        self._pos = 0  # how much of _buf zlib has consumed
        self._raw_eof = False
        self._members = 0
        self._eof = False

    def read(self, n: int) -> bytes:
        """Inflate and return up to `n` bytes of the gzip stream."""
        while not self._eof:
            if self._pos >= len(self._buf) and not self._raw_eof:
                self._buf, self._pos = self._raw.read(IN_CHUNK), 0
                self._raw_eof = not self._buf
            if self._d is None:
                # Between members. gzip(1) and Python's gzip accept zero padding after a member.
                rest = self._buf[self._pos:]
                self._pos += len(rest) - len(rest.lstrip(b"\0"))
                if self._pos >= len(self._buf):
                    if not self._raw_eof:
                        continue
                    if not self._members:
                        raise _invalid(self._what, "the gzip stream is empty")
                    self._eof = True
                    break
                self._d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper only
            # Slicing a memoryview copies nothing; zlib copies back only what it did not consume.
            feed = memoryview(self._buf)[self._pos:self._pos + GZIP_FEED]
            try:
                out = self._d.decompress(feed, n)
            except zlib.error as exc:
                what = "data after the gzip stream is not gzip" if self._members else "the gzip stream is corrupt"
                raise _invalid(self._what, f"{what} ({exc})") from None
            if self._d.eof:
                self._pos += len(feed) - len(self._d.unused_data)
                self._d = None
                self._members += 1
            else:
                self._pos += len(feed) - len(self._d.unconsumed_tail)
                if not out and not feed and self._raw_eof:
                    raise _invalid(self._what, "the gzip stream is truncated")
            if out:
                return out
        return b""


class ZstdFrameWalk:
    """Follows the frame structure of a zstd stream as its bytes pass (RFC 8878 section 3), without decoding.

    python-zstandard's stream_reader ends quietly at a truncated frame, and a tar stream no longer
    needs its end-of-archive marker (layers.tar), so the frames themselves must say where the
    stream may end: `at_boundary` is True only between frames. Skippable frames (zstd:chunked's
    TOC and footer) are walked over like the others.
    """

    def __init__(self):
        self._state, self._need, self._buf = "magic", 4, b""
        self._checksum = 0

    @property
    def at_boundary(self) -> bool:
        """True when the bytes seen so far end between two frames."""
        return self._state == "magic" and not self._buf

    def feed(self, data) -> None:
        """Walk over `data`, the next bytes of the stream."""
        view, i = memoryview(data), 0
        while i < len(view):
            if self._state == "skip":
                take = min(self._need, len(view) - i)
                i += take
                self._need -= take
                if not self._need:
                    self._state, self._need = self._after_skip, self._after_need
                continue
            take = min(self._need - len(self._buf), len(view) - i)
            self._buf += bytes(view[i:i + take])
            i += take
            if len(self._buf) == self._need:
                head, self._buf = self._buf, b""
                self._step(head)

    def _skip(self, n: int, then: str, need: int) -> None:
        self._state, self._need, self._after_skip, self._after_need = ("skip", n, then, need) if n else (then, need, "", 0)

    def _step(self, head: bytes) -> None:
        if self._state == "magic":
            magic = int.from_bytes(head, "little")
            if magic == 0xFD2FB528:
                self._state, self._need = "descriptor", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame: 4-byte size, then that many bytes
                self._state, self._need = "skippable", 4
            else:
                raise ValueError("not a zstd frame")
        elif self._state == "skippable":
            self._skip(int.from_bytes(head, "little"), "magic", 4)
        elif self._state == "descriptor":
            fhd = head[0]
            single = fhd >> 5 & 1
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            rest = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self._checksum = 4 if fhd & 4 else 0
            self._skip(rest, "block", 3)
        elif self._state == "block":
            bh = int.from_bytes(head, "little")
            last, kind, size = bh & 1, bh >> 1 & 3, bh >> 3
            body = 1 if kind == 1 else size
            after = ("checksum", self._checksum) if last and self._checksum else ("magic", 4) if last else ("block", 3)
            self._skip(body, *after)
        elif self._state == "checksum":
            self._state, self._need = "magic", 4


class _Walked:
    """`raw`, with every byte read also fed to a ZstdFrameWalk."""

    def __init__(self, raw, walk: ZstdFrameWalk):
        self._raw, self._walk = raw, walk

    def read(self, n: int = -1) -> bytes:
        """Read from the stream, walking its frames."""
        data = self._raw.read(n)
        try:
            self._walk.feed(data)
        except ValueError:
            pass  # libzstd reports the damage itself, with its own words
        return data


def _zstd_reader(raw, what: str):
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    walk = ZstdFrameWalk()
    reader = dctx.stream_reader(_Walked(raw, walk), read_size=IN_CHUNK, read_across_frames=True, closefd=False)

    class _Zstd:
        def read(self, n: int) -> bytes:
            """Read up to `n` decompressed bytes, reporting a corrupt or truncated stream as our error."""
            try:
                data = reader.read(n)
            except zstandard.ZstdError as exc:
                raise _invalid(what, f"the zstd stream is corrupt ({exc})") from None
            if not data and n and not walk.at_boundary:
                raise _invalid(what, "the zstd stream is truncated (it ends inside a frame)")
            return data

    return _Zstd()


def _read_exact(raw, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = raw.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def decompressed(raw, media_type: str | None, what: str = "layer"):
    """A reader of the tar inside `raw`, chosen by the media type's compression (sniffed if unknown)."""
    kind = mt.compression(media_type)
    if kind == "unknown":
        head = _read_exact(raw, len(ZSTD_MAGIC))
        kind = "gzip" if head.startswith(GZIP_MAGIC) else "zstd" if head.startswith(ZSTD_MAGIC) else "none"
        raw = _Prefixed(head, raw)
    if kind == "gzip":
        return _GzipReader(raw, what)
    if kind == "zstd":
        return _zstd_reader(raw, what)
    return raw
