"""The one I/O seam: every HTTP exchange with a registry goes through `Transport.request`.

It owns what domain code must never see:
- scheme selection (https, with an http fallback only for insecure or loopback hosts),
- the auth challenge-response flow (Basic, or Bearer tokens cached per scope),
- redirects followed by hand, so Authorization never crosses to another host:port and
  https is never downgraded to http,
- mapping HTTP failures onto the error hierarchy, with OCI error bodies parsed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from .auth import Challenge, Credential, CredentialStore, TokenCache, parse_challenges
from .errors import ConnectionFailed, Denied, NotFound, RegistryError, TooLarge, Unauthorized
from .reference import registry_api_host
from .retry import RetryPolicy, as_policy
from .trace import TRACE_LIMIT, Exchange, Trace, decode_jwt, parse_rate_limit, redact_body, redact_headers

log = logging.getLogger(__name__)

USER_AGENT = "registry-explorer/0.1"
# Registries redirect blob GETs to object storage; ten hops is what Go's net/http allows.
MAX_REDIRECTS = 10
# Token responses are small JSON; anything bigger is hostile or broken.
TOKEN_LIMIT = 1 << 20
# Error bodies are only read to show the OCI error list; cap them.
ERROR_BODY_LIMIT = 64 << 10
# Connecting takes milliseconds when a host is up; waiting the full read timeout for a dead one
# would freeze a notebook for no benefit.
CONNECT_TIMEOUT = 10.0
_REDIRECTS = (301, 302, 303, 307, 308)
_SECRET_QUERY_WORDS = ("token", "password", "secret", "signature", "credential", "sig", "key")


def redact_url(url: str) -> str:
    """The URL with userinfo and secret-looking query values replaced by '***'."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    q = [
        (k, "***" if any(w in k.lower() for w in _SECRET_QUERY_WORDS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(q, safe="/:*,"), parts.fragment))


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IPs (with or without a port)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_private_host(host: str, resolve=None) -> bool:
    """True when `host` is, or resolves to, a loopback, private, link-local or otherwise non-public address."""
    name = host.strip("[]")
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addrs = [ipaddress.ip_address(name)]
    except ValueError:
        try:
            infos = (resolve or socket.getaddrinfo)(name, None)
        except OSError:
            return False  # unresolvable: the request itself will fail with a clear error
        addrs = []
        for info in infos:
            try:
                addrs.append(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
            except ValueError:
                continue
    return any(not a.is_global or a.is_loopback or a.is_link_local or a.is_private for a in addrs)


@dataclass
class _HostState:
    scheme: str | None = None
    challenge: Challenge | None = None


def _silence_insecure_warnings(hosts: Iterable[str]) -> None:
    """Drop urllib3's InsecureRequestWarning for hosts the user explicitly called insecure.

    Asking for `insecure=` is the opt-in, as `skopeo --tls-verify=false` and `crane --insecure`
    are, so a warning on every request is noise. The filter names each host exactly (urllib3's
    message carries the host without its port); other hosts still warn.
    """
    from urllib3.exceptions import InsecureRequestWarning

    for host in hosts:
        name = urlsplit(f"//{host}").hostname
        if name:
            warnings.filterwarnings(
                "ignore", message=f"Unverified HTTPS request is being made to host '{re.escape(name)}'",
                category=InsecureRequestWarning,
            )


class Transport:
    """HTTP for registries: auth, redirects, scheme choice and error mapping in one place."""

    def __init__(
        self,
        credentials: CredentialStore,
        *,
        insecure: Iterable[str] = (),
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = 30.0,
        session: requests.Session | None = None,
        trace_limit: int = TRACE_LIMIT,
        retries: int | RetryPolicy = 3,
        allow_private_redirects: bool = False,
    ):
        self.credentials = credentials
        self.allow_private_redirects = allow_private_redirects
        self.insecure = frozenset(insecure)
        _silence_insecure_warnings(self.insecure)
        self.ca_bundle = ca_bundle
        # (connect, read): a dead host fails fast; a stalled body read also times out.
        self.timeout = timeout if isinstance(timeout, tuple) else (min(CONNECT_TIMEOUT, timeout), timeout)
        self.retry = as_policy(retries)
        self.sleep = time.sleep
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.tokens = TokenCache()
        self.hooks: list[Callable[[Exchange], None]] = []
        self.trace = Trace(trace_limit)
        self.rate_limit: dict[str, Any] | None = None
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transport(insecure={sorted(self.insecure)}, hosts={sorted(self._hosts)})"

    # -- helpers -----------------------------------------------------------------------------

    def _state(self, registry: str) -> _HostState:
        with self._lock:
            return self._hosts.setdefault(registry, _HostState())

    def _http_allowed(self, host: str) -> bool:
        return host in self.insecure or is_loopback(host)

    def _verify_for(self, host: str):
        # Pass verify explicitly on every request: REQUESTS_CA_BUNDLE would otherwise win.
        if host in self.insecure:
            return False
        return self.ca_bundle if self.ca_bundle else True

    def _finish(self, ex: Exchange, started: float, resp: requests.Response | None, error: str | None) -> None:
        ex.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        ex.error = error
        if resp is not None:
            ex.status = resp.status_code
            ex.response_headers = redact_headers(resp.headers)
            length = resp.headers.get("Content-Length")
            ex.bytes = int(length) if length and length.isdigit() and ex.method == "GET" else (0 if ex.method == "HEAD" else None)
            ex.rate_limit = parse_rate_limit(resp.headers)
            if ex.rate_limit:
                self.rate_limit = ex.rate_limit
            resp.exchange = ex  # read_capped and blob readers update the byte count
        for hook in list(self.hooks):
            try:
                hook(ex)
            except Exception:  # a broken observer must not break a pull
                log.exception("trace hook failed")

    def _send(self, method: str, url: str, *, headers: Mapping[str, str], purpose: str, stream: bool,
              verify, data=None, params=None, retry: bool = True) -> requests.Response:
        """One logical request: retried with backoff when idempotent and the failure is transient."""
        idempotent = method in ("GET", "HEAD") or purpose == "token"
        attempts = 1 + (self.retry.retries if retry and idempotent else 0)
        for attempt in range(attempts):
            last = attempt + 1 >= attempts
            try:
                resp = self._send_once(method, url, headers=headers, purpose=purpose, stream=stream,
                                       verify=verify, data=data, params=params, attempt=attempt)
            except ConnectionFailed as exc:
                # A certificate problem or a non-TLS server will not fix itself by waiting.
                if last or exc.kind in ("tls-verify", "tls-handshake"):
                    raise
                self._wait(getattr(exc, "exchange", None), self.retry.delay(attempt))
                continue
            if resp.status_code in self.retry.statuses and not last:
                wait = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                resp.close()
                self._wait(getattr(resp, "exchange", None), wait)
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, ex: Exchange | None, seconds: float) -> None:
        if ex is not None:
            ex.retry_wait_ms = round(seconds * 1000, 1)
        log.debug("retrying in %.2fs", seconds)
        self.sleep(seconds)

    def _send_once(self, method: str, url: str, *, headers: Mapping[str, str], purpose: str, stream: bool,
                   verify, data=None, params=None, attempt: int = 0) -> requests.Response:
        ex = self.trace.start(method, url, purpose, headers, form=data if isinstance(data, dict) else None)
        ex.attempt = attempt
        try:
            return self._perform(ex, method, url, headers=headers, stream=stream, verify=verify, data=data,
                                 params=params)
        except ConnectionFailed as exc:
            exc.exchange = ex  # so the retry loop can note its wait on the right record
            raise

    def _perform(self, ex: Exchange, method: str, url: str, *, headers, stream, verify, data, params):
        if params:
            ex.url = redact_url(requests.Request("GET", url, params=params).prepare().url or url)
        started = time.perf_counter()
        try:
            resp = self.session.request(
                method, url, headers=dict(headers), data=data, params=params, stream=stream,
                allow_redirects=False, verify=verify, timeout=self.timeout,
            )
        except requests.exceptions.SSLError as exc:
            self._finish(ex, started, None, f"TLS: {_reason(exc)}")
            host = urlsplit(url).netloc
            if "CERTIFICATE_VERIFY_FAILED" not in str(exc) and "hostname" not in str(exc).lower():
                # Not a verification failure: typically an http-only server answering a TLS hello.
                raise ConnectionFailed(f"TLS handshake with {host} failed: {_reason(exc)}", url=redact_url(url),
                                       kind="tls-handshake") from None
            raise ConnectionFailed(
                f"TLS failed for {host}: {_reason(exc)}. If the registry uses a private CA pass "
                f"ca_bundle='/path/ca.pem'; to skip verification add {host!r} to insecure=.",
                url=redact_url(url), kind="tls-verify",
            ) from None
        except requests.exceptions.Timeout:
            self._finish(ex, started, None, "timeout")
            raise ConnectionFailed(
                f"{method} {redact_url(url)} timed out (connect {self.timeout[0]}s, read {self.timeout[1]}s); "
                "raise timeout= or check the network",
                url=redact_url(url), kind="timeout",
            ) from None
        except requests.exceptions.RequestException as exc:
            self._finish(ex, started, None, _reason(exc))
            raise ConnectionFailed(
                f"could not reach {urlsplit(url).netloc} ({method} {redact_url(url)}): {_reason(exc)}",
                url=redact_url(url),
            ) from None
        self._finish(ex, started, resp, None)
        return resp

    def _base_url(self, registry: str, purpose: str) -> str:
        """Find (once) whether the registry speaks https or, where allowed, plain http."""
        host = registry_api_host(registry)
        state = self._state(registry)
        if state.scheme:
            return f"{state.scheme}://{host}"
        if not self._http_allowed(host):
            state.scheme = "https"
            return f"https://{host}"
        # Like go-containerregistry's ping: try https first, fall back to http for
        # insecure and loopback registries only.
        try:
            resp = self._send("GET", f"https://{host}/v2/", headers={}, purpose="ping", stream=False,
                              verify=self._verify_for(host), retry=False)
            resp.close()
            state.scheme = "https"
            self._learn_challenge(state, resp)
        except ConnectionFailed as exc:
            if exc.kind == "tls-verify":
                raise  # a real TLS server we do not trust: falling back to http would hide that
            state.scheme = "http"
        return f"{state.scheme}://{host}"

    def _learn_challenge(self, state: _HostState, resp: requests.Response) -> Challenge | None:
        if resp.status_code != 401:
            return None
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate"))
        chosen = next((c for c in challenges if c.scheme == "bearer" and c.realm), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is not None:
            # Remember only where and how to authenticate; scope and error belong to this response.
            stable = {k: v for k, v in chosen.params.items() if k not in ("scope", "error", "error_description")}
            state.challenge = Challenge(chosen.scheme, stable)
        return chosen

    # -- auth ----------------------------------------------------------------------------------

    def _may_send_secret(self, registry: str, url: str) -> bool:
        """Credentials travel over https, or over http only to hosts the user called insecure."""
        parts = urlsplit(url)
        if parts.scheme == "https":
            return True
        host = registry_api_host(registry)
        return host in self.insecure or registry in self.insecure or parts.netloc in self.insecure

    def _authorization(self, registry: str, scope: str | None, url: str, *, refresh: bool = False,
                       extra_scope: str | None = None, dry_run: bool = False) -> str | None:
        """The Authorization value for a request, per the host's known challenge (None: send none)."""
        state = self._state(registry)
        ch = state.challenge
        if ch is None:
            return None
        cred = self.credentials.get(registry)
        if ch.scheme == "basic":
            if cred and self._may_send_secret(registry, url):
                return cred.basic
            return None
        if ch.scheme == "bearer":
            if dry_run:
                return "Bearer"  # a token (maybe anonymous) can always be asked for
            token = self._token(registry, ch, " ".join(s for s in (scope, extra_scope) if s), cred, refresh=refresh)
            return f"Bearer {token}" if token else None
        return None

    def _token(self, registry: str, ch: Challenge, scope: str, cred: Credential | None,
               *, refresh: bool) -> str | None:
        realm = ch.realm or ""
        service = ch.params.get("service", "")
        scopes = sorted(set(scope.split()))
        key = (realm, service, " ".join(scopes))
        if refresh:
            self.tokens.drop(key)
        else:
            cached = self.tokens.get(key)
            if cached:
                return cached
        if not realm.startswith(("https://", "http://")):
            raise Unauthorized(f"registry {registry} sent a Bearer challenge without a usable realm ({realm!r})",
                               status=401)
        send_cred = cred if (cred and self._may_send_secret(registry, realm)) else None
        body = self._fetch_token(registry, realm, service, scopes, send_cred)
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise Unauthorized(f"the token server for {registry} answered without a token", status=401)
        self.tokens.put(key, token, body.get("expires_in"))
        return token

    def _fetch_token(self, registry, realm, service, scopes, cred: Credential | None) -> dict:
        verify = self._verify_for(urlsplit(realm).netloc)
        if cred and cred.identity_token:
            # OAuth2 refresh-token grant; registries without it answer 404/401/400/405.
            form = {"grant_type": "refresh_token", "refresh_token": cred.identity_token,
                    "service": service, "client_id": "registry-explorer"}
            if scopes:
                form["scope"] = " ".join(scopes)
            resp = self._send("POST", realm, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              purpose="token", stream=True, verify=verify, data=form)
            if resp.status_code == 200:
                return _token_body(resp)
            resp.close()
            if resp.status_code not in (404, 401, 400, 405):
                self._raise_token_error(registry, realm, resp, cred)
            basic = Credential(cred.username or "<token>", cred.identity_token).basic
        else:
            basic = cred.basic if cred else None
        params: list[tuple[str, str]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", s) for s in scopes)
        if cred and cred.username and cred.username != "<token>":
            params.append(("account", cred.username))
        headers = {"Authorization": basic} if basic else {}
        resp = self._send("GET", realm, headers=headers, purpose="token", stream=True, verify=verify, params=params)
        if resp.status_code != 200:
            self._raise_token_error(registry, realm, resp, cred)
        return _token_body(resp)

    def _raise_token_error(self, registry, realm, resp, cred):
        errors = _read_errors(resp)
        who = "your credentials were rejected" if cred else "anonymous access was refused"
        cls = Denied if resp.status_code == 403 else Unauthorized
        raise cls(
            f"token server {redact_url(realm)} answered {resp.status_code} for {registry}: {who}."
            + ("" if cred else _CRED_HINT.format(host=registry)),
            status=resp.status_code, errors=errors, method="GET", url=redact_url(realm),
        )

    # -- the request --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        registry: str,
        path: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        purpose: str = "",
        ok: Iterable[int] = (),
        url: str | None = None,
    ) -> requests.Response:
        """Send `method path` to `registry`, authenticating and following redirects as needed.

        Statuses >= 400 raise (NotFound, Unauthorized, Denied, RegistryError) unless listed in `ok`.
        `url` overrides the path for following a registry-given URL (pagination Links).
        """
        base = self._base_url(registry, purpose)
        target = url or (base + path)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        hdrs = dict(headers or {})
        state = self._state(registry)
        refresh = False
        extra_scope: str | None = None
        # At most three sends: as-is, after learning the challenge, after refreshing a token.
        for attempt in range(3):
            auth = self._authorization(registry, scope, target, refresh=refresh, extra_scope=extra_scope)
            h = dict(hdrs, Authorization=auth) if auth else dict(hdrs)
            resp = self._follow(method, target, h, purpose=purpose, stream=stream)
            if resp.status_code != 401 or attempt == 2:
                break
            before = state.challenge
            full = self._learn_challenge(state, resp)
            if full is None:
                break
            asked = full.params.get("scope")
            new_scope = asked if asked and asked not in (scope, extra_scope) else None
            if not auth:
                # We sent nothing; retry only if the challenge lets us send something now.
                extra_scope = new_scope or extra_scope
                if self._authorization(registry, scope, target, extra_scope=extra_scope, dry_run=True) is None:
                    break
            elif state.challenge.scheme != "bearer":
                break  # our Basic credentials were rejected
            elif new_scope:
                extra_scope = new_scope  # the registry names the scope it wants: ask for that
            elif state.challenge == before:
                # Same realm and service: refresh once if the token may have expired; a token the
                # server just issued with too few rights will not get better by asking again.
                if refresh or full.params.get("error") == "insufficient_scope":
                    break
                refresh = True
            resp.close()
        if resp.status_code >= 400 and resp.status_code not in set(ok):
            self._raise_for(method, target, resp, registry)
        return resp

    def _follow(self, method, url, headers, *, purpose, stream) -> requests.Response:
        origin = urlsplit(url)
        current = url
        hdrs = dict(headers)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._send(method, current, headers=hdrs, purpose=purpose, stream=stream,
                              verify=self._verify_for(urlsplit(current).netloc))
            if resp.status_code not in _REDIRECTS or "Location" not in resp.headers:
                return resp
            resp.close()
            nxt = urljoin(current, resp.headers["Location"])
            cur, new = urlsplit(current), urlsplit(nxt)
            if new.scheme not in ("http", "https"):
                raise ConnectionFailed(f"refusing redirect to a non-HTTP URL from {cur.netloc}", url=redact_url(nxt))
            if cur.scheme == "https" and new.scheme == "http":
                raise ConnectionFailed(
                    f"refusing redirect from https to plain http ({cur.netloc} -> {new.netloc})", url=redact_url(nxt)
                )
            if new.netloc != origin.netloc or new.scheme != origin.scheme:
                # Credentials belong to the registry, not to the storage it redirects to.
                hdrs.pop("Authorization", None)
                # SSRF: a public registry must not bounce us onto this machine or its network.
                if (not self.allow_private_redirects and not is_private_host(origin.hostname or "")
                        and is_private_host(new.hostname or "")):
                    raise ConnectionFailed(
                        f"refusing redirect from public registry {origin.netloc} to private address {new.netloc}; "
                        "pass allow_private_redirects=True if this is intended", url=redact_url(nxt), kind="redirect",
                    )
            if resp.status_code == 303:
                method = "GET"
            current = nxt
        raise ConnectionFailed(f"more than {MAX_REDIRECTS} redirects from {origin.netloc}", url=redact_url(url))

    def _raise_for(self, method: str, url: str, resp: requests.Response, registry: str):
        errors = _read_errors(resp)
        status = resp.status_code
        detail = "; ".join(
            f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)
        ) or resp.reason or ""
        where = f"{method} {redact_url(url)}"
        if status == 404:
            raise NotFound(f"not found: {where} ({detail})", status=status, errors=errors, method=method,
                           url=redact_url(url))
        if status == 401:
            cred = self.credentials.get(registry)
            if cred and not self._may_send_secret(registry, url):
                hint = (f" Credentials for {registry} exist but were not sent over plain http;"
                        f" add {registry!r} to insecure= if you trust this network.")
            elif cred:
                hint = f" The credentials for {registry} were rejected or lack access."
            else:
                hint = _CRED_HINT.format(host=registry)
            header = resp.headers.get("WWW-Authenticate")
            usable = [c for c in parse_challenges(header) if c.scheme == "basic" or (c.scheme == "bearer" and c.realm)]
            if header and not usable:
                hint = (f" The registry's WWW-Authenticate header is not a Bearer or Basic challenge we can "
                        f"answer: {header[:200]!r}.") + hint
            raise Unauthorized(f"unauthorized: {where} ({detail}).{hint}", status=status, errors=errors,
                               method=method, url=redact_url(url))
        if status == 403:
            why = ("your account lacks access" if self.credentials.get(registry) else
                   "anonymous access is not allowed, or the repository does not exist (Docker Hub answers "
                   "'denied' for both)")
            raise Denied(f"denied: {where} ({detail}); {why}", status=status, errors=errors,
                         method=method, url=redact_url(url))
        raise RegistryError(f"registry error {status}: {where} ({detail})", status=status, errors=errors,
                            method=method, url=redact_url(url))


