"""Copy a blob from a socket to a file at wire speed, hashing on a second thread.

Reading, hashing and writing in one loop adds their costs up; here the reader fills a small
ring of reused buffers (`readinto`, no copies) while a worker thread hashes and writes them.
hashlib, file writes and socket reads all release the GIL for large buffers, so on two cores
the slowest stage sets the pace instead of the sum of all three.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from .digest import hasher_for
from .errors import Cancelled, DigestMismatch, SizeMismatch

# Large reads amortise per-call overhead; 1 MiB matches the sweet spot measured for requests.
PIPE_CHUNK = 1 << 20
# Buffers in flight: memory is bounded at PIPE_DEPTH * PIPE_CHUNK whatever the blob size.
PIPE_DEPTH = 4
# Progress callbacks run on the reader thread, once per filled buffer: cheap, and often enough
# for a progress bar (views throttle their own redraws).
PROGRESS_EVERY = PIPE_CHUNK


def pipelined_copy(
    readinto: Callable[[memoryview], int],
    write: Callable[[memoryview], object],
    digest: str,
    size: int | None,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    what: str = "blob",
) -> int:
    """Read everything via `readinto`, write it via `write`, verify size and digest; return the byte count."""
    h = hasher_for(digest)
    free: queue.Queue = queue.Queue()
    full: queue.Queue = queue.Queue()
    for _ in range(PIPE_DEPTH):
        free.put(bytearray(PIPE_CHUNK))
    failure: list[BaseException] = []

    def worker() -> None:
        while True:
            item = full.get()
            if item is None:
                return
            buf, n = item
            if not failure:
                try:
                    view = memoryview(buf)[:n]
                    h.update(view)
                    write(view)
                except BaseException as exc:  # surfaced on the reader thread
                    failure.append(exc)
            free.put(buf)

    t = threading.Thread(target=worker, name="rx-hash", daemon=True)
    t.start()
    total = 0
    since = 0
    try:
        while not failure:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"fetch of {digest} was cancelled; its partial file was removed")
            buf = free.get()
            view = memoryview(buf)
            n = 0
            # Fill the whole buffer (sockets return short reads) so the worker gets big chunks.
            while n < PIPE_CHUNK:
                got = readinto(view[n:])
                if not got:
                    break
                n += got
            if n:
                total += n
                if size is not None and total > size:
                    raise SizeMismatch(size, total, what=what)
                full.put((buf, n))
                since += n
                if progress and since >= PROGRESS_EVERY:
                    progress(total)
                    since = 0
            else:
                free.put(buf)
            if n < PIPE_CHUNK:
                break
    finally:
        full.put(None)
        t.join()
    if failure:
        raise failure[0]
    if progress:
        progress(total)
    if size is not None and total != size:
        raise SizeMismatch(size, total, what=what)
    actual = f"{h.name}:{h.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(digest, actual, what=what)
    return total
