"""A record of every HTTP exchange, for teaching: redacted before it is stored, replayable as curl.

Secrets never enter a record: an `Exchange` redacts each shown field as it is assigned (the URL,
both header sets, the error, the note, the form, the token body) through `core/redact.py`, so a
field set after the request (a 307's `Location`, an error) is redacted like one set before it,
and nothing downstream (frames, HTML, curl, `rx`) can leak them.
"""

from __future__ import annotations

import base64
import posixpath
import re
import shlex
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Redaction lives in redact.py (the bottom of the package); these names are re-exported for callers.
from ..core import jsontext
from ..core.redact import (
    REDACTED,
    SECRET_HEADERS,
    redact_body,
    redact_form,
    redact_headers,
    redact_text,
    redact_url,
)
from .values import lenient_int

# A notebook session can make tens of thousands of requests (tags, blobs); keep the latest.
TRACE_LIMIT = 1000
__all__ = ["REDACTED", "Exchange", "Trace", "decode_jwt", "parse_rate_limit", "redact_body", "redact_headers",
           "redact_url"]
# A blob's body goes to a file named after its digest; any other last URL component is not a safe name.
_DIGEST_NAME = re.compile(r"(sha256|sha384|sha512):([a-f0-9]{32,128})")
# Statuses curl must follow (-L) for its replay to fetch what we fetched.
_REDIRECTS = (301, 302, 303, 307, 308)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else redact_text(value)


# How each shown field of an Exchange is redacted when it is assigned (see Exchange.__setattr__).
_REDACT_ON_SET = {
    "url": lambda v: v if v is None else redact_url(v),
    "request_headers": redact_headers,
    "response_headers": redact_headers,
    "error": _text_or_none,
    "note": _text_or_none,
    "form": redact_form,
    "response_body": redact_body,
}


