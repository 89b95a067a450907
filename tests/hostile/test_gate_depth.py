"""Issue 21, class 6: the credential gate at depth (registry_explorer/http/gate.py, rules R1-R5).

test_gate.py pins each row of the gate's table with one call; a mutation audit then showed that
changes *between* those calls went unnoticed: which hop of a redirect chain is checked, whether
credentials come back after they were dropped, a name with one public and one private address,
names that merely contain "localhost" (token caches and pagination cycles: test_gate_lists.py).
Here each row is exercised at depth, with real local servers:
`registry.test`, `storage.test`, ... all live on 127.0.0.1 (fake_dns), and the gate's resolver
seam (`client.transport.gate.resolve`) says which names are public, private or both.
"""

from __future__ import annotations

import json
import socket

import pytest
from helpers.gate_worlds import PRIVATE_IP, hosts, resolver, tls_recording_server
from helpers.hostile import (
    OCI_MANIFEST,
    PUBLIC_IP,
    Recorder,
    bounded,
    fake_dns,  # noqa: F401  (a fixture)
    leaks,
    outcome,
    recording_server,
    sha256,
)
from helpers.hostile_hosts import BLOB, PASSWORD, SECRETS, TOKEN, USER, World, guarded, token_endpoint

import registry_explorer as rx
from registry_explorer.http.gate import Binding, Gate, is_loopback, is_private_host, system_resolve

pytestmark = pytest.mark.usefixtures("fake_dns")
BLOB_DESC = rx.Descriptor("application/octet-stream", sha256(BLOB), len(BLOB))


def client(w: World, *, creds: bool = True, insecure=("registry",),
           public=("registry", "storage", "other", "cdn"), mixed=(), **kw) -> rx.Client:
    """A client with the registry's Basic credentials; `public`/`mixed` names as the gate sees them."""
    reg = w.host("registry")
    c = rx.Client(credentials={reg: (USER, PASSWORD)} if creds else None, docker_config={},
                  insecure=[w.host(n) for n in insecure], retries=0, timeout=5, cache=False, **kw)
    c.transport.gate.resolve = resolver(tuple(f"{n}.test" for n in public), tuple(f"{n}.test" for n in mixed))
    return c


def _authorized(rec: Recorder, path: str = "") -> int:
    return rec.count(lambda s: s.header("Authorization") is not None and s.path.startswith(path))


def _redirect(to: str):
    return lambda h, s: h.reply(307, b"", {"Location": to})


def _serve_blob(h, s):
    h.reply(200, BLOB, {"Content-Type": "application/octet-stream"})


