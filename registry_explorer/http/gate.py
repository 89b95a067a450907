"""The credential gate: one function decides whether a secret may go to a URL.

A secret (a Basic password, a Bearer token, an identity token, a credential helper's output)
is bound to the registry `host:port` it was configured or found for. Servers name many URLs
we may be sent to - `Location`, `Link`, the challenge `realm` - and any of them may point at a
host that should never see the secret. Every outgoing request that would carry a secret asks
`Gate.refusal(binding, url)` first; there is no other path.

=====  ==================================================================  ========
rule   the URL ...                                                         secret?
=====  ==================================================================  ========
R1     is on the registry's own host:port (the same name on another port   yes*
       is another host)
R2     is the realm named by the registry's OWN challenge (a challenge     yes*
       from a host the registry redirected us to is never adopted), for
       a token request; token requests never follow redirects
R3     is any other host: a redirect target (even one that happens to be  no
       the realm's URL), a Link on another host, a realm named by
       someone else
R4     uses plain http, unless the registry is listed in insecure= (the    no
       user's opt-in to http credentials) and that exact host:port is
       the registry, loopback, or listed too  (applies to R1 and R2);
       a redirect from https to http is refused at every hop
R5     is a private, loopback or link-local address while the registry     no
       is public, unless allow_private_redirects=True  (R1 and R2 alike)
=====  ==================================================================  ========

(*) if R4 and R5 allow it. An anonymous token is no one's secret: only R3 and R5 apply to it.
R5 also forbids *contacting* such a realm or redirect target at
all: it is the SSRF guard, and a realm is as much a server-chosen URL as a Location.

At depth (tests/hostile/test_gate_depth.py, test_gate_lists.py):
- Redirect chains: every hop is judged against the registry, never against the hop before it.
  `Authorization` stays only while the chain is on the registry's own host:port (R1); dropped at
  the first host change, it is never added back, even when a later hop returns to the registry.
  R4's downgrade refusal and R5 apply to every hop, not only the first.
- Names: a name is private when ANY address it resolves to is (one public and one private answer
  count as private). Only `localhost` and names ending in `.localhost` are loopback by name
  (RFC 6761 section 6.3): `notlocalhost` and `localhost.evil.test` are resolved like any name.
- Tokens are cached per (registry, realm, service, scope, credential-or-anonymous): an anonymous
  token and a credentialed one never stand in for each other, nor do two registries' tokens when
  they share a realm and service.
- Paginated lists end at a page already read (the first page included, a page known by its host,
  path and query pairs in any order) or at a page whose rows were all listed already.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .values import netloc


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IPs (with or without a port), judged by the name alone."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def system_resolve(host: str) -> list[str]:
    """The IP addresses `host` resolves to ([] when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError, ValueError):
        return []
    return [info[4][0].split("%", 1)[0] for info in infos]


def is_private_host(host: str, resolve: Callable[[str], list[str]] | None = None) -> bool:
    """True when `host` is, or resolves to, a loopback, private, link-local or otherwise non-public address."""
    name = host.strip("[]").lower()
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addrs = [ipaddress.ip_address(name)]
    except ValueError:
        addrs = []
        for text in (resolve or system_resolve)(name):
            try:
                addrs.append(ipaddress.ip_address(text))
            except ValueError:
                continue
    return any(not a.is_global or a.is_loopback or a.is_link_local or a.is_private for a in addrs)


@dataclass(frozen=True)
class Binding:
    """Who a secret belongs to: the registry's API `host:port`, and the realm its own challenge named."""

    host: str
    realm: str | None = None


class Gate:
    """Applies the rules of the module docstring; `refusal()` returns None (allowed) or the reason."""

    def __init__(self, insecure: Iterable[str] = (), *, allow_private: bool = False,
                 resolve: Callable[[str], list[str]] | None = None):
        self.insecure = frozenset(h.lower() for h in insecure)
        self.allow_private = allow_private
        # The resolver used only to classify addresses as public or private (tests replace it).
        self.resolve = resolve or system_resolve

    def plain_http_allowed(self, host_port: str) -> bool:
        """R4: plain http is acceptable for this exact host:port (loopback, or named in insecure=)."""
        return host_port.lower() in self.insecure or is_loopback(host_port)

    def private_refusal(self, registry_host: str, url: str) -> str | None:
        """R5: why `url` must not be contacted on behalf of `registry_host` (None: it may be)."""
        if self.allow_private:
            return None
        target = urlsplit(url).hostname or ""
        origin = urlsplit(f"//{registry_host}").hostname or ""
        if self.is_private(origin) or not self.is_private(target):
            return None
        return (f"public registry {registry_host} to private address {netloc(url)}; "
                "pass allow_private_redirects=True if this is intended")

    def is_private(self, host: str) -> bool:
        """Whether `host` is private for rule R5 (a method, so tests can make 127.0.0.1 look public)."""
        return is_private_host(host, self.resolve)

    def refusal(self, binding: Binding, url: str, *, secret: bool = True) -> str | None:
        """Why the secret bound to `binding` must not go to `url`, or None when it may (rules R1-R5).

        `secret=False` asks for an anonymous token, which only R3 and R5 restrict.
        """
        parts = urlsplit(url) if netloc(url) else None
        target = netloc(url)
        if parts is None:
            return f"{url[:60]!r} is not a well-formed URL"
        own = target == binding.host.lower()
        realm = binding.realm is not None and _same_endpoint(url, binding.realm)
        if not (own or realm):
            return f"{target} is not {binding.host} nor the realm its challenge named (R3)"
        if realm and not own:
            why = self.private_refusal(binding.host, url)
            if why:
                return why + " (R5)"
        if not secret:
            return None
        if parts.scheme != "https" and not (binding.host.lower() in self.insecure
                                            and self.plain_http_allowed(target)):
            listed = binding.host if binding.host.lower() not in self.insecure else target
            return (f"{target} is plain http and {listed} is not listed in insecure= (R4); "
                    f"add {listed!r} to insecure= if you trust this network")
        return None


def _same_endpoint(url: str, realm: str) -> bool:
    """The same scheme, host:port and path as the realm (the query - service, scope - may differ)."""
    try:
        a, b = urlsplit(url), urlsplit(realm)
    except ValueError:  # a malformed realm (a bad IPv6 literal) is nobody's endpoint
        return False
    return (a.scheme, netloc(url), a.path) == (b.scheme, netloc(realm), b.path)
