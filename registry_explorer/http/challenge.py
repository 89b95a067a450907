"""WWW-Authenticate: what a registry asks for when it answers 401.

RFC 7235 section 4.1: several challenges in one header, quoted strings with escapes and
commas inside quotes, and the token68 form. Real headers from Docker Hub, GHCR, Quay, ECR,
ACR and Harbor are in tests/fixtures/real/api/www-authenticate.json.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Challenge:
    """One auth challenge from WWW-Authenticate: a scheme and its parameters (keys lower-cased)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        """The realm parameter (the token endpoint for Bearer)."""
        return self.params.get("realm")


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN68 = r"[A-Za-z0-9\-._~+/]+=*"
_AUTH_PARAM_RE = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*')
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


def parse_challenges(header: str | None) -> list[Challenge]:
    """Parse a WWW-Authenticate value into challenges, per RFC 7235 section 4.1."""
    out: list[Challenge] = []
    if not header:
        return out
    s, pos, n = header, 0, len(header)
    while pos < n:
        while pos < n and s[pos] in " \t,":
            pos += 1
        if pos >= n:
            break
        m = _SCHEME_RE.match(s, pos)
        if not m:
            break
        scheme = m.group(1)
        pos = m.end()
        params: dict[str, str] = {}
        # token68 form (e.g. `Negotiate abc==`) when no `=`-pair follows.
        t68 = re.compile(rf"\s*({_TOKEN68})\s*(?:,|$)").match(s, pos)
        if t68 and not _AUTH_PARAM_RE.match(s, pos):
            params["token68"] = t68.group(1)
            pos = t68.end()
        else:
            while pos < n:
                pm = _AUTH_PARAM_RE.match(s, pos)
                if not pm:
                    break
                value = pm.group(2)
                value = re.sub(r"\\(.)", r"\1", value) if value is not None else pm.group(3)
                params[pm.group(1).lower()] = value
                pos = pm.end()
                if pos < n and s[pos] == ",":
                    # A comma separates params, or ends this challenge if a new scheme follows.
                    nxt = pos + 1
                    if _AUTH_PARAM_RE.match(s, nxt):
                        pos = nxt
                        continue
                    pos = nxt
                break
        out.append(Challenge(scheme.lower(), params))
    return out
