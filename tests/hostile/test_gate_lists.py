"""Issue 21, class 6 (continued): token caches and paginated lists, the gate's two memories.

A token is bought with one registry's credential (or none) and must never be sent for another's,
even when two registries share one auth server (realm and service) and the scope, which names only
the repository, is the same. A paginated list (tags, catalog, referrers) must end on a cycle - a
link back to the first page, A -> B -> A, the same page under another URL, the same rows under
fresh URLs - without listing a row twice.
"""

from __future__ import annotations

import json

import pytest
from helpers.gate_worlds import hosts, resolver
from helpers.hostile import OCI_INDEX, OCI_MANIFEST, basic, bounded, fake_dns, outcome, sha256  # noqa: F401
from helpers.hostile_hosts import World

import registry_explorer as rx
from registry_explorer.http.credentials import CredentialStore

pytestmark = pytest.mark.usefixtures("fake_dns")


def _shared_realm_world(w: World, tokens: dict[str, str]):
    """Two registries share one realm and service; the realm issues a token per Basic identity (or anonymous)."""
    def realm(h, s):
        auth = s.header("Authorization") or ""
        who = next((u for u, p in (("alice", "pw-alice-UNLIKELY"), ("bob", "pw-bob-UNLIKELY"))
                    if auth == f"Basic {basic(u, p)}"), "anonymous")
        return h.json(200, {"token": tokens[who], "expires_in": 300})

    def registry(name: str):
        def respond(h, s):
            got = (s.header("Authorization") or "").removeprefix("Bearer ")
            if got not in tokens.values():
                chal = f'Bearer realm="{w.url("realm", "/token")}",service="shared"'
                return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": chal})
            if s.path == "/v2/":
                return h.json(200, {})
            who = next(k for k, v in tokens.items() if v == got)
            h.json(200, {"name": "repo", "tags": [f"seen-by-{name}-as-{who}"]})
        return respond
    w.handlers["realm"] = realm
    w.handlers["a"] = registry("a")
    w.handlers["b"] = registry("b")


ORDERS = {
    "credentialed-then-anonymous": (("a", "alice"), ("b", None)),
    "anonymous-then-credentialed": (("b", None), ("a", "alice")),
    "two-users-same-realm": (("a", "alice"), ("b", "bob")),
    "two-users-reversed": (("b", "bob"), ("a", "alice")),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_tokens_never_stand_in_for_each_other_across_registries(order):
    """Registries a and b share realm and service (and the repository name, so the scope is the same)."""
    tokens = {"alice": "tok-alice-UNLIKELY", "bob": "tok-bob-UNLIKELY", "anonymous": "tok-anon-UNLIKELY"}
    with bounded(10), hosts("a", "b", "realm") as w:
        _shared_realm_world(w, tokens)
        creds = {w.host(r): (u, f"pw-{u}-UNLIKELY") for r, u in ORDERS[order] if u}
        c = rx.Client(credentials=creds, docker_config={}, insecure=[w.host(n) for n in ("a", "b", "realm")],
                      retries=0, timeout=5, cache=False)
        c.transport.gate.resolve = resolver(("a.test", "b.test", "realm.test"))
        seen = {}
        for reg, user in ORDERS[order]:
            got, exc = outcome(lambda reg=reg: c.tags(f"{w.host(reg)}/repo"))
            assert exc is None, f"{reg}: {exc!r}"
            seen[reg] = (got, user)
    for reg, (got, user) in seen.items():
        assert got == [f"seen-by-{reg}-as-{user or 'anonymous'}"], f"{reg} was sent another identity's token: {got}"


@pytest.mark.parametrize("first_with", [True, False], ids=["credentials-then-none", "none-then-credentials"])
def test_one_registry_anonymous_and_credentialed_tokens_never_stand_in(first_with):
    """The same registry asked with and then without its credential (logged out, a helper that failed)."""
    tokens = {"alice": "tok-alice-UNLIKELY", "bob": "tok-bob-UNLIKELY", "anonymous": "tok-anon-UNLIKELY"}
    with bounded(10), hosts("a", "b", "realm") as w:
        _shared_realm_world(w, tokens)
        c = rx.Client(docker_config={}, insecure=[w.host(n) for n in ("a", "realm")], retries=0, timeout=5,
                      cache=False)
        c.transport.gate.resolve = resolver(("a.test", "realm.test"))
        stores = {True: CredentialStore({w.host("a"): ("alice", "pw-alice-UNLIKELY")}), False: CredentialStore({})}
        got = []
        for with_cred in (first_with, not first_with):
            c.transport.auth.credentials = stores[with_cred]
            got.append(outcome(lambda: c.tags(f"{w.host('a')}/repo")))
    expect = ["seen-by-a-as-alice", "seen-by-a-as-anonymous"]
    if not first_with:
        expect.reverse()
    assert [exc for _, exc in got] == [None, None], got
    assert [result for result, _ in got] == [[e] for e in expect], "one kind of token stood in for the other"


# -- pagination cycles --------------------------------------------------------------------------------


def _paged(kind: str, pages: dict[str, tuple[list[str], str | None]], first: str):
    """A registry whose list `kind` is served as `pages` (query -> (rows, next query)); the first request
    (`?n=...`, no `last`) gets page `first`. Rows are tag names, repository names or referrer digests."""
    def respond(h, s):
        path, _, query = s.path.partition("?")
        if path == "/v2/":
            return h.json(200, {})
        key = first if ("last=" not in query and "page=" not in query) else query
        rows, nxt = pages.get(key, ([], None))
        headers = {}
        if nxt is not None:
            headers["Link"] = f'<{nxt}>; rel="next"'
        if kind == "referrers":
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": sha256(r.encode()), "size": 3, "artifactType": "x/y"}
                for r in rows]}).encode()
            return h.reply(200, body, {"Content-Type": OCI_INDEX, **headers})
        field = "repositories" if kind == "catalog" else "tags"
        h.reply(200, json.dumps({field: rows, "name": "repo"}).encode(), {"Content-Type": "application/json", **headers})
    return respond