_CRED_HINT = (
    " To authenticate, pass rx.Client(credentials={{'{host}': ('user', 'password')}}), "
    "or log in with `docker login {host}` so the docker config has credentials."
    # Docker Hub, GHCR and distribution's token mode hide unknown repositories from anonymous
    # users behind the same 401 (`docker pull` says "does not exist or may require docker login").
    " If the repository should be public, check its name: registries also answer 401 for one that does not exist."
)


def _reason(exc: BaseException) -> str:
    # requests wraps urllib3 wraps socket errors; the innermost message is the useful one.
    inner = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    text = str(getattr(inner, "reason", None) or inner)
    return text[:300]


def read_capped(resp: requests.Response, limit: int, what: str, error=TooLarge) -> bytes:
    """Read a whole body, refusing more than `limit` bytes (checked before and while reading)."""
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        resp.close()
        raise error(what, limit, int(declared))
    chunks, total = [], 0
    try:
        for chunk in resp.raw.stream(64 << 10, decode_content=False) if hasattr(resp.raw, "stream") else resp.iter_content(64 << 10):
            total += len(chunk)
            if total > limit:
                raise error(what, limit, None)
            chunks.append(chunk)
    except requests.exceptions.RequestException as exc:
        raise ConnectionFailed(f"connection broke while reading {what}: {_reason(exc)}") from None
    except Exception as exc:  # urllib3 errors surface raw when streaming
        if isinstance(exc, TooLarge):
            raise
        raise ConnectionFailed(f"connection broke while reading {what}: {_reason(exc)}") from None
    finally:
        resp.close()
        ex = getattr(resp, "exchange", None)
        if ex is not None:
            ex.bytes = total
    return b"".join(chunks)


