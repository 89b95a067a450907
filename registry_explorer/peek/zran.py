"""indexed_gzip's exported index taken apart, so that a read imports only the seek points it needs.

`indexed_gzip` (zran) exports its index as GZIDX version 1 (indexed_gzip's zran.c,
`zran_export_index`): a 35-byte header (magic `GZIDX`, version, flags, compressed and uncompressed
size, spacing, window size, number of points), one 18-byte record per seek point (compressed offset,
uncompressed offset, bit offset, whether a window follows), then the 32 KiB window of every point
that has one, in point order. A big layer's export is large (a 256 MiB layer: 530 points, 17 MB),
and importing all of it for every read costs more than the read itself. A read needs only the point
it starts from: `mini_index` writes a valid export holding the stream's first point, that point and
the next (zran refuses to seek past the last point it knows), so each read imports at most 64 KiB.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..core.errors import InvalidManifest

__all__ = ["ZranTable", "mini_index", "split_export"]

_HEADER = struct.Struct("<5sBBQQIII")  # magic, version, flags, compressed, uncompressed, spacing, window, npoints
_POINT = struct.Struct("<QQBB")  # compressed offset, uncompressed offset, bits, has a window
_MAGIC, _VERSION = b"GZIDX", 1


@dataclass(frozen=True)
class ZranTable:
    """The export without its windows: sizes, spacing, window size and the points (c_off, u_off, bits, has_window)."""

    compressed: int
    uncompressed: int
    spacing: int
    window: int
    points: tuple[tuple[int, int, int, int], ...]

    def to_json(self) -> list:
        """A JSON-able form (stored with the index)."""
        return [self.compressed, self.uncompressed, self.spacing, self.window, [list(p) for p in self.points]]

    @classmethod
    def from_json(cls, doc) -> ZranTable:
        """The inverse of `to_json`."""
        c, u, s, w, pts = doc
        return cls(int(c), int(u), int(s), int(w), tuple((int(a), int(b), int(x), int(h)) for a, b, x, h in pts))

    def point_at(self, offset: int) -> int:
        """The number of the last point at or before uncompressed `offset` (0 when none is)."""
        return max(0, bisect.bisect_right([p[1] for p in self.points], offset) - 1)


def split_export(data: bytes, what: str) -> tuple[ZranTable, list[bytes | None]]:
    """(table, each point's window or None) of a GZIDX v1 export."""
    try:
        magic, version, _flags, comp, uncomp, spacing, window, n = _HEADER.unpack_from(data, 0)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError("not a GZIDX v1 export")
        at = _HEADER.size
        points = tuple(_POINT.unpack_from(data, at + i * _POINT.size) for i in range(n))
        at += n * _POINT.size
        windows: list[bytes | None] = []
        for p in points:
            windows.append(data[at:at + window] if p[3] else None)
            at += window if p[3] else 0
        if at != len(data) or any(w is not None and len(w) != window for w in windows):
            raise ValueError("its windows do not add up")
    except (struct.error, ValueError) as exc:
        raise InvalidManifest(f"{what}: the gzip seek points cannot be read ({exc})") from None
    return ZranTable(comp, uncomp, spacing, window, points), windows


def mini_index(table: ZranTable, window_of: Callable[[int], bytes], offset: int, end: int | None = None) -> bytes:
    """A GZIDX v1 export of the points a read of uncompressed [offset, end) needs (`window_of(k)` gives point k's).

    zran reads on from the point before `offset` but refuses to pass the last point it knows, so the
    points up to the one after `end` come too (a 5 MiB file at 1 MiB spacing: 7 windows, 224 KiB).
    """
    k = table.point_at(offset)
    last = min(table.point_at(max(offset, end if end is not None else offset)) + 1, len(table.points) - 1)
    chosen = sorted({0, *range(k, last + 1)})
    head = _HEADER.pack(_MAGIC, _VERSION, 0, table.compressed, table.uncompressed, table.spacing, table.window,
                        len(chosen))
    records = b"".join(_POINT.pack(*table.points[i]) for i in chosen)
    return head + records + b"".join(window_of(i) for i in chosen if table.points[i][3])