def _registry(w: World, kind: str, routes: dict, *, realm: str | None = None):
    """The registry demands its credentials of `kind` (its realm: its own /token); then answers `routes`."""
    def route(h, s):
        for prefix, handler in routes.items():
            if s.path.startswith(prefix):
                return handler(h, s)
        return h.json(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
    w.handlers["registry"] = guarded(kind, lambda: realm or w.url("registry", "/token"), route)


def _blob(w: World, c: rx.Client):
    return outcome(lambda: c.blob(f"{w.host('registry')}/repo", BLOB_DESC))


# -- R1 and R3: credentials stay on the registry's own host:port, and never come back ---------------


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_R1_R3_two_hops_same_registry_then_storage(kind):
    """registry -> same registry -> storage: kept on the second hop, dropped at the first host change."""
    with bounded(10), hosts("registry", "storage") as w:
        _registry(w, kind, {"/v2/repo/blobs/": _redirect("/hop/2"),
                            "/hop/2": _redirect(w.url("storage", "/bucket/blob?X-Amz-Signature=s"))})
        w.handlers["storage"] = _serve_blob
        result, exc = _blob(w, client(w))
    assert exc is None and result == BLOB, f"the chain should end at the blob: {exc!r}"
    assert _authorized(w.servers["registry"], "/hop/2") == 1, "the same-registry hop lost its credentials"
    assert w.servers["storage"].count() == 1
    assert _authorized(w.servers["storage"]) == 0 and leaks(w.servers["storage"], SECRETS) == []


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_R1_same_host_other_port_is_another_host(kind):
    """registry -> registry -> the same name on another port: that port is not the registry (R1)."""
    with bounded(10), hosts("registry", "other") as w:
        other_port = f"http://registry.test:{w.servers['other'].port}/blob"
        _registry(w, kind, {"/v2/repo/blobs/": _redirect("/hop/2"), "/hop/2": _redirect(other_port)})
        w.handlers["other"] = _serve_blob
        result, exc = _blob(w, client(w))
    assert exc is None and result == BLOB, f"{exc!r}"
    assert _authorized(w.servers["registry"], "/hop/2") == 1
    assert _authorized(w.servers["other"]) == 0 and leaks(w.servers["other"], SECRETS) == []


@pytest.mark.parametrize("kind", ["basic", "bearer"])
@pytest.mark.parametrize("back", ["registry", "registry-same-path"])
def test_R3_credentials_dropped_are_never_added_back(kind, back):
    """registry -> storage -> registry (three hops): the way back to the registry carries nothing."""
    with bounded(10), hosts("registry", "storage") as w:
        target = "/back/blob" if back == "registry" else "/v2/repo/blobs/" + BLOB_DESC.digest + "?again=1"

        def blobs(h, s):
            if "again=1" in s.path:
                return _serve_blob(h, s)
            return _redirect(w.url("storage", "/bounce"))(h, s)

        def unguarded(h, s):  # the registry answers the way back without asking for credentials
            if s.path.startswith("/back/") or "again=1" in s.path:
                return _serve_blob(h, s)
            return guarded(kind, lambda: w.url("registry", "/token"),
                           lambda h, s: blobs(h, s) if s.path.startswith("/v2/repo/blobs/") else h.json(404, {}))(h, s)
        w.handlers["registry"] = unguarded
        w.handlers["storage"] = _redirect(w.url("registry", target))
        result, exc = _blob(w, client(w))
    assert exc is None and result == BLOB, f"{exc!r}"
    came_back = [s for s in w.servers["registry"].seen if s.path.startswith("/back/") or "again=1" in s.path]
    assert len(came_back) == 1, "the chain did come back to the registry"
    assert came_back[0].header("Authorization") is None, "credentials were added back after a foreign hop"
    assert _authorized(w.servers["storage"]) == 0 and leaks(w.servers["storage"], SECRETS) == []


@pytest.mark.parametrize("kind", ["basic", "bearer"])
def test_R2_a_challenge_two_hops_away_is_never_adopted(kind):
    """registry -> storage -> cdn, which answers 401 naming its own realm: never the registry's realm (R2)."""
    with bounded(10), hosts("registry", "storage", "cdn") as w:
        _registry(w, kind, {"/v2/repo/blobs/": _redirect(w.url("storage", "/hop/2"))})
        w.handlers["storage"] = _redirect(w.url("cdn", "/blob"))

        def cdn(h, s):
            if s.path.startswith("/token"):
                return token_endpoint(h, s, "evil-issued-token")
            chal = f'Bearer realm="{w.url("cdn", "/token")}",service="cdn"'
            return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": chal})
        w.handlers["cdn"] = cdn
        _, exc = _blob(w, client(w, insecure=("registry", "storage", "cdn")))
    assert w.servers["cdn"].count(lambda s: s.path == "/blob") >= 1, "the chain reached the cdn"
    assert w.servers["cdn"].count(lambda s: s.path.startswith("/token")) == 0, "the cdn's realm was asked"
    for name in ("storage", "cdn"):
        assert _authorized(w.servers[name]) == 0 and leaks(w.servers[name], SECRETS) == [], name
    assert isinstance(exc, rx.RegistryExplorerError), f"{exc!r}"


def test_R3_a_redirect_to_the_realm_endpoint_is_a_redirect_target():
    """registry -> registry -> the realm's own URL: a redirect target gets nothing, realm or not (R3, not R2)."""
    with bounded(10), hosts("registry", "realm") as w:
        realm = w.url("realm", "/token")
        _registry(w, "bearer", {"/v2/repo/blobs/": _redirect("/hop/2"), "/hop/2": _redirect(realm)}, realm=realm)

        def realm_server(h, s):
            if "scope=" in s.path or "service=" in s.path:
                return token_endpoint(h, s)  # a token request: the realm may see the Basic credentials (R2)
            return _serve_blob(h, s)  # the redirected blob GET
        w.handlers["realm"] = realm_server
        result, exc = _blob(w, client(w, insecure=("registry", "realm"), public=("registry", "realm")))
    assert exc is None and result == BLOB, f"{exc!r}"
    assert w.servers["realm"].count(lambda s: "scope=" in s.path) >= 1, "the realm issued the token (R2 holds)"
    redirected = [s for s in w.servers["realm"].seen if "scope=" not in s.path and "service=" not in s.path]
    assert len(redirected) == 1, "the chain reached the realm's URL"
    assert redirected[0].header("Authorization") is None, "the registry's token went to a redirect target"
    assert TOKEN.encode() not in redirected[0].raw


# -- R4: no downgrade at any hop ------------------------------------------------------------------------


@pytest.mark.parametrize("hop", [2, 3])
def test_R4_no_downgrade_to_plain_http_at_any_hop(hop, tmp_path):
    """https registry -> (https registry ->) ... -> plain http: refused at whichever hop it comes."""
    w = World()
    with bounded(10), recording_server(lambda h, s: w.respond("plain", h, s)) as plain, \
            tls_recording_server(lambda h, s: w.respond("registry", h, s), tmp_path / "certs") as reg:
        w.servers.update(registry=reg, plain=plain)
        down = f"http://registry.test:{plain.port}/blob"
        hops = {"/v2/repo/blobs/": _redirect("/hop/2" if hop > 2 else down), "/hop/2": _redirect(down)}
        _registry(w, "basic", hops)
        w.handlers["plain"] = _serve_blob
        c = client(w)  # registry.test listed insecure: https without verification, http allowed by R4
        result, exc = _blob(w, c)
    assert reg.count(lambda s: s.path.startswith("/v2/repo/blobs/")) >= 1, "the TLS registry was asked"
    assert plain.count() == 0, "the plain-http hop was contacted"
    assert isinstance(exc, rx.ConnectionFailed) and "plain http" in str(exc), f"{exc!r} / {result!r}"


# -- R5: the private-address guard at every hop, and mixed DNS answers -------------------------------


CHAINS = {
    # name: (hops after the registry's first answer, the host that must never be contacted)
    "storage-then-private": (["storage"], "private"),
    "same-registry-then-private": (["registry"], "private"),
    "two-storages-then-private": (["storage", "cdn"], "private"),
    "storage-then-mixed-dns": (["storage"], "mixed"),
    "storage-then-ip-literal": (["storage"], "loopback-ip"),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_R5_private_guard_applies_to_every_hop(chain):
    """A public registry's chain that reaches a private (or half-private) address stops before contacting it."""
    via, bad = CHAINS[chain]
    names = ["registry", "storage", "cdn", "private", "mixed", "loopback-ip"]
    with bounded(10), hosts(*names) as w:
        def url(name: str, path: str) -> str:
            if name == "loopback-ip":
                return f"http://127.0.0.1:{w.servers[name].port}{path}"
            return w.url(name, path)

        steps = [(n, f"/hop/{i}") for i, n in enumerate(via, start=2)] + [(bad, "/blob")]
        reg_routes = {"/v2/repo/blobs/": _redirect(url(*steps[0]))}
        for (name, path), (nxt_name, nxt_path) in zip(steps, steps[1:]):
            if name == "registry":
                reg_routes[path] = _redirect(url(nxt_name, nxt_path))
            else:
                w.handlers[name] = _redirect(url(nxt_name, nxt_path))
        _registry(w, "basic", reg_routes)
        w.handlers[bad] = _serve_blob
        c = client(w, public=("registry", "storage", "cdn"), mixed=("mixed",))
        result, exc = _blob(w, c)
        # Control: with the opt-in the same chain does reach the last host (the scenario runs).
        ok, ok_exc = _blob(w, client(w, public=("registry", "storage", "cdn"), mixed=("mixed",),
                                     allow_private_redirects=True))
    for name in via:
        if name != "registry":
            assert w.servers[name].count() == 2, f"{name} was on the way"
    assert w.servers[bad].count() == 1, f"{bad} was contacted {w.servers[bad].count() - 1} times without the opt-in"
    assert isinstance(exc, rx.ConnectionFailed) and "private" in str(exc), f"{exc!r} / {result!r}"
    assert ok_exc is None and ok == BLOB, f"control with allow_private_redirects=True: {ok_exc!r}"
    assert leaks(w.servers[bad], SECRETS) == []


@pytest.mark.parametrize("order", ["public-first", "private-first"])
@pytest.mark.parametrize("private", [PRIVATE_IP, "127.0.0.1", "169.254.169.254", "fd00::1", "::1",
                                     "::ffff:10.0.0.1", "100.64.0.1"])
def test_R5_a_name_with_one_public_and_one_private_answer_is_private(order, private):
    """Rule R5 judges every address a name resolves to: one private answer makes the name private."""
    answers = [PUBLIC_IP, private] if order == "public-first" else [private, PUBLIC_IP]
    assert is_private_host("mixed.test", lambda h: answers)
    gate = Gate(resolve=lambda h: answers if h == "mixed.test" else [PUBLIC_IP])
    why = gate.refusal(Binding("registry.test", realm="https://mixed.test/token"), "https://mixed.test/token")
    assert why is not None and "R5" in why, why
    assert gate.private_refusal("registry.test", "https://mixed.test/blob") is not None
    # Control: the same gate finds a name with only public answers public.
    assert gate.private_refusal("registry.test", "https://public.test/blob") is None
    assert not is_private_host("public.test", lambda h: [PUBLIC_IP, "2606:4700::1111"])


def test_R5_the_system_resolver_sees_every_answer(monkeypatch):
    """The default resolver (no seam replaced) returns every address getaddrinfo gives, so R5 sees them all."""
    def fake(host, port, *args, **kwargs):
        if host == "mixed.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 0)),
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 0, 0, 2)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PRIVATE_IP, 0))]
        if host == "public.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_IP, 0))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert set(system_resolve("mixed.example")) == {PUBLIC_IP, "fe80::1", PRIVATE_IP}
    assert Gate().private_refusal("public.example", "https://mixed.example/x") is not None
    assert Gate().private_refusal("public.example", "https://public.example/x") is None


