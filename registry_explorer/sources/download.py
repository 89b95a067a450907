"""Downloading blobs to files: verified, atomic, resumable, several at once, two processes never interleaved.

A file appears under its final name only after its digest checked out (`<name>.partial` until
then, the name `fetch_blobs()` and the curl lines of the trace give it). A broken connection
resumes with Range from the bytes on disk, keeping the running hash, as containerd's
httpReadSeeker does; a partial file left by an earlier process is resumed the same way. The copy
itself is `blobcopy.pipelined_copy` (read, hash and write on two threads).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.digest import hasher_for
from ..core.errors import Cancelled, ConnectionFailed, DigestMismatch, FetchFailed, RegistryError
from ..core.models import Descriptor
from ..core.reference import validate_digest
from ..http.retry import RETRY_STATUSES
from .blobcopy import check, pipelined_copy

__all__ = ["PARTIAL_SUFFIX", "RESUME_ATTEMPTS", "RESUME_TOTAL_LIMIT", "fetch_blobs", "fetch_to"]

# Hashing a file already on disk before deciding to skip it: large reads amortise the calls.
CHUNK = 1 << 20
# Downloads in flight are `<name>.partial`: recognisable, never mistaken for a verified blob.
PARTIAL_SUFFIX = ".partial"
# A broken download is resumed until this many attempts in a row made no progress, as
# containerd's httpReadSeeker does (errsWithNoProgress): a flaky link that keeps delivering
# bytes is not given up on just because it broke often.
RESUME_ATTEMPTS = 5
# ...but never more than this many resumes in all, so a server that sends a few bytes per
# connection cannot keep a fetch going forever.
RESUME_TOTAL_LIMIT = 64

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Descriptor, int, int], None]


def fetch_blobs(source, ref, descriptors: Sequence[Descriptor], dest, *, workers: int = 4,
                progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> list[Path]:
    """Download `descriptors` of `source` to `<dest>/<algorithm>-<hex>` (see the module docstring)."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"fetch_blobs destination {dest} exists and is not a directory")
    descs = list(descriptors)
    for d in descs:
        validate_digest(d.digest)  # they become file names
    dest.mkdir(parents=True, exist_ok=True)
    unique = list({d.digest: d for d in descs}.values())  # the same blob twice is fetched once
    n = max(1, min(workers, len(unique) or 1))
    results: dict[str, Path] = {}
    failures: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="rx-fetch") as pool:
        futures = {pool.submit(fetch_to, source, ref, d, dest / d.digest.replace(":", "-", 1), progress, cancel):
                   d.digest for d in unique}
        for fut, digest in futures.items():
            try:
                results[digest] = fut.result()
            except Exception as exc:  # noqa: BLE001 - collected: the others finish, then FetchFailed names each
                failures[digest] = exc
    paths = [results[d.digest] for d in descs if d.digest in results]
    if failures:
        first = next(iter(failures.values()))
        # One blob asked for (or a cancel): its own error says it all; of several, say which failed.
        if len(unique) == 1 or all(isinstance(e, Cancelled) for e in failures.values()):
            raise first
        raise FetchFailed(failures, paths, total=len(unique))
    return paths


def fetch_to(source, ref, desc: Descriptor, final: Path, progress, cancel=None) -> Path:
    """Stream one blob to `final` via `<final>.partial`, renamed only after verification.

    A broken connection resumes with Range from the bytes already on disk (keeping the
    running hash) while attempts keep making progress (see RESUME_ATTEMPTS); a partial file left by an earlier process
    is resumed the same way. Corrupt content and cancellation delete the partial file; a
    download that still fails on the network keeps it, clearly named, for the next call.
    """
    what = f"blob {desc.digest}"
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"fetch of {desc.digest} was cancelled before it started")
    if final.is_file() and _file_matches(final, desc):
        if progress:
            progress(desc, desc.size, desc.size)
        return final
    size = desc.size if desc.size >= 0 else None
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    with _locked(partial) as out:
        hasher = hasher_for(desc.digest)
        offset = _adopt_partial(out, hasher, size)
        adopted = offset > 0  # bytes an earlier, interrupted fetch left behind
        stalled = resumes = 0  # attempts in a row without progress; attempts in all
        while True:
            try:
                if size is None or offset < size:
                    with source.raw_blob(ref, desc, offset=offset) as raw:
                        if raw.start != offset:  # the server ignored Range: start over
                            out.seek(0)
                            out.truncate()
                            hasher, offset = hasher_for(desc.digest), 0
                        pipelined_copy(
                            raw.readinto, out.write, hasher, start=offset, size=size,
                            progress=(lambda done: progress(desc, done, desc.size)) if progress else None,
                            cancel=cancel, what=desc.digest,
                        )
                out.flush()
                if size is not None and out.tell() < size:
                    # http.client reports a connection closed early as a clean EOF.
                    raise ConnectionFailed(f"connection closed after {out.tell()} of {size} bytes of {what}",
                                           kind="stream")
                check(hasher, desc.digest, out.tell(), size, what=what)
                break
            except ConnectionFailed as exc:
                out.flush()
                stalled = 0 if out.tell() > offset else stalled + 1
                offset = out.tell()
                resumes += 1
                if stalled > RESUME_ATTEMPTS or resumes > RESUME_TOTAL_LIMIT \
                            or exc.kind in ("tls-verify", "tls-handshake", "redirect"):
                    if offset:
                        exc.partial = partial  # kept: a later fetch resumes from it
                    else:
                        out.close()
                        partial.unlink(missing_ok=True)  # nothing worth keeping
                    raise
                log.info("resuming %s at byte %d after: %s", desc.digest, offset, exc)
            except RegistryError as exc:
                if exc.status in RETRY_STATUSES:  # still failing after retries, but transient
                    exc.partial = partial
                    raise
                out.close()
                partial.unlink(missing_ok=True)
                raise
            except DigestMismatch:
                if not adopted:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise
                # The leftover partial file was not a prefix of this blob: start over once.
                adopted = False
                out.seek(0)
                out.truncate()
                hasher, offset = hasher_for(desc.digest), 0
            except BaseException:
                out.close()
                partial.unlink(missing_ok=True)
                raise
        out.close()
        os.replace(partial, final)
    return final


@contextlib.contextmanager
def _locked(partial: Path):
    """Open (creating) the partial file with an exclusive lock, so two processes never interleave."""
    fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    f = os.fdopen(fd, "r+b", buffering=0)
    try:
        try:
            _lock_exclusive(f.fileno())
        except BlockingIOError:
            raise Cancelled(f"another process is already downloading {partial.name}; try again later") from None
        yield f
    finally:
        f.close()


def _lock_exclusive(fd: int) -> None:
    """flock(LOCK_EX | LOCK_NB) where fcntl exists (POSIX); on Windows, no cross-process lock."""
    try:
        import fcntl  # POSIX only: imported here so `import registry_explorer` works on Windows
    except ImportError:
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _adopt_partial(out, hasher, size: int | None) -> int:
    """Hash what an earlier attempt left in the partial file; returns where to resume."""
    out.seek(0, os.SEEK_END)
    have = out.tell()
    if have and size is not None and have > size:
        out.truncate(0)
        have = 0
    out.seek(0)
    while chunk := out.read(CHUNK):
        hasher.update(chunk)
    out.seek(have)
    return have


def _file_matches(path: Path, desc: Descriptor) -> bool:
    """True when an existing file already holds exactly the blob (so it need not be fetched again)."""
    if desc.size >= 0 and path.stat().st_size != desc.size:
        return False
    h = hasher_for(desc.digest)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return f"{h.name}:{h.hexdigest()}" == desc.digest
