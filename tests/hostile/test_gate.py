"""The credential gate's table (registry_explorer/http/gate.py), one test per row R1-R5.

Issue 10 asks for "one gate, a single function with its tests" and the rules "as a table in the
module docstring, with one test per row". These call `Gate.refusal` directly, so each row is
pinned down apart from the servers of test_credentials.py (which show the rows at work). Each
test has both sides: what the row allows, and what it refuses, so neither a gate that refuses
everything nor one that allows everything passes. No name is ever resolved: the resolver seam
answers with a public address for names, and IP literals are classified by themselves.
"""

from __future__ import annotations

from helpers.hostile import PUBLIC_IP

from registry_explorer.http.gate import Binding, Gate

REGISTRY = "registry.test"
REALM = "https://auth.test/token"


def _gate(insecure=(), *, allow_private: bool = False) -> Gate:
    return Gate(insecure, allow_private=allow_private, resolve=lambda host: [PUBLIC_IP])


def test_R1_own_host_and_port_only():
    """R1: the registry's own host:port gets its secret; the same host on another port does not."""
    gate = _gate()
    own = Binding("registry.test:5000")
    assert gate.refusal(own, "https://registry.test:5000/v2/repo/manifests/latest") is None
    assert gate.refusal(own, "https://REGISTRY.test:5000/v2/") is None, "host names are case-insensitive"
    for other in ("https://registry.test:5001/v2/", "https://registry.test/v2/", "https://registry.test:443/v2/"):
        why = gate.refusal(own, other)
        assert why is not None and "R3" in why, f"{other}: {why!r}"
    plain = Binding(REGISTRY)
    assert gate.refusal(plain, "https://registry.test/v2/") is None
    assert gate.refusal(plain, "https://registry.test:8443/v2/") is not None


def test_R2_the_registrys_own_realm_only():
    """R2: the realm the registry's own challenge named (any query) - not its path on another host."""
    gate = _gate()
    bound = Binding(REGISTRY, realm=REALM)
    assert gate.refusal(bound, REALM + "?service=registry.test&scope=repository:a:pull") is None
    for not_it in ("https://evil.test/token", "https://auth.test:8443/token", "https://auth.test/other",
                   "http://auth.test/token"):
        assert gate.refusal(bound, not_it) is not None, not_it
    # Without a challenge from the registry there is no realm at all: the same URL gets nothing.
    assert gate.refusal(Binding(REGISTRY), REALM) is not None
    # A malformed realm is nobody's endpoint.
    assert gate.refusal(Binding(REGISTRY, realm="https://[::1/token"), "https://auth.test/token") is not None


def test_R3_any_other_host_gets_nothing():
    """R3: a redirect target, a Link on another host or a foreign realm gets no secret, nor a token."""
    gate = _gate()
    bound = Binding(REGISTRY, realm=REALM)
    for url in ("https://storage.test/blob?sig=1", "https://evil.test/v2/repo/tags/list?last=x",
                "https://evil.test/token", "https://registry.test.evil.test/v2/"):
        why = gate.refusal(bound, url)
        assert why is not None and "R3" in why, f"{url}: {why!r}"
        assert gate.refusal(bound, url, secret=False) is not None, f"anonymous token to {url}"
    assert gate.refusal(bound, "not a url") is not None
    # Control: the registry itself passes, with or without a secret.
    assert gate.refusal(bound, "https://registry.test/v2/") is None
    assert gate.refusal(bound, "https://registry.test/v2/", secret=False) is None


def test_R4_plain_http_only_for_listed_or_loopback_hosts():
    """R4: plain http needs the registry in insecure=, and the exact host to be the registry, loopback or listed."""
    bound = Binding(REGISTRY, realm="http://auth.test/token")
    # Not listed: no secret over http, to the registry or its realm.
    unlisted = _gate()
    assert "R4" in (unlisted.refusal(bound, "http://registry.test/v2/") or "")
    assert "R4" in (unlisted.refusal(bound, "http://auth.test/token") or "")
    # The registry listed: its own host over http is fine, its realm on an unlisted host is not.
    registry_only = _gate([REGISTRY])
    assert registry_only.refusal(bound, "http://registry.test/v2/") is None
    why = registry_only.refusal(bound, "http://auth.test/token")
    assert why is not None and "R4" in why and "auth.test" in why, why
    # Both listed: allowed. A loopback realm of a listed registry: allowed.
    assert _gate([REGISTRY, "auth.test"]).refusal(bound, "http://auth.test/token") is None
    loop = Binding("127.0.0.1:5000", realm="http://127.0.0.1:5001/token")
    assert _gate(["127.0.0.1:5000"]).refusal(loop, "http://127.0.0.1:5001/token") is None
    # Listing only the realm does not opt the registry in.
    assert _gate(["auth.test"]).refusal(bound, "http://auth.test/token") is not None
    # An anonymous token is no one's secret: R4 does not apply to it.
    assert unlisted.refusal(bound, "http://registry.test/v2/", secret=False) is None


def test_R5_no_private_address_from_a_public_registry():
    """R5: a public registry's realm on a private, loopback or link-local address gets nothing, unless opted in."""
    gate = _gate()
    for realm in ("https://10.0.0.5/token", "https://127.0.0.1:5001/token", "https://[::1]:5001/token",
                  "https://169.254.169.254/token", "https://localhost/token"):
        why = gate.refusal(Binding(REGISTRY, realm=realm), realm)
        assert why is not None and "R5" in why and "private" in why, f"{realm}: {why!r}"
        assert gate.private_refusal(REGISTRY, realm) is not None, f"{realm} would be contacted"
        assert _gate(allow_private=True).refusal(Binding(REGISTRY, realm=realm), realm) is None, realm
    # A public realm is fine; so is a private realm of a private registry (a lab setup).
    assert gate.refusal(Binding(REGISTRY, realm=REALM), REALM) is None
    assert gate.private_refusal(REGISTRY, REALM) is None
    lab = Binding("10.0.0.1:5000", realm="https://10.0.0.2/token")
    assert gate.refusal(lab, "https://10.0.0.2/token") is None
