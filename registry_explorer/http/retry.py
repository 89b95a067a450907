"""Retries: when, how long, and the loop that sends an idempotent request again after a transient failure.

Only GET, HEAD and token requests are retried, on connection errors and on the statuses of
`RetryPolicy.statuses` (408, 429, 500, 502, 503, 504), as containerd, regclient and
go-containerregistry do. The wait is exponential backoff with full jitter
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/); a `Retry-After`
header (RFC 9110 section 10.2.3) sets it instead, capped by the policy. TLS failures are not
retried: a certificate will not fix itself by waiting.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..core.errors import ConnectionFailed
from .response import Response

log = logging.getLogger(__name__)
_PERMANENT = ("tls-verify", "tls-handshake")

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry, the first backoff step and the longest single wait (seconds)."""

    retries: int = 3
    backoff: float = 0.25
    max_wait: float = 30.0
    statuses: tuple[int, ...] = RETRY_STATUSES
    jitter: bool = field(default=True, compare=False)

    def delay(self, attempt: int, retry_after: str | None = None, *, now: datetime | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (Retry-After wins when present)."""
        hinted = parse_retry_after(retry_after, now=now)
        if hinted is not None:
            return min(max(hinted, 0.0), self.max_wait)
        ceiling = min(self.max_wait, self.backoff * (2 ** attempt))
        return random.uniform(0, ceiling) if self.jitter else ceiling


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP-date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is True, and float("²") raises
        return float(min(int(value), 1 << 31))
    from email.utils import parsedate_to_datetime  # rare path; keeps imports light

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def as_policy(retries: int | RetryPolicy | None) -> RetryPolicy:
    """Accept `retries=5` or a full RetryPolicy."""
    if isinstance(retries, RetryPolicy):
        return retries
    if retries is None:
        return RetryPolicy(retries=0)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative int or a RetryPolicy, not {retries!r}")
    return RetryPolicy(retries=retries)


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
