"""The core of the Explorer's state: the client, busy/status/error plumbing and the HTTP trace.

`ExplorerState` (state.py) is assembled from this core and two mixins, `FetchMixin`
(fetching.py) and `ListingsMixin` (listings.py), so each concern stays a small module. None of
them import ipywidgets: tests and notebook code drive the state without a kernel.
"""

from __future__ import annotations

import contextlib
import functools
import threading

from traitlets import Any as AnyTrait
from traitlets import Bool, HasTraits, Unicode

from .. import frames
from ..sources.remote import Client
from .messages import error_message
from .runnable import exchange_script

READY = "Enter an image reference such as alpine:3.20 and press Resolve."


def serialized(method):
    """Run `method` holding the state's operation lock: one operation at a time, from any thread.

    Widget callbacks do not all arrive on one thread: with kernel subshells (ipykernel 7 and
    JupyterLab 4.4+) some comms are handled on a subshell thread while others, and notebook
    cells, run on the main thread; the fetch thread reports back too. Without this, a Fetch
    click could run in the middle of a resolve and see half-cleared state.
    """

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._op_lock:
            return method(self, *args, **kwargs)

    return locked


class StateCore(HasTraits):
    """The client, the image being shown, and the status/busy/error/trace every operation reports to."""
    reference = Unicode("", help="The reference as entered; resolve() works on it.")
    ref = AnyTrait(None, help="The parsed, normalised Reference of the last resolve.")
    status = Unicode(READY, help="One sentence: what is happening or just happened.")
    busy = Bool(False, help="True while a request or a fetch is running.")
    error = Unicode("", help="One clear sentence about the last failure, or ''.")
    descriptor = AnyTrait(None, help="The Descriptor the reference resolved to.")
    manifest = AnyTrait(None, help="The image Manifest shown (the chosen platform's, for an index).")
    trace = AnyTrait(None, help="frames.trace(client): the HTTP exchanges of this Explorer's client.")

    def __init__(self, client=None, **kwargs):
        super().__init__(**kwargs)
        if client is None:
            client = Client()
        self.client = client
        self._ops = 0
        self._op_lock = threading.RLock()  # see `serialized`; reentrant because operations nest
        # Reentrant: `busy` is set under the lock, and its observers may start another operation.
        self._ops_lock = threading.RLock()
        self.refresh_trace()

    def _parse(self, text):
        """`text` in the source's own reference syntax (a registry reference, or oci:PATH:TAG)."""
        return self.client.parse(text)

    @contextlib.contextmanager
    def _operation(self, status: str):
        """Mark busy (nesting allowed), clear the error, announce `status`; refresh the trace after."""
        self._enter()
        self.error = ""
        self.status = status
        try:
            yield
        finally:
            self._leave()
            self.refresh_trace()

    def _enter(self) -> None:
        with self._ops_lock:
            self._ops += 1
            self.busy = True

    def _leave(self) -> None:
        with self._ops_lock:
            self._ops -= 1
            self.busy = self._ops > 0

    def _fail(self, exc: BaseException, action: str) -> bool:
        message = error_message(exc, self.ref, action=action)
        self.error = message
        self.status = message
        return False

    def _say(self, message: str) -> bool:
        """A usage problem (nothing resolved yet, nothing selected): an error sentence, no exception."""
        self.error = message
        self.status = message
        return False

    # -- HTTP trace ------------------------------------------------------------------------------

    def refresh_trace(self) -> None:
        """Re-read the source's trace into the `trace` frame (a layout's holds only its cache hits)."""
        self.trace = frames.trace(self.client.trace)

    def curl(self, seq: int) -> str:
        """Lines that replay exchange `seq` in bash (the token request it needs first; secrets as
        $TOKEN, $USERNAME, $PASSWORD, named on a `# expects` line), or ''."""
        return exchange_script(self.client.trace, seq)
