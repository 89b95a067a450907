"""Copy a blob from a socket to a file at wire speed, hashing on a second thread.

Reading, hashing and writing in one loop adds their costs up; here the reader fills a small
ring of reused buffers (`readinto`, no copies) while a worker thread hashes and writes them.
hashlib, file writes and socket reads all release the GIL for large buffers, so on two cores
the slowest stage sets the pace instead of the sum of all three.

The hash object is passed in and kept by the caller, so a download that breaks can resume
with `Range` and the final digest check still covers every byte.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from ..core.errors import Cancelled, DigestMismatch, SizeMismatch

# Large reads amortise per-call overhead; 1 MiB matches the sweet spot measured for requests.
PIPE_CHUNK = 1 << 20
# Buffers in flight: memory is bounded at PIPE_DEPTH * PIPE_CHUNK whatever the blob size.
PIPE_DEPTH = 4


def pipelined_copy(
    readinto: Callable[[memoryview], int],
    write: Callable[[memoryview], object],
    hasher,
    *,
    start: int = 0,
    size: int | None = None,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    what: str = "blob",
) -> int:
    """Copy until EOF, feeding `hasher`; returns the running total (`start` + bytes copied).

    Every byte handed to `write` has been hashed, and both finish before this returns or
    raises, so after a connection error the file holds exactly the bytes counted.
    """
    free: queue.Queue = queue.Queue()
    full: queue.Queue = queue.Queue()
    for _ in range(PIPE_DEPTH):
        free.put(bytearray(PIPE_CHUNK))
    failure: list[BaseException] = []
    written = [start]

    def worker() -> None:
        while True:
            item = full.get()
            if item is None:
                return
            buf, n = item
            if not failure:
                try:
                    view = memoryview(buf)[:n]
                    hasher.update(view)
                    write(view)
                    written[0] += n
                except BaseException as exc:  # noqa: BLE001 - surfaced on the reader thread
                    failure.append(exc)
            free.put(buf)

    t = threading.Thread(target=worker, name="rx-hash", daemon=True)
    t.start()
    total = start
    try:
        while not failure:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"fetch of {what} was cancelled; its partial file was removed")
            buf = free.get()
            view = memoryview(buf)
            n = 0
            # Fill the whole buffer (sockets return short reads) so the worker gets big chunks.
            try:
                while n < PIPE_CHUNK:
                    got = readinto(view[n:])
                    if not got:
                        break
                    n += got
            finally:
                if n:  # bytes already received are kept even if the connection then broke
                    total += n
                    full.put((buf, n))
                else:
                    free.put(buf)
            if size is not None and total > size:
                raise SizeMismatch(size, total, what=what)
            if progress and n:
                progress(total)
            if n < PIPE_CHUNK:
                break
    finally:
        full.put(None)
        t.join()
    if failure:
        raise failure[0]
    return written[0]


def check(hasher, digest: str, total: int, size: int | None, *, what: str) -> None:
    """Raise SizeMismatch/DigestMismatch unless the copied bytes are exactly the blob."""
    if size is not None and total != size:
        raise SizeMismatch(size, total, what=what)
    actual = f"{hasher.name}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(digest, actual, what=what)
