"""Redaction: the one path every shown URL, header, body and message takes, so no secret is ever shown.

It sits at the bottom of the package (it imports nothing of ours), so errors, the trace, the HTML
views, the HTTP layer and the doors all import it downwards. What counts as a secret:
- credentials: Authorization/Cookie values, userinfo in URLs and references (`alice:PW@host`),
  `Bearer`/`Basic` values and JWT signatures written into text;
- capabilities a server hands us: pre-signed storage URLs (S3 `X-Amz-Signature`, GCS, Azure SAS
  `sig`), `token=`-style parameters in queries, fragments and free text, token response bodies;
- every secret this process actually holds (`remember`): passwords, identity tokens and
  credential-helper output as they are read, and every Bearer token as it is issued, so an error
  body that echoes one back is scrubbed even when nothing about it looks secret.

`redact_text` is the function for free text (error messages, log records, header values); the
others are for structured values. All are idempotent: redacting twice changes nothing more.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"
# Headers whose values are credentials or session state (RFC 9110 section 11.6.2, 11.7.2; cookies).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"})
# Headers whose whole value is one URL (RFC 9110 sections 10.2.2 and 8.7), possibly relative.
URL_HEADERS = frozenset({"location", "content-location"})
# JSON keys of token responses (Docker token spec, OAuth2) and of config files that hold secrets.
SECRET_BODY_KEYS = frozenset({"token", "access_token", "refresh_token", "id_token", "password", "secret",
                              "identitytoken", "auth", "registrytoken"})
# Query parameters that carry secrets: pre-signed storage URLs (S3 X-Amz-Signature, GCS, Azure SAS `sig`).
_SECRET_QUERY_WORDS = ("token", "password", "passwd", "secret", "signature", "credential", "sig", "key", "auth")


def _secret_key(name: Any) -> bool:
    """Whether a field, parameter or JSON key of this name holds a secret."""
    low = str(name).lower()
    return low in SECRET_BODY_KEYS or any(w in low for w in _SECRET_QUERY_WORDS)


# An absolute URL in free text (trailing punctuation of the sentence is not part of it).
_URL_RE = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]*[^\s"'<>`).,;:!?\]}]""")
# `user:password@host` without a scheme (pasted into a reference): a ':' before the first '@', and
# after the LAST '@' a registry host by Docker's rule (a '.' or a ':port', `localhost`, `[v6]`), not a
# digest: `repo@sha256:...` is a reference, `foo/b@r` a typo, neither is userinfo.
_USERINFO_RE = re.compile(
    r"""(?<![^\s"'(\[{=,;])(?=[^\s"'<>()\[\]{}@]*:)[^\s"'<>()\[\]{}]+@"""
    r"""(?!(?:sha256|sha384|sha512|blake3)\b|[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Fa-f0-9]{32})"""
    r"""(?=\[|localhost(?![\w.-])|[A-Za-z0-9-]+\.[A-Za-z0-9]|[A-Za-z0-9.-]+:[0-9])""")
# `name=value` (a query or a form in text) and `"name": "value"` (JSON echoed in an error body);
# the value is replaced when the name says secret (see _secret_key). The name is matched as one
# token and tested in Python: a regex alternation inside `[\w.-]*` would backtrack quadratically.
_KV_RE = re.compile(r"""(?<![\w.-])([\w.-]+=)([^\s&"'#;,()<>{}\[\]]+)""")
_JSON_KV_RE = re.compile(r"""("([\w.-]+)"\s*:\s*")([^"]*)(")""")
# A value is long and has a digit or a symbol: "Basic challenge" in a sentence is not a credential.
_SCHEME_RE = re.compile(r"""(?i)\b(Bearer|Basic)\s+(?![A-Za-z_]+=)(?!<redacted>)"""
                        r"""(?=[A-Za-z0-9._~+/=-]*[0-9+/=._~-])[A-Za-z0-9._~+/=-]{12,}""")
# A JWT: its header and claims are safe to show (decode_jwt does), its signature is not.
_JWT_RE = re.compile(r"\b(eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.)[A-Za-z0-9_-]{8,}")

# -- the secrets this process holds -----------------------------------------------------------------
# Shorter values would redact ordinary words of a message; patterns above still catch them in place.
MIN_REMEMBERED = 6
# Tokens rotate; the newest few hundred are the ones that can still appear in an answer.
MAX_REMEMBERED = 512
_KNOWN: OrderedDict[str, None] = OrderedDict()
_KNOWN_LOCK = threading.Lock()
_KNOWN_SNAPSHOT: tuple[str, ...] = ()


