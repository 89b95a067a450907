"""The challenge-response flow: answer a registry's 401 with Basic credentials or a Bearer token.

Written as a generator, the way httpx's `Auth.auth_flow` is: the transport sends what the flow
yields and sends the answer back in, until the flow has nothing more to try. Specs:
- Bearer tokens: the Docker token spec, https://distribution.github.io/distribution/spec/auth/token/
  and its OAuth2 variant (identity tokens), https://distribution.github.io/distribution/spec/auth/oauth/
- Challenges: RFC 7235 (challenge.py).
Secrets go only where the gate allows (gate.py); a challenge is adopted only from a response of
the registry's own host, never from a host it redirected us to (gate rule R2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

from ..core import jsontext
from ..core.errors import Denied, ProtocolError, Unauthorized
from ..core.redact import redact_url, remember
from .challenge import Challenge, parse_challenges
from .credentials import Credential, CredentialStore
from .gate import Binding, Gate
from .response import Response
from .status import CRED_HINT, read_errors
from .trace import decode_jwt, redact_body
from .values import bearer_token, http_url, json_seconds, netloc

# The token spec says: when expires_in is missing, assume 60 seconds.
DEFAULT_TOKEN_LIFETIME = 60
# Refresh a little early so a token does not expire between our check and the registry's.
TOKEN_EXPIRY_MARGIN = 5
# Nobody issues registry tokens for more than a day; a larger expires_in is not believed.
MAX_TOKEN_LIFETIME = 24 * 3600
# Token responses are small JSON; anything bigger is hostile or broken.
TOKEN_LIMIT = 1 << 20

# Sends one token request: (method, url, headers, form or None, query params) -> Response.
TokenSender = Callable[[str, str, dict, "dict | None", "list | None"], Response]


# (registry API host, realm, service, scopes, "credential" or "anonymous"): see AuthFlow._token.
TokenKey = tuple[str, ...]


class TokenCache:
    """Bearer tokens per (registry, realm, service, scope, identity), kept until `expires_in` runs out."""

    def __init__(self, clock=time.monotonic):
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key: TokenKey) -> str | None:
        """A live token for key, or None."""
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > self._clock():
                return hit[0]
            self._tokens.pop(key, None)
            return None

    def put(self, key: TokenKey, token: str, expires_in: float | None) -> None:
        """Remember a token for `expires_in` seconds (60 when not given, as the spec says)."""
        life = json_seconds(expires_in, default=DEFAULT_TOKEN_LIFETIME, maximum=MAX_TOKEN_LIFETIME)
        life = max(life, DEFAULT_TOKEN_LIFETIME)
        remember(token, token.rsplit(".", 1)[-1] if token.count(".") == 2 else None)  # scrubbed wherever echoed
        with self._lock:
            self._tokens[key] = (token, self._clock() + life - TOKEN_EXPIRY_MARGIN)

    def drop(self, key: TokenKey) -> None:
        """Forget a token the registry rejected."""
        with self._lock:
            self._tokens.pop(key, None)

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


@dataclass
class HostAuth:
    """What we learnt about one registry: the challenge it sent from its own host (R2)."""

    challenge: Challenge | None = None


class AuthFlow:
    """Decides the Authorization of each request to a registry, and how to answer its 401s."""

    def __init__(self, credentials: CredentialStore, gate: Gate, send_token: TokenSender):
        self.credentials = credentials
        self.gate = gate
        self.tokens = TokenCache()
        self._send_token = send_token
        self._hosts: dict[str, HostAuth] = {}
        self._lock = threading.Lock()

    def host(self, api_host: str) -> HostAuth:
        """The per-registry state (created on first use)."""
        with self._lock:
            return self._hosts.setdefault(api_host, HostAuth())

    def binding(self, api_host: str) -> Binding:
        """Where this registry's secrets may go: its host, and the realm of its own challenge."""
        ch = self.host(api_host).challenge
        return Binding(api_host, ch.realm if ch is not None and ch.scheme == "bearer" else None)

    def learn(self, api_host: str, resp: Response) -> Challenge | None:
        """Adopt the challenge of a 401 that came from the registry's own host (R2); return it."""
        if resp.status != 401 or getattr(resp, "redirected", False) or netloc(resp.url) != api_host:
            return None
        challenges = parse_challenges(resp.headers.get("WWW-Authenticate"))
        chosen = next((c for c in challenges if c.scheme == "bearer" and c.realm), None) or next(
            (c for c in challenges if c.scheme == "basic"), None)
        if chosen is not None:
            # Remember only where and how to authenticate; scope and error belong to this response.
            stable = {k: v for k, v in chosen.params.items() if k not in ("scope", "error", "error_description")}
            self.host(api_host).challenge = Challenge(chosen.scheme, stable)
        return chosen

    def withheld(self, registry: str, api_host: str, url: str) -> str | None:
        """Why existing credentials would not be sent to `url` (None when they would, or there are none)."""
        if self.credentials.get(registry) is None:
            return None
        return self.gate.refusal(self.binding(api_host), url)

    def authorization(self, registry: str, api_host: str, scope: str, url: str, *, refresh: bool = False,
                      dry_run: bool = False) -> str | None:
        """The Authorization value for a request to `url`, per the registry's challenge (None: send none)."""
        ch = self.host(api_host).challenge
        if ch is None:
            return None
        binding = self.binding(api_host)
        cred = self.credentials.get(registry)
        # The user's secret, and a token bought with it, go only where the gate allows (R1-R5).
        usable = cred if cred is not None and self.gate.refusal(binding, url) is None else None
        if ch.scheme == "basic":
            return usable.basic if usable else None
        if ch.scheme == "bearer":
            if self.gate.refusal(binding, url, secret=False):
                return None  # not the registry's own host: no token of any kind
            if dry_run:
                return "Bearer"  # a token (maybe anonymous) can always be asked for
            token = self._token(registry, api_host, ch, scope, usable, refresh=refresh)
            return f"Bearer {token}" if token else None
        return None

    def flow(self, registry: str, api_host: str, scope: str | None, url: str
             ) -> Generator[str | None, Response, None]:
        """Yield an Authorization value (or None) to send; receive the answer; stop when it is final.

        At most three sends: as-is, after learning the challenge, after refreshing a token.
        """
        scopes = [scope] if scope else []
        refresh = False
        auth = self.authorization(registry, api_host, " ".join(scopes), url)
        for _ in range(2):
            resp = yield auth
            if resp.status != 401:
                return
            before = self.host(api_host).challenge
            full = self.learn(api_host, resp)
            if full is None:
                return  # not our registry's own challenge, or none we can answer
            after = self.host(api_host).challenge
            asked = full.params.get("scope")
            new_scope = asked if asked and asked not in scopes else None
            if new_scope:
                scopes.append(new_scope)  # the registry names the scope it wants: ask for that too
            elif auth and after.scheme != "bearer":
                return  # our Basic credentials were rejected
            elif auth and after == before:
                # Same realm and service: refresh once if the token may have expired; a token the
                # server just issued with too few rights will not get better by asking again.
                if refresh or full.params.get("error") == "insufficient_scope":
                    return
                refresh = True
            nxt = self.authorization(registry, api_host, " ".join(scopes), url, refresh=refresh)
            if nxt is None or (nxt == auth and not refresh):
                return  # nothing new to send
            auth = nxt
        yield auth  # the third and last send; its answer is final whatever it is

    # -- tokens -------------------------------------------------------------------------------------

    def _token(self, registry: str, api_host: str, ch: Challenge, scope: str, cred: Credential | None,
               *, refresh: bool) -> str | None:
        realm_text = ch.realm or ""
        service = ch.params.get("service", "")
        scopes = sorted(set(scope.split()))
        binding = self.binding(api_host)
        send_cred = cred if (cred and self.gate.refusal(binding, realm_text) is None) else None
        # A token stands only for what paid for it: this registry's credential, or none. Two
        # registries may share a realm and service (one auth server for several) and a scope names
        # only the repository, so without the registry alice's token for one would be sent for
        # bob's credentials on the other; a registry has one credential, so (registry, with or
        # without it) says whose token it is.
        key = (api_host, realm_text, service, " ".join(scopes), "credential" if send_cred else "anonymous")
        if refresh:
            self.tokens.drop(key)
        else:
            cached = self.tokens.get(key)
            if cached:
                return cached
        try:
            realm = http_url(realm_text, what="token realm")
        except ProtocolError as exc:
            raise Unauthorized(f"registry {registry} sent a Bearer challenge without a usable realm: {exc}",
                               status=401) from None
        why = self.gate.private_refusal(api_host, realm)
        if why:
            raise Unauthorized(f"refusing the token realm of {why}", status=401, url=redact_url(realm))
        body = self._fetch_token(registry, realm, service, scopes, send_cred)
        token = bearer_token(body.get("token") or body.get("access_token"), what=f"the token server for {registry}")
        if token is None:
            raise Unauthorized(f"the token server for {registry} answered without a token", status=401)
        self.tokens.put(key, token, body.get("expires_in"))
        return token

    def _fetch_token(self, registry: str, realm: str, service: str, scopes: list[str],
                     cred: Credential | None) -> dict:
        if cred and cred.identity_token:
            # OAuth2 refresh-token grant; registries without it answer 404/401/400/405.
            form = {"grant_type": "refresh_token", "refresh_token": cred.identity_token,
                    "service": service, "client_id": "registry-explorer"}
            if scopes:
                form["scope"] = " ".join(scopes)
            resp = self._send_token("POST", realm, {"Content-Type": "application/x-www-form-urlencoded"}, form, None)
            if resp.status == 200:
                return token_body(resp)
            resp.close()
            if resp.status not in (404, 401, 400, 405):
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
        resp = self._send_token("GET", realm, headers, None, params)
        if resp.status != 200:
            self._raise_token_error(registry, realm, resp, cred)
        return token_body(resp)

    def _raise_token_error(self, registry: str, realm: str, resp: Response, cred: Credential | None):
        errors = read_errors(resp)
        who = "your credentials were rejected" if cred else "anonymous access was refused"
        cls = Denied if resp.status == 403 else Unauthorized
        raise cls(
            f"token server {redact_url(realm)} answered {resp.status} for {registry}: {who}."
            + ("" if cred else CRED_HINT.format(host=registry)),
            status=resp.status, errors=errors, method="GET", url=redact_url(realm),
        )


def token_body(resp: Response) -> dict:
    """Read a token response (capped) and record only its redacted form and the token's claims."""
    raw = resp.read_all(TOKEN_LIMIT, "token response")
    try:
        obj = jsontext.loads(raw)
    except ValueError:
        raise Unauthorized("the token response is not JSON", status=resp.status) from None
    body = obj if isinstance(obj, dict) else {}
    ex = resp.exchange
    if ex is not None:
        ex.response_body = redact_body(body)
        tok = body.get("token") or body.get("access_token")
        ex.token_claims = decode_jwt(tok) if isinstance(tok, str) else None
    return body
