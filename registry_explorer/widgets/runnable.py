"""Commands that run as shown: the authentication a replay needs, taken from what the client really did.

Every command the Explorer shows (the descriptor card's curl and skopeo lines, the HTTP tab's curl)
must run in bash against the registry it came from, with only the variables it names exported. On an
open registry that is the bare command; behind a token server it needs the token request first, as
`TOKEN=$(curl ...)`. That request is the one in the client's own trace (redacted: the password is
`$PASSWORD`, the token `$TOKEN`), for the same repository scope, so nothing here invents a URL a
registry did not send. No ipywidgets here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ..html.links import Replay

__all__ = ["exchange_script", "replay_for"]

# /v2/<name>/manifests|blobs|tags/... : the repository a request is about (names may hold slashes).
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")


def _scopes(url: str) -> list[str]:
    return [s for v in parse_qs(urlsplit(url).query).get("scope", []) for s in v.split()]


def _repository_of(url: str) -> str | None:
    m = _REPO_PATH.match(urlsplit(url).path)
    return m.group("name") if m else None


def _token_exchange(trace, repository: str | None, before: int | None = None):
    """The latest token request (before exchange `before`) for `repository`'s pull scope (None: no scope)."""
    best = None
    for ex in trace:
        if ex.purpose != "token" or ex.status != 200 or (before is not None and ex.seq >= before):
            continue
        scopes = _scopes(ex.url) + (ex.form or {}).get("scope", "").split()
        wanted = (repository is None and not scopes) or any(
            s.startswith(f"repository:{repository}:") and "pull" in s.rsplit(":", 1)[-1].split(",") for s in scopes)
        if wanted:
            best = ex
    return best


def _expects(names: tuple[str, ...], host: str) -> str:
    account = " (your account on " + host + ")" if "USERNAME" in names else ""
    return "# expects " + " ".join(f"${n}" for n in names) + account


def replay_for(client, ref) -> Replay:
    """How the card of `ref` authenticates its commands: anonymous, Basic, or a bearer token (with its request)."""
    if ref is None:
        return Replay()
    trace = client.trace  # both sources have one (a layout's holds only its cache hits)
    host = getattr(ref, "api_host", "") or getattr(ref, "registry", "")
    used = [ex for ex in trace if urlsplit(ex.url).netloc == host and _repository_of(ex.url) == ref.repository
            and ex.status is not None and ex.status < 400]
    scheme = (used[-1].auth_scheme or "").lower() if used else ""
    if scheme == "basic":
        return Replay((_expects(("USERNAME", "PASSWORD"), host),), ' -u "$USERNAME:$PASSWORD"',
                      ' --creds "$USERNAME:$PASSWORD"')
    if scheme == "bearer":
        token = _token_exchange(trace, ref.repository)
        if token is None:
            return Replay()
        names = token.curl_variables()
        lines = ((_expects(names, host),) if names else ()) + (token.as_curl(assign_token=True),)
        creds = ' --creds "$USERNAME:$PASSWORD"' if "USERNAME" in names else ""
        return Replay(lines, ' -H "Authorization: Bearer $TOKEN"', creds)
    return Replay()


def exchange_script(trace, seq: int) -> str:
    """Exchange `seq` of `trace` as lines that run in bash: the token request it needs first, then its curl."""
    ex = next((x for x in trace if x.seq == seq), None)
    if ex is None:
        return ""
    if ex.status is None and ex.origin != "cache":
        # Nothing answered (the https probe of a plain-http registry, a refused connection): a curl of
        # it would only fail the same way, so the tab says what happened instead of showing one.
        reason = (ex.error or "no response").split(":")[0]
        return f"# {ex.method} {ex.url}: no response ({reason}); nothing to replay"
    lines: list[str] = []
    needs = set(ex.curl_variables())
    if "TOKEN" in needs and ex.purpose != "token":
        repository = _repository_of(ex.url)
        token = _token_exchange(trace, repository, before=seq) or _token_exchange(trace, repository)
        if token is not None:
            needs |= set(token.curl_variables())
            needs.discard("TOKEN")
            lines.append(token.as_curl(assign_token=True))
    host = urlsplit(ex.url).netloc
    order = [n for n in ("USERNAME", "PASSWORD", "TOKEN") if n in needs]
    head = [_expects(tuple(order), host)] if order else []
    return "\n".join([*head, *lines, ex.as_curl(assign_token=ex.purpose == "token")])
