"""Hashing during the one verified pass: the blob's BLOCK digests and each regular file's content digest.

`ContentDigests` finds each file's bytes in the decompressed stream as tarfile skips them
(`layers.iter_members(tap=...)`), so no file is read a second time through `extractfile` (three more
copies of every byte, measured at 1.5x the cost of the hashing itself). tarfile reads ahead: when it hands
out a member, the start of that member's content may already have passed the tap, within the last chunk it
read (a header is read in one fill of tarfile's stream buffer), so the last chunk is kept. A member whose
content is not all in reach that way, or a sparse file (whose stored bytes are not its content), is left to
the caller (`start` returns False).

The hashing runs inline, on the streaming thread. A hashing thread fed through a queue was measured slower
on these 2-core machines (`benchmarks` case 4 and the PROFILE notes): its per-chunk queue traffic and GIL
handovers cost more than the sha256 it moves off the thread, which zran's inflate already shares.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["ContentDigests", "Hasher"]


class Hasher:
    """The blob's `block`-sized block digests (`.blocks`) and file contents' digests by slot (`.files`)."""

    def __init__(self, block: int):
        self._block = block
        self.blocks: list[bytes] = []
        self.files: dict[int, str] = {}
        self._h = hashlib.sha256()
        self._in_block = 0
        self._hashers: dict[int, Any] = {}

    def blob(self, data: bytes) -> None:
        """The next bytes of the compressed blob (its block digests)."""
        view = memoryview(data)
        while view:
            take = min(len(view), self._block - self._in_block)
            self._h.update(view[:take])
            self._in_block += take
            if self._in_block == self._block:
                self.blocks.append(self._h.digest())
                self._h, self._in_block = hashlib.sha256(), 0
            view = view[take:]

    def file(self, slot: int, view: bytes | memoryview) -> None:
        """The next bytes of file `slot`'s content."""
        self._hashers.setdefault(slot, hashlib.sha256()).update(view)

    def end(self, slot: int) -> None:
        """File `slot` is complete: its digest goes to `files[slot]`."""
        self.files[slot] = "sha256:" + self._hashers.pop(slot, hashlib.sha256()).hexdigest()

    def close(self) -> None:
        """The blob has ended: its last, partial block is hashed too."""
        if self._in_block:
            self.blocks.append(self._h.digest())
            self._in_block = 0


class ContentDigests:
    """Each regular file's sha256 from the decompressed stream as it passes (see the module docstring)."""

    def __init__(self, hasher: Hasher):
        self._hasher = hasher
        self._last: tuple[bytes, int] = (b"", 0)  # the last chunk that passed, and its offset
        self._window: list | None = None  # [slot, next offset to hash, end, member name]

    def tap(self, data: bytes, offset: int) -> None:
        """`layers.iter_members(tap=...)`: each decompressed chunk as it passes, with its offset."""
        self._last = (data, offset)
        if self._window is not None:
            self._feed(data, offset)

    def start(self, slot: int, info) -> bool:
        """Hash member `info`'s content as it passes (the digest goes to `hasher.files[slot]`); False if it cannot be."""
        start, end = int(info.offset_data), int(info.offset_data) + int(info.size)
        data, offset = self._last
        if self._window is not None or info.issparse() or (start < offset and data):
            return False
        self._window = [slot, start, end, info.name]
        self._feed(data, offset)
        return True

    @property
    def pending(self) -> str | None:
        """The name of the member whose content has not all passed yet (None between members)."""
        return self._window[3] if self._window is not None else None

    def _feed(self, data: bytes, offset: int) -> None:
        w = self._window
        end = offset + len(data)
        if w[1] <= offset and end <= w[2]:  # the whole chunk is content (most of a big file): no slicing
            self._hasher.file(w[0], data)
            w[1] = end
        else:
            lo, hi = max(w[1], offset), min(w[2], end)
            if lo < hi:
                self._hasher.file(w[0], memoryview(data)[lo - offset:hi - offset])
                w[1] = hi
        if w[1] >= w[2]:
            self._hasher.end(w[0])
            self._window = None