SUBJECT = sha256(b"subject")
PATHS = {"tags": "/v2/repo/tags/list", "catalog": "/v2/_catalog", "referrers": f"/v2/repo/referrers/{SUBJECT}"}


def _cycles(kind: str) -> dict[str, tuple[dict, str, int]]:
    """name -> (pages, the first page's key, the most page requests an honest stop needs)."""
    p = PATHS[kind]
    first = "n=1000" if kind != "referrers" else ""  # what the client asks for first (PAGE_SIZE)
    return {
        # page 1 -> page 2 -> back to page 1, by the very URL we asked for it
        "back-to-first": ({"A": (["a1", "a2"], f"{p}?last=a2&n=1000"), "last=a2&n=1000": (["b1"], f"{p}?{first}")},
                          "A", 2),
        # the same, with an absolute link
        "back-to-first-absolute": ({"A": (["a1", "a2"], f"{p}?last=a2&n=1000"),
                                    "last=a2&n=1000": (["b1"], "ABSOLUTE" + f"{p}?{first}")}, "A", 2),
        # the first page links to itself
        "first-links-itself": ({"A": (["a1", "a2"], f"{p}?{first}")}, "A", 1),
        # F -> A -> B -> A, A reached by a link
        "A-B-A": ({"F": (["f1"], f"{p}?last=f1&n=1000"), "last=f1&n=1000": (["a1"], f"{p}?last=a1&n=1000"),
                   "last=a1&n=1000": (["b1"], f"{p}?last=f1&n=1000")}, "F", 3),
        # F -> A -> B -> A', A' being A's URL with its parameters in another order
        "A-B-A-reordered": ({"F": (["f1"], f"{p}?last=f1&n=1000"), "last=f1&n=1000": (["a1"], f"{p}?last=a1&n=1000"),
                             "last=a1&n=1000": (["b1"], f"{p}?n=1000&last=f1"),
                             "n=1000&last=f1": (["a1"], f"{p}?last=a1&n=1000")}, "F", 4),
        # the same rows again and again, under a fresh URL each time
        "same-rows-new-urls": ({"A": (["a1", "a2"], f"{p}?last=x1&n=1000"), **{
            f"last=x{i}&n=1000": (["a1", "a2"], f"{p}?last=x{i + 1}&n=1000") for i in range(1, 40)}}, "A", 2),
    }


def _case_ids():
    return [(k, c) for k in PATHS for c in _cycles(k)]


@pytest.mark.parametrize(("kind", "case"), _case_ids(), ids=[f"{k}-{c}" for k, c in _case_ids()])
def test_pagination_cycles_stop_without_repeating_rows(kind, case):
    """A cycle ends the list: every distinct row once, no page asked for again, no error."""
    pages, first, most = _cycles(kind)[case]
    with bounded(10), hosts("registry") as w:
        base = w.url("registry", "")
        pages = {q: (rows, nxt.replace("ABSOLUTE", base) if nxt else nxt) for q, (rows, nxt) in pages.items()}
        w.handlers["registry"] = _paged(kind, pages, first)
        reg = w.host("registry")
        c = rx.Client(docker_config={}, insecure=[reg], retries=0, timeout=5, cache=False)
        call = {"tags": lambda: c.tags(f"{reg}/repo"), "catalog": lambda: c.catalog(reg),
                "referrers": lambda: c.referrers(f"{reg}/repo@{SUBJECT}")}[kind]
        got, exc = outcome(call)
        asked = w.servers["registry"].count(lambda s: s.path.startswith(PATHS[kind]))
    assert exc is None, f"a cycle is the end of the list, not an error: {exc!r}"
    rows = [d.digest for d in got] if kind == "referrers" else got
    assert len(rows) == len(set(rows)), f"rows repeated: {len(rows)} rows, {len(set(rows))} distinct"
    every = {r for rs, _ in pages.values() for r in rs}
    assert set(rows) == ({sha256(r.encode()) for r in every} if kind == "referrers" else every)
    assert asked <= most, f"{asked} page requests; {most} pages were distinct"
