"""Issue 10, class 1: a credential goes only to its registry, its registry's own realm, over https
unless loopback/insecure, and never from a public registry to a private address.

Each rule has a hostile case (nothing secret reaches the other host; the call fails inside the
error tree) and, where a rule allows something, a control that shows the scenario does reach that
host when it should, so a pass cannot come from a scenario that never ran.
"""

from __future__ import annotations

import pytest
from helpers.hostile import bounded, fake_dns, leaks  # noqa: F401  (fake_dns is a fixture)
from helpers.hostile_hosts import SCENARIOS, SECRETS, run

import registry_explorer as rx

pytestmark = pytest.mark.usefixtures("fake_dns")
BY_NAME = {sc.name: sc for sc in SCENARIOS}


def _authorized(rec) -> int:
    return rec.count(lambda s: s.header("Authorization") is not None)


@pytest.mark.parametrize("kind", ["basic", "bearer"])
@pytest.mark.parametrize("name", ["referrers-link-to-evil", "tags-link-to-evil", "catalog-link-to-evil",
                                  "tags-redirected-then-link", "referrers-redirected-then-link"])
def test_pagination_link_to_another_host_is_refused(name, kind):
    """Links are followed only on the host the first request went to, before any redirect."""
    with bounded(5):
        w, _, result, exc = run(BY_NAME[name], kind)
    assert _authorized(w.servers["registry"]) > 0, "the registry was asked with its credentials"
    evil = w.servers["evil"]
    assert leaks(evil, SECRETS) == []
    assert _authorized(evil) == 0, "a request to the other host carried an Authorization header"
    followed = evil.count(lambda s: "page=2" in s.path or "last=" in s.path)
    assert followed == 0, f"the next link on evil.test was followed ({followed} requests)"
    assert isinstance(exc, rx.RegistryError), f"expected RegistryError, got {exc!r} / {result!r}"
    assert "evil.test" in str(exc) or "host" in str(exc).lower(), f"message does not name the host: {exc}"


@pytest.mark.parametrize("kind", ["basic", "bearer", "identity"])
@pytest.mark.parametrize("name", ["redirect-target-names-own-realm", "redirect-target-names-third-realm"])
def test_challenge_from_a_redirect_target_is_not_adopted(name, kind):
    """Only the registry's own challenge names a realm its secrets may go to (rule 2)."""
    with bounded(5):
        w, client, _, exc = run(BY_NAME[name], kind)
    assert w.servers["evil"].count() > 0, "the registry did redirect to evil.test"
    for host in ("evil", "realm"):
        assert leaks(w.servers[host], SECRETS) == [], f"{host}.test received a secret"
    assert isinstance(exc, rx.RegistryExplorerError), f"{type(exc).__name__} escaped: {exc!r}"
    assert not any(s.path.startswith("/token") and s.header("Authorization") for s in w.servers["evil"].seen), \
        "the redirect target's own realm was asked for a token with credentials"


@pytest.mark.parametrize("kind", ["bearer", "identity"])
def test_plain_http_realm_not_listed_gets_no_credentials(kind):
    """Rule 3: the registry is in insecure=, its realm on another host is not: no secret over http."""
    with bounded(5):
        w, _, _, exc = run(BY_NAME["plain-http-realm-not-insecure"], kind)
    assert leaks(w.servers["realm"], SECRETS) == []
    assert exc is None or isinstance(exc, rx.RegistryExplorerError), f"{type(exc).__name__} escaped: {exc!r}"


@pytest.mark.parametrize("kind", ["bearer", "identity"])
def test_plain_http_realm_listed_as_insecure_gets_credentials(kind):
    """Control for rule 3: list the realm too, and the token request carries the credential."""
    sc = BY_NAME["plain-http-realm-not-insecure"]
    sc_listed = type(sc)(sc.name, sc.setup, sc.call, sc.foreign, sc.kinds, insecure=("registry", "realm"))
    w, _, result, exc = run(sc_listed, kind)
    assert exc is None, f"with the realm listed the pull should work: {exc!r}"
    assert isinstance(result, rx.Manifest)
    assert leaks(w.servers["realm"], SECRETS) != [], "the realm was given the credential"


@pytest.mark.parametrize("kind", ["bearer", "identity"])
def test_public_registry_private_realm_is_not_contacted(kind):
    """Rule 4: a public registry's realm on a loopback address is never contacted."""
    with bounded(5):
        w, _, _, exc = run(BY_NAME["public-registry-private-realm"], kind)
    assert w.servers["registry"].count() > 0
    assert w.servers["realm"].count() == 0, "the private realm was contacted"
    assert isinstance(exc, (rx.Unauthorized, rx.ConnectionFailed)), f"got {exc!r}"
    assert "private" in str(exc).lower() or "realm" in str(exc).lower(), f"message does not say why: {exc}"


def test_private_realm_allowed_when_opted_in():
    """Control for rule 4: allow_private_redirects=True lets the realm be used."""
    w, _, result, exc = run(BY_NAME["public-registry-private-realm"], "bearer", allow_private_redirects=True)
    assert exc is None, f"opting in should allow the private realm: {exc!r}"
    assert isinstance(result, rx.Manifest)
    assert w.servers["realm"].count() > 0


@pytest.mark.parametrize("kind", ["basic", "bearer", "identity"])
def test_redirected_request_carries_no_credentials(kind):
    """A blob redirected to storage on another host is fetched without the registry's credentials."""
    w, _, result, exc = run(BY_NAME["blob-redirect-to-storage"], kind)
    assert exc is None and isinstance(result, bytes) and result, f"the redirected blob is fetched: {exc!r}"
    assert w.servers["evil"].count() == 1
    assert _authorized(w.servers["evil"]) == 0
    assert leaks(w.servers["evil"], SECRETS) == []