@pytest.mark.parametrize("kind", ["bearer", "identity"])
def test_R2_R5_realm_with_mixed_answers_is_never_contacted(kind):
    """The registry's own challenge names a realm whose name resolves public AND private: not contacted."""
    with bounded(10), hosts("registry", "realm") as w:
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": []}).encode()
        w.handlers["registry"] = guarded("bearer", lambda: w.url("realm", "/token"),
                                         lambda h, s: h.reply(200, manifest, {"Content-Type": OCI_MANIFEST}))
        w.handlers["realm"] = token_endpoint
        reg = w.host("registry")
        cfg = {"auths": {reg: {"identitytoken": "idt-hostile-UNLIKELY-2290"}}} if kind == "identity" else {}
        c = rx.Client(credentials=None if kind == "identity" else {reg: (USER, PASSWORD)}, docker_config=cfg,
                      insecure=[reg, w.host("realm")], retries=0, timeout=5, cache=False)
        c.transport.gate.resolve = resolver(("registry.test",), ("realm.test",))
        _, exc = outcome(lambda: c.manifest(f"{reg}/repo:v1"))
        contacted = w.servers["realm"].count()
        c.transport.gate.resolve = resolver(("registry.test", "realm.test"))
        fine, fine_exc = outcome(lambda: c.manifest(f"{reg}/repo:v1"))  # control: a public realm is used
    assert contacted == 0, "the half-private realm was contacted"
    assert w.servers["realm"].count() >= 1 and leaks(w.servers["realm"], SECRETS), "control: a public realm is used"
    assert isinstance(exc, (rx.Unauthorized, rx.ConnectionFailed)) and "private" in str(exc), f"{exc!r}"
    assert fine_exc is None and isinstance(fine, rx.Manifest), f"{fine_exc!r}"


