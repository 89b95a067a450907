"""Building a `LayerIndex` in the ONE verified streaming pass that lists the layer.

The blob streams once through `open_blob` (its reader hashes every byte and raises at the end
if the layer digest does not match). On the way, a tee:

* writes the compressed bytes to a temporary file and records the sha256 of every
  `BLOCK`-sized block of them (a ranged read later checks each fetched block against these,
  so zran never inflates a byte that was not vouched for by the verified stream);
* lets `indexed_gzip` (zran, with its 32 KiB windows) follow the growing file in a thread,
  building seek points every `span` bytes of output while this thread inflates and walks the
  tar (two cores: zran's inflate runs with the GIL released, `indexed_gzip` seek docs);
* for zstd, the frames are found afterwards on the local copy (zstd inflates several times
  faster than gzip), each frame's output bounded by `MAX_ZSTD_FRAME_BYTES`.

Nothing is returned unless the whole blob was read and its digest verified; the caller commits
the index to the cache only then.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import tempfile
import threading
from pathlib import Path

import zstandard

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, TooLarge
from ..core.extras import require
from ..core.models import Descriptor
from ..layers.compress import GZIP_MAGIC, IN_CHUNK, ZSTD_MAGIC, ZSTD_MAX_WINDOW, _invalid, _Prefixed, _read_exact
from ..layers.tar import MAX_DECOMPRESSED_BYTES, entry_from_tarinfo, iter_members
from .index import BLOCK, DEFAULT_SPAN, IndexEntry, LayerIndex, SizedRawIO
from .trust import VERIFIED_INDEX

__all__ = ["MAX_ZSTD_FRAME_BYTES", "ZSTD_FEED", "build_index", "local_copy"]

# A zstd frame may claim any output size (RLE blocks inflate ~32768:1): frames are decompressed
# ZSTD_FEED compressed bytes at a time (so one call makes at most ~32 MiB), and a frame making
# more than MAX_ZSTD_FRAME_BYTES is refused with TooLarge (the whole-layer bound of layerfs).
ZSTD_FEED = 1 << 10
MAX_ZSTD_FRAME_BYTES = MAX_DECOMPRESSED_BYTES
_ZRAN_READBUF = 1 << 20
_EMPTY_SHA256 = "sha256:" + hashlib.sha256(b"").hexdigest()
_GZIP_MT = "application/vnd.oci.image.layer.v1.tar+gzip"
_TAR_MT = "application/vnd.oci.image.layer.v1.tar"


class _Aborted(OSError):
    """The streaming pass failed: the zran thread stops reading."""


class _Tee:
    """Reads `raw`, appends every byte to `path`, hashes BLOCK-sized blocks, and wakes followers."""
    def __init__(self, raw, path: Path):
        self._raw = raw
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.written = 0
        self.blocks: list[bytes] = []
        self._h = hashlib.sha256()
        self._in_block = 0
        self.cond = threading.Condition()
        self.done = False
        self.failed = False

    def read(self, n: int = -1) -> bytes:
        """Read from the blob; what is read is also written, hashed and announced."""
        data = self._raw.read(IN_CHUNK if n is None or n < 0 else n)
        if data:
            view = memoryview(data)
            done = 0
            while done < len(data):  # os.write may write less than asked
                done += os.write(self._fd, view[done:])
            while view:
                take = min(len(view), BLOCK - self._in_block)
                self._h.update(view[:take])
                self._in_block += take
                if self._in_block == BLOCK:
                    self.blocks.append(self._h.digest())
                    self._h, self._in_block = hashlib.sha256(), 0
                view = view[take:]
            with self.cond:
                self.written += len(data)
                self.cond.notify_all()
        return data

    def drain(self) -> None:
        """Read the blob to its end (its reader checks the digest there)."""
        while self.read(IN_CHUNK):
            pass
        if self._in_block:
            self.blocks.append(self._h.digest())
            self._in_block = 0

    def finish(self, ok: bool) -> None:
        """Close the copy; followers see the end (or an abort)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with self.cond:
            self.done, self.failed = True, not ok
            self.cond.notify_all()