def decode_jwt(token: str) -> dict[str, Any] | None:
    """The header and claims of a JWT, without the signature (None if it is not a JWT).

    Without its signature a token cannot be replayed, so the claims (iss, aud, exp, access)
    are safe to show; that is what a student wants to see.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (jsontext.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return {"header": header, "claims": claims, "signature": REDACTED}


def parse_rate_limit(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Docker Hub's `RateLimit-Limit: 100;w=21600` / `RateLimit-Remaining: 76;w=21600` headers."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "ratelimit-limit" not in lower and "ratelimit-remaining" not in lower:
        return None

    def split(value):
        # `100;w=21600`: the count, then parameters. A server controls both: lenient_int keeps
        # them sane (ASCII digits, within int64) or drops them.
        if value is None:
            return None, None
        num, _, rest = str(value).partition(";")
        window = None
        for p in rest.split(";"):
            if p.strip().startswith("w="):
                window = lenient_int(p.strip()[2:])
        return lenient_int(num), window

    limit, w1 = split(lower.get("ratelimit-limit"))
    remaining, w2 = split(lower.get("ratelimit-remaining"))
    return {"limit": limit, "remaining": remaining, "window_seconds": w1 or w2,
            "source": lower.get("docker-ratelimit-source")}


@dataclass
class Exchange:
    """One HTTP exchange, already redacted. `as_curl()` replays it with $TOKEN for the secret."""
    seq: int
    started: datetime
    method: str
    url: str
    purpose: str
    request_headers: dict[str, str]
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    bytes: int | None = None
    elapsed_ms: float | None = None
    error: str | None = None
    response_body: Any = None  # small JSON bodies only (token responses, redacted)
    token_claims: dict[str, Any] | None = None
    rate_limit: dict[str, Any] | None = None
    form: dict[str, str] | None = None  # redacted form fields of a POST (OAuth2 token grant)
    attempt: int = 0  # 0 for the first try, N for the Nth retry
    retry_wait_ms: float | None = None  # how long we waited after this exchange before retrying
    note: str | None = None  # why the client did something else next (e.g. a Range fallback)
    origin: str = "registry"  # "cache": answered from the local cache, not by the registry (method CACHE)
    redirected_from: int | None = None  # seq of the exchange whose redirect this request followed

    def __setattr__(self, name: str, value: Any) -> None:
        # The one redaction path for trace records: every shown field, whenever it is set.
        redact = _REDACT_ON_SET.get(name)
        object.__setattr__(self, name, redact(value) if redact is not None else value)

    @property
    def auth_scheme(self) -> str | None:
        """'Bearer', 'Basic' or None: which credential the request carried."""
        value = next((v for k, v in self.request_headers.items() if k.lower() == "authorization"), None)
        return value.split(" ", 1)[0] if value else None

    def curl_variables(self) -> tuple[str, ...]:
        """The shell variables as_curl() expects to be set: ('TOKEN',), ('USERNAME', 'PASSWORD') or ()."""
        names: list[str] = []
        scheme = (self.auth_scheme or "").lower()
        if scheme == "basic":
            names += ["USERNAME", "PASSWORD"]
        elif scheme:
            names.append("TOKEN")
        if any(v == REDACTED for v in (self.form or {}).values()) and "TOKEN" not in names:
            names.append("TOKEN")
        return tuple(names)

    def curl_output(self) -> str | None:
        """The file as_curl() writes the body to: blob bodies are binary (None: the body is printed).

        A terminal is no place for a gzip stream, and `curl -s` would hide curl's own warning
        about it (exit 23, nothing printed): the body goes to `sha256-<hex>`, the name
        fetch_blobs() gives the same blob, so `sha256sum` checks it against the digest.
        """
        if self.method != "GET" or self.purpose != "blob":
            return None
        # Only a digest names the file: the last component of a storage URL is the server's choice.
        last = posixpath.basename(self.url.split("?", 1)[0].rstrip("/"))
        m = _DIGEST_NAME.fullmatch(last)
        name = f"{m.group(1)}-{m.group(2)}" if m else "blob"
        ranged = any(k.lower() == "range" for k in self.request_headers)
        return f"{name}.part" if ranged else name

    def as_curl(self, *, explain: bool = False, assign_token: bool = False, out_dir: str | None = None) -> str:
        """A runnable curl command; secrets appear as $TOKEN (Bearer) or $USERNAME:$PASSWORD (Basic).

        Blob bodies go to a file (`-o sha256-<hex>`, see curl_output), in `out_dir` when given.
        `explain=True` starts with a comment naming the variables the command expects
        (curl_variables). `assign_token=True`, for a token request, makes it
        `TOKEN=$(curl ... | python3 -c ...)` so the lines after it work.
        """
        if self.origin == "cache":
            # Nothing was sent: a cache hit is valid content (re-hashed against its digest), but not
            # proof that this registry still holds it, so the replay says so instead of inventing a request.
            return f"# {self.purpose} {self.url} answered from the local cache (re-hashed), not asked of the registry"
        args = ["curl", "-sS"]
        if self.method == "HEAD":
            args.append("--head")
        elif self.method != "GET":
            args += ["-X", self.method]
        if self.purpose in ("blob", "config") or self.status in _REDIRECTS:
            args.append("-L")  # blob GETs redirect to storage; curl drops Authorization on other hosts
        out = self.curl_output()
        if out:
            # The body goes to a file, so stdout is free to say what came back: 200, or the 206 of a Range.
            args += ["-o", posixpath.join(out_dir, out) if out_dir else out,
                     "-w", "HTTP %{http_code}, %{size_download} bytes\\n"]
        elif self.status is not None and self.status >= 400 and self.method != "HEAD":
            args.append("-i")  # a refusal is the lesson: its status line and headers (WWW-Authenticate)
        cmd = " ".join(shlex.quote(a) for a in args)
        for k, v in self.request_headers.items():
            kl = k.lower()
            if kl in ("user-agent", "accept-encoding", "connection", "content-length"):
                continue
            if kl == "authorization":
                scheme = v.split(" ", 1)[0]
                cmd += ' -u "$USERNAME:$PASSWORD"' if scheme.lower() == "basic" else f' -H "Authorization: {scheme} $TOKEN"'
            elif kl not in SECRET_HEADERS:
                cmd += " -H " + shlex.quote(f"{k}: {v}")
        for k, v in (self.form or {}).items():
            value = '"$TOKEN"' if v == REDACTED else shlex.quote(v)
            cmd += f" --data-urlencode {shlex.quote(k + '=')}{value}"
        cmd = f"{cmd} {shlex.quote(redact_url(self.url))}"
        if assign_token and self.purpose == "token":
            # The token spec's response: {"token": ...} (and the OAuth2 name access_token).
            pick = "import json,sys; d=json.load(sys.stdin); print(d.get(\"token\") or d[\"access_token\"])"
            cmd = f"TOKEN=$({cmd} | python3 -c '{pick}')"
        needs = self.curl_variables()
        if explain and needs:
            cmd = "# expects " + " ".join(f"${n}" for n in needs) + "\n" + cmd
        return cmd

    def to_row(self) -> dict[str, Any]:
        """A flat dict with stable snake_case keys (what frames.trace() tabulates)."""
        return {
            "seq": self.seq, "started": self.started, "method": self.method, "url": self.url,
            "status": self.status, "purpose": self.purpose, "bytes": self.bytes, "elapsed_ms": self.elapsed_ms,
            "auth": self.auth_scheme, "error": self.error, "attempt": self.attempt,
            "retry_wait_ms": self.retry_wait_ms,
            "rate_limit_remaining": (self.rate_limit or {}).get("remaining"),
            "request_headers": dict(self.request_headers), "response_headers": dict(self.response_headers),
        }

    def _repr_html_(self) -> str:
        from ..html import exchange_html  # display hook: html/ imports the trace (a cycle at import time)

        return exchange_html(self)


class Meter:
    """What one operation cost on the wire: every exchange started while it was active, and local bytes read.

    `with metered() as m:` makes `m` see the exchanges of every Trace started in this context
    (contextvars: the thread that runs the operation, and tasks it copies its context to), so a
    read can report `.requests` and `.bytes_moved` that equal what a proxy would count.
    """

    def __init__(self):
        self.exchanges: list[Exchange] = []
        self.local_bytes = 0  # bytes read from local files (a layout's blobs), not over a network

    @property
    def requests(self) -> int:
        """HTTP requests the server answered: what a proxy or the registry's access log counts.

        Cache hits are not requests; neither is an attempt that got no HTTP answer (the https
        probe of an http-only registry fails in its TLS handshake), though the trace shows it.
        """
        return sum(1 for ex in self.exchanges if ex.origin != "cache" and ex.status is not None)

    @property
    def bytes_moved(self) -> int:
        """Response body bytes received, plus bytes read from local blob files (headers are not counted:
        a proxy's or a registry's log reports body bytes, so body bytes are what can be compared).

        A body the client leaves unread (a 200 answering a Range request, replaced by one verified
        stream) counts as its declared Content-Length, the most the server may have sent; a proxy
        counts what it wrote before the connection closed, which for a large blob is less.
        """
        return sum(ex.bytes or 0 for ex in self.exchanges if ex.origin != "cache") + self.local_bytes


_METERS: ContextVar[tuple[Meter, ...]] = ContextVar("rx_meters", default=())


@contextmanager
def metered() -> Iterator[Meter]:
    """Count what the code inside the block makes move (nested blocks each count everything inside them)."""
    meter = Meter()
    token = _METERS.set((*_METERS.get(), meter))
    try:
        yield meter
    finally:
        _METERS.reset(token)


def count_local(nbytes: int) -> None:
    """Add bytes read from a local blob file to the active meters."""
    for m in _METERS.get():
        m.local_bytes += nbytes


def _to_meters(ex: Exchange) -> None:
    for m in _METERS.get():
        m.exchanges.append(ex)


class Trace:
    """A bounded ring of the latest exchanges (thread-safe); iterate it, index it, or tabulate it."""
    def __init__(self, maxlen: int = TRACE_LIMIT):
        self._records: deque[Exchange] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._seq = 0
        self.enabled = True

    @property
    def maxlen(self) -> int | None:
        """How many exchanges are kept."""
        return self._records.maxlen

    def start(self, method: str, url: str, purpose: str, request_headers: Mapping[str, str],
              form: Mapping[str, str] | None = None) -> Exchange:
        """Create (and keep) a redacted record for a request about to be sent."""
        with self._lock:
            self._seq += 1
            ex = Exchange(
                seq=self._seq, started=datetime.now(timezone.utc), method=method, url=redact_url(url),
                purpose=purpose, request_headers=redact_headers(request_headers),
                form=redact_form(form),
            )
            if self.enabled:
                self._records.append(ex)
        _to_meters(ex)
        return ex

    def cached(self, purpose: str, digest: str, size: int | None = None) -> Exchange:
        """Record that `digest` was answered from the local cache (no request was sent)."""
        with self._lock:
            self._seq += 1
            ex = Exchange(seq=self._seq, started=datetime.now(timezone.utc), method="CACHE", url=digest,
                          purpose=purpose, request_headers={}, bytes=0, origin="cache",
                          note=f"from the local cache, {size} bytes" if size is not None else "from the local cache")
            if self.enabled:
                self._records.append(ex)
        _to_meters(ex)
        return ex

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Exchange]:
        with self._lock:
            return iter(list(self._records))

    def __getitem__(self, i):
        with self._lock:
            return list(self._records)[i]

    def __repr__(self) -> str:
        return f"Trace({len(self)} exchanges, maxlen={self.maxlen})"

    def _repr_html_(self) -> str:
        from ..html import trace_html  # display hook: html/ imports the trace (a cycle at import time)

        return trace_html(self)
