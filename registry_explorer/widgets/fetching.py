"""Fetching from the Explorer: choose blobs, download them in a background thread, report progress.

The download is `client.fetch_blobs` (verified, atomic, partial files removed on failure or
cancel); this mixin adds the selection, a thread so the kernel stays responsive, throttled
progress traits for the view, and errors as sentences.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from traitlets import Bool, Dict, Int, List, Tuple, Unicode

from ..core.units import human_size
from .labels import plural, plural_word
from .messages import CANCELLED, error_message
from .state_base import StateCore, serialized

# Per-bar progress updates: a browser redrawing more often than ~10 times a second gains
# nothing, and every update is a comm message from the kernel.
PROGRESS_INTERVAL = 0.1
# The HTTP table is a whole HTML table; refresh it at most once a second during a fetch.
TRACE_INTERVAL = 1.0


def default_dest() -> Path:
    """Where fetched blobs go unless the user says otherwise: the user's downloads, not the notebook's folder.

    A notebook's folder is often a git checkout (this project's notebooks/ is): blobs written there
    end up committed. `$XDG_DOWNLOAD_DIR` (the freedesktop user folder) or ~/Downloads, then a
    folder of our own in it.
    """
    base = os.environ.get("XDG_DOWNLOAD_DIR") or str(Path.home() / "Downloads")
    return Path(base).expanduser() / "registry-explorer"


class FetchMixin(StateCore):
    """select(), fetch(), cancel(), wait() and the traits that follow a download."""

    choices = List(help="(label, digest) of every fetchable blob: the layers, then the config.")
    selected = List(Unicode(), help="Digests chosen for fetch(): layers and/or the config.")
    dest = Unicode(help="The folder fetch() writes to (default: default_dest(), never the notebook's folder).")
    fetching = Bool(False, help="True while a fetch runs in the background.")
    progress = Dict(help="digest -> (bytes done, bytes total) of the current fetch.")
    overall = Tuple(Int(), Int(), default_value=(0, 0), help="(bytes done, bytes total) of the whole fetch.")
    fetched = List(Unicode(), help="Full paths of the verified files the last fetch wrote.")
    fetched_from = Unicode("", help="The reference (pinned to its manifest digest) the last fetch read from.")

    def __init__(self, client=None, **kwargs):
        super().__init__(client, **kwargs)
        self._progress_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel: threading.Event | None = None
        self._done: dict[str, tuple[int, int]] = {}  # digest -> (done, total), unthrottled
        self._last: dict[str, float] = {}  # digest -> when its progress was last published
        self._last_overall = self._last_trace = 0.0
        self._total = 0
        self._refusal = ""  # the error fetch_blocks() showed; it goes when the fetch ends
        self._fetch_digest = ""  # the manifest the progress bars belong to
        self.dest = str(default_dest())

    def _blobs(self) -> dict:
        m = self.manifest
        if m is None:
            return {}
        out = {d.digest: d for d in m.layers}
        if m.config is not None:
            out.setdefault(m.config.digest, m.config)
        return out

    @serialized
    def select(self, items) -> list[str]:
        """Choose blobs to fetch: layer indexes (0 = base), 'config', or digests. Returns the digests."""
        if isinstance(items, (str, int)):
            items = [items]
        blobs = self._blobs()
        layers = self.manifest.layers if self.manifest is not None else []
        config = self.manifest.config if self.manifest is not None else None
        out: list[str] = []
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool):
                if not -len(layers) <= item < len(layers):
                    raise ValueError(f"layer index {item} is out of range: the image has {plural(len(layers), 'layer')}")
                digest = layers[item].digest
            elif item == "config" and config is not None:
                digest = config.digest
            elif isinstance(item, str) and item in blobs:
                digest = item
            else:
                raise ValueError(f"{item!r} is not a layer index, 'config' or the digest of a layer or config "
                                 "of the image shown")
            if digest not in out:
                out.append(digest)
        self.selected = out
        return out

    @serialized
    def fetch(self, background: bool = True, *, dest: str | None = None) -> bool:
        """Download the selected blobs into `dest` (default the `dest` trait), verified.

        In the background (a thread) by default so the kernel stays responsive; watch `progress`,
        `overall`, `status` and `fetched`, call cancel() to stop and wait() to block until done.
        """
        if self.fetching:
            return self._say("A fetch is already running; cancel it or wait for it to finish.")
        if self.manifest is None or self.ref is None:
            return self._say("Resolve an image first, then select layers to fetch.")
        blobs = self._blobs()
        descs = [blobs[d] for d in self.selected if d in blobs]
        if not descs:
            return self._say("Select at least one layer (or the config) to fetch.")
        if dest is not None:
            self.dest = str(dest)
        folder = self.destination()
        total = sum(max(d.size, 0) for d in descs)
        event = threading.Event()
        self._cancel = event
        self._last = {}
        self._last_overall = 0.0
        self._last_trace = time.monotonic()
        self._total = total
        self._done = {d.digest: (0, d.size) for d in descs}
        self.fetched = []
        self.fetched_from = str(self.ref.repo().with_digest(self.manifest.digest))
        self._fetch_digest = self.manifest.digest
        self.progress = dict(self._done)
        self.overall = (0, total)
        self.error = ""
        self.status = f"Fetching {plural(len(descs), 'blob')} ({human_size(total)}) into {folder}…"
        self.fetching = True
        self._enter()
        args = (self.ref, descs, folder, event)
        if not background:
            self._run_fetch(*args)
            return not self.error
        self._thread = threading.Thread(target=self._run_fetch, args=args, name="rx-explorer-fetch", daemon=True)
        self._thread.start()
        return True

    def destination(self) -> Path:
        """The absolute folder fetch() will write to: `dest`, relative to the kernel's working directory."""
        return Path(self.dest or ".").expanduser().resolve()

    def destination_note(self) -> str:
        """'Saves into /abs/path' (said before a fetch starts, so an empty field is not a surprise)."""
        where = self.destination()
        if not self.dest.strip():
            return f"Saves into the notebook's folder, {where}"
        return f"Saves into {where}"

    def fetch_blocks(self, doing: str) -> bool:
        """True, with a message, if a fetch is running: `doing` (resolving X, ...) waits until it ends.

        A resolve during a fetch would show the new image next to the old image's progress bars
        and success message. Blocking, and saying so, keeps the screen about one image. The
        sentence goes to the error box only: the status line keeps saying what the fetch does,
        and the box is cleared when the fetch ends (the refusal is then out of date).
        """
        if not self.fetching:
            return False
        message = (f"Not {doing}: a fetch from {self.fetched_from or self.ref} is still running, and "
                   "the two images would mix on screen. Wait for it to finish or press Cancel, then try again.")
        self._refusal = message
        self.error = message
        return True

    def _end_refusal(self) -> None:
        """The fetch ended: a refusal it caused is no longer true."""
        if self._refusal and self.error == self._refusal:
            self.error = ""
        self._refusal = ""

    def forget_fetch_of_other_images(self, digest: str | None) -> None:
        """A new image is shown: the bars of a fetch of another image go (its files stay listed, named)."""
        if self.fetching or digest == self._fetch_digest:
            return
        with self._progress_lock:
            self._done = {}
            self.progress = {}
            self.overall = (0, 0)

    def _run_fetch(self, ref, descs, folder: Path, event: threading.Event) -> None:
        try:
            paths = self.client.fetch_blobs(ref, descs, folder, progress=self._on_progress, cancel=event)
        except Exception as exc:  # noqa: BLE001 - the fetch thread's only way to report is the state's error
            with self._op_lock:  # publish the outcome between operations, not in the middle of one
                self._fetch_failed(exc, ref, event)
        else:
            with self._op_lock:
                self._fetch_done(paths, descs, folder)
        finally:
            with self._op_lock:
                self._end_refusal()
                self.fetching = False
            self._leave()
            self.refresh_trace()

    def _fetch_failed(self, exc: Exception, ref, event: threading.Event) -> None:
        kept = [str(p) for p in getattr(exc, "succeeded", [])]  # verified before the failure
        self.fetched = kept
        if event.is_set():
            # The user asked for it: information in the status line, not a red error.
            self.error = ""
            self.status = CANCELLED
            return
        message = error_message(exc, ref, action="fetching")
        if kept:
            message += (f" The other {plural(len(kept), 'blob')} {plural_word(len(kept), 'was')} "
                        "fetched and verified.")
        self.error = message
        self.status = message

    def _fetch_done(self, paths, descs, folder: Path) -> None:
        with self._progress_lock:  # the final values must not be overtaken by a late progress report
            self._done = {d.digest: (max(d.size, 0), max(d.size, 0)) for d in descs}
            self.progress = dict(self._done)
            self.overall = (self._total, self._total)
        self.fetched = [str(p) for p in paths]
        self.status = f"Fetched and verified {plural(len(paths), 'blob')} ({human_size(self._total)}) into {folder}."

    def _on_progress(self, desc, done: int, total: int) -> None:
        """fetch_blobs' callback (from its worker threads): throttled to PROGRESS_INTERVAL per blob."""
        now = time.monotonic()
        with self._progress_lock:
            size = total if total >= 0 else desc.size
            self._done[desc.digest] = (done, size)
            finished = size >= 0 and done >= size
            if not finished and now - self._last.get(desc.digest, 0.0) < PROGRESS_INTERVAL:
                return
            self._last[desc.digest] = now
            self.progress = dict(self._done)
            all_done = all(t >= 0 and d >= t for d, t in self._done.values())
            if all_done or now - self._last_overall >= PROGRESS_INTERVAL:
                self._last_overall = now
                self.overall = (sum(d for d, _ in self._done.values()), self._total)
            refresh = now - self._last_trace >= TRACE_INTERVAL
            if refresh:
                self._last_trace = now
        if refresh:
            self.refresh_trace()

    def cancel(self) -> bool:
        """Stop the running fetch at its next chunk; partial files are removed."""
        if self._cancel is None or not self.fetching:
            return False
        self._cancel.set()
        self.status = "Cancelling the fetch…"
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background fetch ends (True) or `timeout` seconds pass (False)."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()