class _Follow(SizedRawIO):
    """The tee's file as zran sees it: reads block until the bytes exist; SEEK_END is the descriptor size."""
    def __init__(self, tee: _Tee, path: Path, size: int):
        super().__init__()
        self._tee, self._size, self._pos = tee, size, 0
        self._fd = os.open(path, os.O_RDONLY)

    def readinto(self, b) -> int:
        """Wait for the bytes at the position, then read them."""
        want = min(len(b), max(0, self._size - self._pos))
        tee = self._tee
        with tee.cond:
            while not tee.failed and not tee.done and tee.written < self._pos + want:
                tee.cond.wait()
            if tee.failed:
                raise _Aborted("the streaming pass failed")
            avail = max(0, min(want, tee.written - self._pos))
        data = os.pread(self._fd, avail, self._pos) if avail else b""
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        """Close the descriptor."""
        with contextlib.suppress(OSError):
            os.close(self._fd)
        super().close()


class _Points(threading.Thread):
    """indexed_gzip following the tee: seek points every `span` bytes of output, exported."""
    def __init__(self, follow: _Follow, span: int):
        super().__init__(name="rx-peek-zran", daemon=True)
        self._follow, self._span = follow, span
        self.points: list[tuple[int, int]] = []
        self.zran = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        """Build the whole index (seek past the end: zran inflates with the GIL released)."""
        import indexed_gzip as igz  # import time: indexed_gzip loads numpy (70 ms), only gzip layers need it

        try:
            g = igz._IndexedGzipFile(fileobj=self._follow, spacing=self._span, readbuf_size=_ZRAN_READBUF,
                                     skip_crc_check=True)
            try:
                g.seek(1 << 62)
                self.points = [(int(u), int(c)) for u, c in g.seek_points()]
                out = io.BytesIO()
                g.export_index(fileobj=out)
                self.zran = out.getvalue()
            finally:
                g.close()
        except BaseException as exc:  # noqa: BLE001 - reported to the streaming thread, which raises ours
            self.error = exc
        finally:
            self._follow.close()


def _walk(stream, media_type: str, what: str, **limits) -> list[IndexEntry]:
    """Tar entries of a (decompressed by `media_type`) stream with their data offsets and content digests.

    Each regular file's content is hashed on the way (it streams past anyway), so the index can say
    what a file holds without reading it again: `rx.diff` compares images by these digests.
    """
    out = []
    for tar, info in iter_members(stream, media_type, what=what, **limits):
        digest = ""
        if info.isreg() and info.size:
            h = hashlib.sha256()
            src = tar.extractfile(info)
            try:
                while chunk := src.read(IN_CHUNK):
                    h.update(chunk)
            except tarfile.ReadError as exc:  # the stream ends inside this member's data
                raise _invalid(what, f"the tar stream is truncated inside {info.name[:200]!r} ({exc})") from None
            digest = "sha256:" + h.hexdigest()
        elif info.isreg():
            digest = _EMPTY_SHA256
        out.append(IndexEntry(entry_from_tarinfo(info), int(info.offset_data), digest))
    return out


def _sniff(raw, media_type: str) -> tuple[str, object]:
    kind = mt.compression(media_type)
    if kind != "unknown":
        return kind, raw
    head = _read_exact(raw, len(ZSTD_MAGIC))
    kind = "gzip" if head.startswith(GZIP_MAGIC) else "zstd" if head.startswith(ZSTD_MAGIC) else "none"
    return kind, _Prefixed(head, raw)


def _walk_verified(tee: _Tee, stream, media_type: str, what: str, **limits) -> list[IndexEntry]:
    """Walk, then read the blob to its end; a damaged stream reports the digest mismatch, not the parse."""
    try:
        entries = _walk(stream, media_type, what, **limits)
    except (InvalidManifest, TooLarge):
        with contextlib.suppress(OSError, InvalidManifest):
            tee.drain()  # DigestMismatch / SizeMismatch propagate and replace the parse error
        raise
    tee.drain()
    return entries


