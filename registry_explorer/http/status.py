"""Status codes to errors: what the registry said, as `NotFound`, `Unauthorized`, `Denied`, ...

The OCI distribution spec's error body (`{"errors": [{"code", "message", "detail"}]}`,
spec section "Error Codes") is parsed for the message; it is read with a cap, because it is
only there to be shown. Messages say what to do next, and never contain a credential.
"""

from __future__ import annotations

from ..core import jsontext
from ..core.errors import ConnectionFailed, Denied, NotFound, ProtocolError, RegistryError, TooLarge, Unauthorized
from ..core.redact import redact_url
from .challenge import parse_challenges
from .response import Response

# Error bodies are only read to show the OCI error list; cap them.
ERROR_BODY_LIMIT = 64 << 10

CRED_HINT = (
    " To authenticate, pass rx.Client(credentials={{'{host}': ('user', 'password')}}), "
    "or log in with `docker login {host}` so the docker config has credentials."
    # Docker Hub, GHCR and distribution's token mode hide unknown repositories from anonymous
    # users behind the same 401 (`docker pull` says "does not exist or may require docker login").
    " If the repository should be public, check its name: registries also answer 401 for one that does not exist."
)


def read_errors(resp: Response) -> list[dict]:
    """Parse `{"errors": [...]}` from an error body (capped); [] when absent or not JSON."""
    try:
        raw = resp.read_all(ERROR_BODY_LIMIT, "error body")
    except (TooLarge, ConnectionFailed, ProtocolError):
        return []
    try:
        obj = jsontext.loads(raw)
    except ValueError:
        return []
    errs = obj.get("errors") if isinstance(obj, dict) else None
    return [e for e in errs if isinstance(e, dict)] if isinstance(errs, list) else []


def raise_for(method: str, url: str, resp: Response, registry: str, *, has_credentials: bool,
              withheld: str | None) -> None:
    """Raise the error for a status >= 400; `withheld` says why credentials that exist were not sent."""
    errors = read_errors(resp)
    status = resp.status
    detail = "; ".join(
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors
    ) or resp.reason or ""
    where = f"{method} {redact_url(url)}"
    common = {"status": status, "errors": errors, "method": method, "url": redact_url(url)}
    if status == 404:
        raise NotFound(f"not found: {where} ({detail})", **common)
    if status == 401:
        if has_credentials and withheld:
            hint = f" Credentials for {registry} exist but were not sent: {withheld}."
        elif has_credentials:
            hint = f" The credentials for {registry} were rejected or lack access."
        else:
            hint = CRED_HINT.format(host=registry)
        header = resp.headers.get("WWW-Authenticate")
        usable = [c for c in parse_challenges(header) if c.scheme == "basic" or (c.scheme == "bearer" and c.realm)]
        if header and not usable:
            hint = (f" The registry's WWW-Authenticate header is not a Bearer or Basic challenge we can "
                    f"answer: {header[:200]!r}.") + hint
        raise Unauthorized(f"unauthorized: {where} ({detail}).{hint}", **common)
    if status == 403:
        why = ("your account lacks access" if has_credentials else
               "anonymous access is not allowed, or the repository does not exist (Docker Hub answers "
               "'denied' for both)")
        raise Denied(f"denied: {where} ({detail}); {why}", **common)
    raise RegistryError(f"registry error {status}: {where} ({detail})", **common)