def _read_json(resp: requests.Response, limit: int, what: str) -> dict:
    raw = read_capped(resp, limit, what)
    try:
        obj = json.loads(raw)
    except ValueError:
        raise Unauthorized(f"{what} is not JSON", status=resp.status_code) from None
    return obj if isinstance(obj, dict) else {}


def _token_body(resp: requests.Response) -> dict:
    """Read a token response and record only its redacted form and the token's claims."""
    body = _read_json(resp, TOKEN_LIMIT, "token response")
    ex = getattr(resp, "exchange", None)
    if ex is not None:
        ex.response_body = redact_body(body)
        tok = body.get("token") or body.get("access_token")
        ex.token_claims = decode_jwt(tok) if isinstance(tok, str) else None
    return body


def _read_errors(resp: requests.Response) -> list[dict]:
    """Parse `{"errors": [...]}` from an error body (capped); [] when absent or not JSON."""
    try:
        raw = read_capped(resp, ERROR_BODY_LIMIT, "error body")
    except (TooLarge, ConnectionFailed):
        return []
    try:
        obj = json.loads(raw)
    except ValueError:
        return []
    errs = obj.get("errors") if isinstance(obj, dict) else None
    return [e for e in errs if isinstance(e, dict)] if isinstance(errs, list) else []