def build_index(source, ref, desc: Descriptor, *, span: int = DEFAULT_SPAN, keep: Path | None = None,
                **limits) -> LayerIndex:
    """Stream `desc` once, verified, and index it (gzip: seek points; zstd: frames; tar: offsets; else stream-only).

    With `keep` (a directory), the verified compressed copy is left there as `local_copy(keep, desc)`,
    so the read that caused this pass takes its bytes from it instead of asking the registry again.
    """
    what = f"layer {desc.digest}"
    common = dict(layer_digest=desc.digest, layer_size=desc.size, media_type=desc.media_type,
                  chain=VERIFIED_INDEX, span=span)
    with contextlib.ExitStack() as stack:
        tmp = Path(keep) if keep is not None else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rx-peek-")))
        path = local_copy(tmp, desc)
        path.unlink(missing_ok=True)
        try:
            index = _build(source, ref, desc, path, what, common, span, limits)
        except BaseException:
            path.unlink(missing_ok=True)  # never leave an unverified copy behind
            raise
        return index


def local_copy(directory: Path, desc: Descriptor) -> Path:
    """Where `build_index(..., keep=directory)` leaves the verified copy of `desc`."""
    return Path(directory) / desc.digest.replace(":", "-", 1)


def _build(source, ref, desc: Descriptor, path: Path, what: str, common: dict, span: int, limits) -> LayerIndex:
    with source.open_blob(ref, desc) as blob:
        tee = _Tee(blob, path)
        kind, head = _sniff(tee, desc.media_type)
        if kind == "gzip":
            require("indexed_gzip", "peek", "gzip seek points for open_file/read_file")
            points = _Points(_Follow(tee, path, desc.size), span)
            points.start()
            ok = False
            try:
                entries = _walk_verified(tee, head, _GZIP_MT, what, **limits)
                ok = True
            finally:
                tee.finish(ok)
                points.join()
            if points.error is not None:
                raise _invalid(what, f"gzip seek points could not be built ({points.error})")
            return LayerIndex(kind="gzip-checkpoints", entries=entries, seek_points=points.points,
                              zran=points.zran, blocks=tee.blocks, **common)
        try:
            entries = _walk_verified(tee, head, desc.media_type if kind != "none" else _TAR_MT, what, **limits)
        finally:
            tee.finish(True)
        if kind == "none":  # uncompressed: tar offsets are blob offsets, checked by the block digests
            return LayerIndex(kind="tar", entries=entries, blocks=tee.blocks, **common)
        if kind != "zstd":
            return LayerIndex(kind="stream-only", entries=entries, **common)
        with open(path, "rb") as raw:
            frames = _zstd_frames(raw, what)
    # One frame gives no random access: say so rather than pretend (issue 12, zstd).
    if len(frames) < 2:
        return LayerIndex(kind="stream-only", entries=entries, **common)
    return LayerIndex(kind="zstd-frames", entries=entries, frames=frames, blocks=tee.blocks, **common)


def _zstd_frames(raw, what: str, max_frame_bytes: int = MAX_ZSTD_FRAME_BYTES) -> list[tuple[int, int, int]]:
    """(compressed offset, compressed length, uncompressed offset) of every zstd frame of a verified copy."""
    frames: list[tuple[int, int, int]] = []
    c_off = u_off = 0
    buf, pos = b"", 0  # compressed bytes read and not yet fed
    d = None
    start = produced = 0
    while True:
        if pos >= len(buf):
            buf, pos = raw.read(IN_CHUNK), 0
            if not buf:
                break
        if d is None:
            d = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
            start, produced = c_off, 0
        feed = buf[pos:pos + ZSTD_FEED]
        try:
            produced += len(d.decompress(feed))
        except zstandard.ZstdError as exc:
            raise _invalid(what, f"the zstd stream is corrupt ({exc})") from None
        if produced > max_frame_bytes:
            raise TooLarge(f"zstd frame at byte {start} of {what}", max_frame_bytes, None,
                           hint=" (MAX_ZSTD_FRAME_BYTES; a zstd bomb?)")
        used = len(feed) - len(d.unused_data) if d.eof else len(feed)
        pos += used
        c_off += used
        if d.eof:
            frames.append((start, c_off - start, u_off))
            u_off += produced
            d = None
    if d is not None:
        raise _invalid(what, "the zstd stream is truncated")
    return frames
