"""The transport: every HTTP exchange with a registry goes through `Transport.request`.

It composes the seams of this package (see `http/__init__.py` for the picture) and records
each exchange, redacted, in the trace. Callers get our `Response`, or an error of our tree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from ..core.reference import registry_api_host
from .auth import AuthFlow
from .credentials import CredentialStore
from .gate import Gate
from .redirects import follow
from .response import Response
from .retry import RetryPolicy, as_policy, send_with_retries
from .scheme import Schemes
from .status import raise_for
from .trace import TRACE_LIMIT, Exchange, Trace, parse_rate_limit, redact_headers
from .values import lenient_int, netloc
from .wire import Wire, silence_insecure_warnings

log = logging.getLogger(__name__)

# Connecting takes milliseconds when a host is up; waiting the full read timeout for a dead one
# would freeze a notebook for no benefit.
CONNECT_TIMEOUT = 10.0
# The longest one document (manifest, config, token, page) may take to arrive in full. A socket
# read timeout alone never fires on a server that drips a byte a second.
DEFAULT_DEADLINE = 120.0


class Transport:
    """HTTP for registries: scheme, auth, redirects, retries, errors and the trace, composed."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        insecure: Iterable[str] = (),
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = 30.0,
        session: Any = None,
        trace_limit: int = TRACE_LIMIT,
        retries: int | RetryPolicy = 3,
        allow_private_redirects: bool = False,
        deadline: float | None = DEFAULT_DEADLINE,
    ):
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be a positive number of seconds or None, not {deadline!r}")
        self.credentials = credentials
        self.insecure = frozenset(insecure)
        silence_insecure_warnings(self.insecure)
        self.gate = Gate(self.insecure, allow_private=allow_private_redirects)
        self.ca_bundle = ca_bundle
        # (connect, read): a dead host fails fast; a stalled body read also times out.
        self.timeout = timeout if isinstance(timeout, tuple) else (min(CONNECT_TIMEOUT, timeout), timeout)
        self.retry = as_policy(retries)
        self.sleep = time.sleep
        self.wire = Wire(session, self.timeout, deadline)
        self.hooks: list[Callable[[Exchange], None]] = []
        self.trace = Trace(trace_limit)
        self.rate_limit: dict[str, Any] | None = None
        self.auth = AuthFlow(credentials, self.gate, self._send_token)
        self.schemes = Schemes(self.gate)

    @property
    def allow_private_redirects(self) -> bool:
        """Whether a public registry may send us to private addresses (gate rule R5)."""
        return self.gate.allow_private

    @allow_private_redirects.setter
    def allow_private_redirects(self, value: bool) -> None:
        self.gate.allow_private = bool(value)

    @property
    def tokens(self):
        """The Bearer token cache."""
        return self.auth.tokens

    @property
    def session(self):
        """The underlying HTTP session (for closing it, or for tests that break connections)."""
        return self.wire.session

    def __repr__(self) -> str:
        return f"Transport(insecure={sorted(self.insecure)}, hosts={self.schemes.hosts()})"

    def _verify_for(self, host: str):
        # Pass verify explicitly on every request: REQUESTS_CA_BUNDLE would otherwise win.
        if host in self.insecure:
            return False
        return self.ca_bundle if self.ca_bundle else True

    # -- one exchange, traced ----------------------------------------------------------------------

    def _send_once(self, method: str, url: str, headers: Mapping[str, str], purpose: str, attempt: int,
                   form: dict | None = None) -> Response:
        ex = self.trace.start(method, url, purpose, headers, form=form)
        ex.attempt = attempt
        started = time.perf_counter()
        try:
            resp = self.wire.send(method, url, headers=headers, data=form, stream=True,
                                  verify=self._verify_for(netloc(url)))
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, then re-raised unchanged
            self._finish(ex, started, None, _trace_error(exc))
            exc.exchange = ex  # so the retry loop notes its wait on the right record
            raise
        self._finish(ex, started, resp, None)
        return resp

    def _finish(self, ex: Exchange, started: float, resp: Response | None, error: str | None) -> None:
        ex.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        ex.error = error
        if resp is not None:
            ex.status = resp.status
            ex.response_headers = redact_headers(resp.headers)
            length = lenient_int(resp.headers.get("Content-Length"))
            ex.bytes = length if ex.method == "GET" else (0 if ex.method == "HEAD" else None)
            ex.rate_limit = parse_rate_limit(resp.headers)
            if ex.rate_limit:
                self.rate_limit = ex.rate_limit
            resp.exchange = ex  # body reads update the byte count
        for hook in list(self.hooks):
            try:
                hook(ex)
            except Exception:  # noqa: BLE001 - a broken observer (a user hook) must not break a pull
                log.exception("trace hook failed")

    def _send(self, method: str, url: str, headers: Mapping[str, str], purpose: str, *, retry: bool = True,
              form: dict | None = None) -> Response:
        idempotent = retry and (method in ("GET", "HEAD") or purpose == "token")
        return send_with_retries(lambda attempt: self._send_once(method, url, headers, purpose, attempt, form),
                                 self.retry, self.sleep, idempotent=idempotent)

    def _send_token(self, method: str, url: str, headers: dict, form: dict | None, params: list | None) -> Response:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return self._send(method, url, headers, "token", form=form)

    # -- the request -------------------------------------------------------------------------------

    def base_url(self, registry: str) -> str:
        """`scheme://host` of the registry's API, probing https/http once."""
        api = netloc("//" + registry_api_host(registry)) or registry_api_host(registry)

        def ping(url: str) -> Response:
            return self._send("GET", url, {}, "ping", retry=False)

        return self.schemes.base_url(api, ping, lambda resp: self.auth.learn(api, resp))

    def request(
        self,
        method: str,
        registry: str,
        path: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        purpose: str = "",
        ok: Iterable[int] = (),
        url: str | None = None,
        stream: bool = True,
    ) -> Response:
        """Send `method path` to `registry`, authenticating and following redirects as needed.

        Statuses >= 400 raise (NotFound, Unauthorized, Denied, RegistryError) unless listed in `ok`.
        `url` replaces the path for a registry-given URL (pagination); its credentials are still
        decided by the gate, so a URL on another host gets none.
        """
        del stream  # every body is streamed; callers read it with read/read_all
        base = self.base_url(registry)
        api = base.split("://", 1)[1]
        target = url or (base + path)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        flow = self.auth.flow(registry, api, scope, target)
        auth = next(flow)
        while True:
            hdrs = dict(headers or {}, Authorization=auth) if auth else dict(headers or {})
            resp = follow(lambda m, u, h: self._send(m, u, h, purpose), method, target, hdrs,
                          gate=self.gate, binding=self.auth.binding(api))
            try:
                auth = flow.send(resp)
            except StopIteration:
                break
            resp.close()
        if resp.status >= 400 and resp.status not in set(ok):
            raise_for(method, target, resp, registry, has_credentials=self.credentials.get(registry) is not None,
                      withheld=self.auth.withheld(registry, api, target))
        return resp


def _trace_error(exc: BaseException) -> str:
    """How the trace names a failed exchange: its kind first ('TLS: ...', 'timeout'), as the notebooks show it."""
    kind = getattr(exc, "kind", None)
    text = str(exc)[:300]
    if kind in ("tls-verify", "tls-handshake"):
        return f"TLS: {text}"
    if kind == "timeout":
        return "timeout"
    return text
