"""Retries: send an idempotent request again after a transient failure, with backoff.

Only GET, HEAD and token requests are retried, on connection errors and on the statuses of
`RetryPolicy.statuses` (408, 429, 5xx), as containerd, regclient and go-containerregistry do.
A `Retry-After` header (RFC 9110 section 10.2.3) sets the wait; the policy caps it. TLS
failures are not retried: a certificate will not fix itself by waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import ConnectionFailed
from ..retry import RetryPolicy
from .response import Response

log = logging.getLogger(__name__)
_PERMANENT = ("tls-verify", "tls-handshake")


def send_with_retries(send_once: Callable[[int], Response], policy: RetryPolicy, sleep: Callable[[float], None],
                      *, idempotent: bool) -> Response:
    """Call `send_once(attempt)` until it gives a non-transient answer or the policy's retries run out."""
    attempts = 1 + (policy.retries if idempotent else 0)
    for attempt in range(attempts):
        last = attempt + 1 >= attempts
        try:
            resp = send_once(attempt)
        except ConnectionFailed as exc:
            if last or exc.kind in _PERMANENT:
                raise
            _wait(getattr(exc, "exchange", None), policy.delay(attempt), sleep)
            continue
        if resp.status in policy.statuses and not last:
            wait = policy.delay(attempt, resp.headers.get("Retry-After"))
            resp.close()
            _wait(resp.exchange, wait, sleep)
            continue
        return resp
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _wait(exchange, seconds: float, sleep: Callable[[float], None]) -> None:
    # The trace shows the wait on the exchange that caused it, for the student reading it.
    if exchange is not None:
        exchange.retry_wait_ms = round(seconds * 1000, 1)
    log.debug("retrying in %.2fs", seconds)
    sleep(seconds)