def remember(*secrets: Any) -> None:
    """Add secrets this process holds (a password, a token) to those every redaction scrubs."""
    global _KNOWN_SNAPSHOT
    with _KNOWN_LOCK:
        for s in secrets:
            if isinstance(s, str) and len(s) >= MIN_REMEMBERED and REDACTED not in s:
                for form in {s, quote(s, safe="")}:  # as sent, and as it appears in a URL
                    _KNOWN[form] = None
                    _KNOWN.move_to_end(form)
        while len(_KNOWN) > MAX_REMEMBERED:
            _KNOWN.popitem(last=False)
        # Longest first, so a secret that contains another is replaced whole.
        _KNOWN_SNAPSHOT = tuple(sorted(_KNOWN, key=len, reverse=True))


def _scrub_known(text: str) -> str:
    for s in _KNOWN_SNAPSHOT:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


# -- URLs -------------------------------------------------------------------------------------------


def _kv(m: re.Match) -> str:
    return m.group(1) + "***" if _secret_key(m.group(1)[:-1]) and not m.group(2).startswith("***") else m.group(0)


def _json_kv(m: re.Match) -> str:
    return f"{m.group(1)}{REDACTED}{m.group(4)}" if _secret_key(m.group(2)) else m.group(0)


def _redact_pairs(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        return _KV_RE.sub(_kv, text)
    out = [(k, "***" if _secret_key(k) else
            redact_url(v) if "://" in v else v) for k, v in pairs]
    return urlencode(out, safe="/:*,<>")


def redact_url(url: str) -> str:
    """The URL (absolute or relative) with userinfo dropped and secret-looking query or fragment values as '***'."""
    try:
        parts = urlsplit(str(url))
    except ValueError:  # a malformed IPv6 literal from a hostile server: show nothing of it
        return "<malformed URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = _redact_pairs(parts.query) if parts.query else ""
    fragment = _redact_pairs(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _redact_link(value: str) -> str:
    # RFC 8288: `<URI-reference>; rel="next"`, possibly several, comma-separated.
    return re.sub(r"<([^>]*)>", lambda m: f"<{redact_url(m.group(1))}>", value)


# -- free text ---------------------------------------------------------------------------------------


def redact_text(text: Any, *, known: bool = True) -> str:
    """Free text (a message, a log line, a header value) with every secret the patterns know replaced,
    and (`known=True`) every secret this process holds."""
    s = "" if text is None else str(text)
    if "://" in s:
        s = _URL_RE.sub(lambda m: redact_url(m.group(0)) if ("@" in m.group(0) or "?" in m.group(0)
                                                               or "#" in m.group(0)) else m.group(0), s)
    if "@" in s:
        s = _USERINFO_RE.sub("***@", s)
    if "=" in s:
        s = _KV_RE.sub(_kv, s)
    if '"' in s:
        s = _JSON_KV_RE.sub(_json_kv, s)
    low = s.lower()
    if "bearer" in low or "basic" in low:
        s = _SCHEME_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", s)
    if "eyJ" in s:
        s = _JWT_RE.sub(lambda m: m.group(1) + REDACTED, s)
    return _scrub_known(s) if known else s


def redact_reference(text: Any) -> str:
    """A reference as a user typed it, without the `user:password@` some paste from URLs.

    The password (and each piece of it between '@'s) is remembered, so a parser's message that
    quotes only a fragment of the reference (`digest 'pw@host/repo' must ...`) is scrubbed too.
    """
    s = "" if text is None else str(text)
    for m in _USERINFO_RE.finditer(s if "://" not in s else s.split("://", 1)[1]):
        password = m.group(0)[:-1].partition(":")[2]
        remember(password, *password.split("@"), *password.split("/"))
    return redact_text(s)


# -- structured values -------------------------------------------------------------------------------


def redact_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Headers with secret values replaced; the auth scheme (Bearer/Basic) is kept for teaching.

    URL-valued headers (Location, Content-Location, Link) keep their URL with its secrets replaced,
    so a student still sees where a redirect went; every other value goes through `redact_text`.
    """
    out: dict[str, str] = {}
    for k, v in (headers or {}).items():
        key, value = str(k), str(v)
        low = key.lower()
        if low in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[key] = f"{scheme} {REDACTED}".strip() if low.endswith("authorization") else REDACTED
        elif low in URL_HEADERS:
            out[key] = redact_url(value)
        elif low == "link":
            out[key] = redact_text(_redact_link(value), known=False)
        else:
            out[key] = redact_text(value, known=False)
    return out


def redact_body(obj: Any) -> Any:
    """A JSON body with secret-named fields replaced and every string redacted as text (recursively)."""
    if isinstance(obj, dict):
        return {k: (REDACTED if _secret_key(k) else redact_body(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_body(x) for x in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_form(form: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Form fields of a POST (the OAuth2 token grant) with secret fields replaced."""
    if not form:
        return None
    return {k: (REDACTED if k.lower() in SECRET_BODY_KEYS else redact_text(v)) for k, v in form.items()}
