"""https or http? Decided once per registry, the way go-containerregistry's `ping` does.

Registries speak https. Plain http is tried only for hosts where it is acceptable (gate rule
R4: loopback, or named in `insecure=`), and only after https failed to connect; a real TLS
server whose certificate we do not trust is an error, never a reason to fall back to http.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..core.errors import ConnectionFailed
from .gate import Gate
from .response import Response


class Schemes:
    """Remembers the scheme of each registry API host; probes `/v2/` the first time."""

    def __init__(self, gate: Gate):
        self.gate = gate
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def base_url(self, api_host: str, ping: Callable[[str], Response], on_answer: Callable[[Response], None]) -> str:
        """`scheme://host`; `ping(url)` sends the probe, `on_answer` sees its answer (to learn a challenge)."""
        with self._lock:
            known = self._known.get(api_host)
        if known:
            return f"{known}://{api_host}"
        scheme = "https"
        if self.gate.plain_http_allowed(api_host):
            try:
                resp = ping(f"https://{api_host}/v2/")
                resp.close()
                on_answer(resp)
            except ConnectionFailed as exc:
                if exc.kind == "tls-verify":
                    raise  # a real TLS server we do not trust: falling back to http would hide that
                scheme = "http"
        with self._lock:
            self._known.setdefault(api_host, scheme)
            return f"{self._known[api_host]}://{api_host}"

    def hosts(self) -> list[str]:
        """The registry hosts seen so far."""
        with self._lock:
            return sorted(self._known)
