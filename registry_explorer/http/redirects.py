"""Redirects, followed by hand so that each hop is checked.

Registries redirect blob GETs to object storage (S3, GCS, a CDN); that is normal. What is not:
- `Authorization` reaching the storage host. Whether it may go is the gate's decision (R3):
  only the registry's own host:port keeps it (R1). A redirect target is never "the realm" (R2
  is for token requests, which are never redirected), and once a hop has left the registry the
  header is gone for the rest of the chain, even if a later hop comes back.
- a downgrade from https to plain http, which would expose the request to the network;
- a public registry sending us to this machine or its private network (SSRF, gate rule R5);
- a scheme other than http(s), or a malformed `Location` (ProtocolError).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..core.errors import ConnectionFailed
from ..core.redact import redact_url
from .gate import Binding, Gate
from .response import Response
from .values import http_url, netloc

# Ten hops is what Go's net/http allows; more is a loop.
MAX_REDIRECTS = 10
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def follow(send: Callable[[str, str, dict], Response], method: str, url: str, headers: Mapping[str, str], *,
           gate: Gate, binding: Binding) -> Response:
    """Send, then follow `Location` hops; the answer's `.redirected` says whether it left the first URL."""
    current, hdrs = url, dict(headers)
    previous = None  # the trace record of the hop that sent us here
    own = Binding(binding.host)  # the registry's host alone: a redirect target is never its realm
    for _ in range(MAX_REDIRECTS + 1):
        resp = send(method, current, hdrs)
        resp.redirected = current != url
        record = getattr(resp, "exchange", None)
        if record is not None and previous is not None:
            record.redirected_from = previous.seq  # `rx trace --curl`: curl -L on the first hop replays this one
        previous = record
        location = resp.headers.get("Location")
        if resp.status not in REDIRECT_STATUSES or location is None:
            return resp
        resp.close()
        nxt = http_url(location, current, what="redirect Location")
        if current.startswith("https:") and nxt.startswith("http:"):
            raise ConnectionFailed(f"refusing redirect from https to plain http ({netloc(current)} -> "
                                   f"{netloc(nxt)})", url=redact_url(nxt), kind="redirect")
        if "Authorization" in hdrs and gate.refusal(own, nxt):
            # Credentials belong to the registry, not to the storage it redirects to; dropped for good.
            del hdrs["Authorization"]
        # Every hop, not only the first: the registry (not the previous hop) is who must be private.
        why = gate.private_refusal(binding.host, nxt)
        if why:
            raise ConnectionFailed(f"refusing redirect from {why}", url=redact_url(nxt), kind="redirect")
        if resp.status == 303:
            method = "GET"  # RFC 9110 section 15.4.4: see other, with GET
        current = nxt
    raise ConnectionFailed(f"more than {MAX_REDIRECTS} redirects from {netloc(url)}", url=redact_url(url),
                           kind="redirect")
