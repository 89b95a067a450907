"""Checked parsers for every value a server controls: numbers, URLs, ranges, tokens.

A hostile registry picks these bytes. Python's own parsers accept more than HTTP allows:
`"²".isdigit()` is True but `int("²")` raises, `int()` has no upper bound while pandas columns
are int64, and `urlsplit("http://[::1")` raises ValueError. Every such value goes through one
of these helpers, which either return a value that is safe to use or raise `ProtocolError`
(or, where the value is only informational, return None).
"""

from __future__ import annotations

import math
import re
from urllib.parse import urljoin, urlsplit

from ..core.errors import ProtocolError

# Sizes and counts end up in int64 DataFrame columns and in `seek()`: bound them there.
MAX_INT64 = (1 << 63) - 1
# RFC 9110 section 8.6: Content-Length = 1*DIGIT, and DIGIT is ASCII only (RFC 5234 B.1).
_DIGITS = re.compile(r"[0-9]{1,19}")
# RFC 9110 section 14.4: `bytes first-last/complete-length` (or `*` for an unknown length).
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)")
# RFC 6750 section 2.1: a bearer token is a b64token; anything else cannot go in a header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Tokens are JWTs or opaque strings of a few KB; a megabyte of token is an attack on memory.
MAX_TOKEN_LENGTH = 64 << 10


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def header_int(value: str | None, *, what: str) -> int | None:
    """A non-negative decimal header value (ASCII digits, fits int64); None when absent.

    Raises ProtocolError for anything else: a length we cannot trust must not be guessed at.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if not _DIGITS.fullmatch(text) or int(text) > MAX_INT64:
        raise ProtocolError(f"the server sent {what} {_show(value)}, which is not a decimal byte count", what=what)
    return int(text)


def lenient_int(value: object) -> int | None:
    """An informational number (a rate-limit count, a window): the int, or None if it is not a sane one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -MAX_INT64 <= value <= MAX_INT64 else None
    text = str(value).strip() if value is not None else ""
    if _DIGITS.fullmatch(text) and int(text) <= MAX_INT64:
        return int(text)
    return None


def json_seconds(value: object, *, default: float, maximum: float) -> float:
    """A duration from a JSON body (`expires_in`): a finite number within (0, maximum], else `default`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if (isinstance(value, float) and math.isnan(value)) or value <= 0:  # json.loads accepts NaN and Infinity
        return default
    return float(min(value, maximum))


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """`Content-Range: bytes a-b/total` as (a, b, total or None for '*'); None when absent or malformed."""
    m = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not m:
        return None
    first, last = int(m.group(1)), int(m.group(2))
    total = None if m.group(3) == "*" else int(m.group(3))
    if first > last or (total is not None and (last >= total or total > MAX_INT64)):
        return None
    return first, last, total


def http_url(value: str, base: str | None = None, *, what: str) -> str:
    """An absolute http(s) URL from a server (`Location`, `Link`, `realm`), resolved against `base`.

    Raises ProtocolError for malformed URLs (bad IPv6 literals, bad ports, no host) and for any
    scheme but http and https (file:, gopher: ... must never be fetched on a server's word).
    """
    text = str(value).strip()
    if any(c in text for c in "\r\n\x00") or len(text) > 8192:
        raise ProtocolError(f"the server sent a {what} that is not a usable URL: {_show(value)}", what=what)
    try:
        url = urljoin(base, text) if base else text
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ProtocolError(f"the server sent a malformed {what}: {_show(value)}", what=what) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProtocolError(f"the server sent a {what} that is not an http(s) URL: {_show(value)}", what=what)
    del port
    return url


def netloc(url: str) -> str:
    """`host:port` of a URL as a registry would be named (userinfo dropped, host lower-cased); '' if malformed."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:  # a malformed IPv6 literal or port: it names no host we would talk to
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def bearer_token(value: object, *, what: str) -> str | None:
    """A token from a token server, if it can be sent in an Authorization header; None if absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(value):
        raise ProtocolError(f"{what} sent a token that is not valid in an HTTP header (RFC 6750 b64token)",
                            what="token")
    return value
