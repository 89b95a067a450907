"""Redaction: every helper that turns a secret-bearing value into one safe to store or show.

It sits at the bottom of the package (it imports nothing of ours), so the trace, the HTML views
and the HTTP layer all import it downwards. Secrets are replaced before a record is created,
so nothing built from a record (frames, HTML, curl lines) can leak them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"
# Headers whose values are credentials or session state (RFC 9110 section 11.6.2, 11.7.2; cookies).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"})
# JSON keys of token responses (Docker token spec, OAuth2) and of config files that hold secrets.
SECRET_BODY_KEYS = frozenset({"token", "access_token", "refresh_token", "id_token", "password", "secret"})
# Query parameters that carry secrets: pre-signed storage URLs (S3 X-Amz-Signature, GCS, Azure SAS `sig`).
_SECRET_QUERY_WORDS = ("token", "password", "secret", "signature", "credential", "sig", "key")


def redact_url(url: str) -> str:
    """The URL with userinfo and secret-looking query values replaced by '***'."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed IPv6 literal from a hostile server: show nothing of it
        return "<malformed URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    q = [
        (k, "***" if any(w in k.lower() for w in _SECRET_QUERY_WORDS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(q, safe="/:*,"), parts.fragment))


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with secret values replaced; the auth scheme (Bearer/Basic) is kept for teaching."""
    out: dict[str, str] = {}
    for k, v in (headers or {}).items():
        if k.lower() in SECRET_HEADERS:
            scheme = str(v).split(" ", 1)[0] if " " in str(v) else ""
            out[k] = f"{scheme} {REDACTED}".strip() if k.lower().endswith("authorization") else REDACTED
        else:
            out[k] = str(v)
    return out


def redact_body(obj: Any) -> Any:
    """A JSON body with token/password fields replaced (recursively)."""
    if isinstance(obj, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_BODY_KEYS else redact_body(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_body(x) for x in obj]
    return obj


def redact_form(form: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Form fields of a POST (the OAuth2 token grant) with secret fields replaced."""
    if not form:
        return None
    return {k: (REDACTED if k.lower() in SECRET_BODY_KEYS else str(v)) for k, v in form.items()}