# -- "localhost" by name ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["localhost", "LOCALHOST", "localhost:5000", "evil.localhost", "a.b.localhost:1",
                                  "127.0.0.1", "127.8.9.1:80", "[::1]:5000", "::1"])
def test_loopback_names(name):
    assert is_loopback(name), name
    assert is_private_host(name.rsplit(":", 1)[0] if name.count(":") == 1 else name.strip("[]").rsplit("]", 1)[0],
                           lambda h: [PUBLIC_IP])


@pytest.mark.parametrize("name", ["notlocalhost", "notlocalhost:5000", "localhost.evil.test", "localhost.evil.test:80",
                                  "xlocalhost", "localhostx", "evil-localhost", "localhost-evil.test",
                                  "evil.test/localhost", "127.0.0.1.evil.test", "localhost.evil.test."])
def test_names_that_only_contain_localhost_are_not_loopback(name):
    """Only `localhost` and `*.localhost` are loopback by name (RFC 6761 section 6.3); the rest is resolved."""
    assert not is_loopback(name), name
    host = name.rsplit(":", 1)[0]
    assert not is_private_host(host, lambda h: [PUBLIC_IP]), f"{name} judged private by its name"
    gate = Gate(["registry.test"], resolve=lambda h: [PUBLIC_IP])
    assert not gate.plain_http_allowed(name), f"{name} allowed plain http as if it were loopback"


def test_R4_plain_http_realm_named_localhost_dot_something_gets_no_credentials():
    """A listed registry whose realm is http://localhost.evil.test: not loopback, not listed: no secret (R4)."""
    with bounded(10), hosts("registry", "localhost.evil") as w:
        realm = w.url("localhost.evil", "/token")
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": []}).encode()
        w.handlers["registry"] = guarded("bearer", lambda: realm,
                                         lambda h, s: h.reply(200, manifest, {"Content-Type": OCI_MANIFEST}))
        w.handlers["localhost.evil"] = token_endpoint
        c = client(w, public=("registry", "localhost.evil"))
        _, exc = outcome(lambda: c.manifest(f"{w.host('registry')}/repo:v1"))
    assert w.servers["localhost.evil"].count() >= 1, "the realm was asked (anonymously)"
    assert leaks(w.servers["localhost.evil"], SECRETS) == [], "credentials went over plain http to a non-loopback name"
    assert isinstance(exc, rx.RegistryExplorerError), f"{exc!r}"
