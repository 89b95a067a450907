"""Multi-host worlds for the credential tests (issue 10, class 1): a registry, an evil host and a realm.

Three recording servers answer as `registry.test`, `evil.test` and `realm.test` (fake_dns maps
them to 127.0.0.1). The registry demands credentials; each scenario then makes it, or a host it
redirects to, name another host in a `Link`, `Location` or challenge `realm`. Tests search every
byte the foreign hosts received for the password, the Basic value, the token and the identity token.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import registry_explorer as rx
from helpers.hostile import (
    OCI_INDEX,
    OCI_MANIFEST,
    Recorder,
    RecordingHandler,
    Seen,
    basic,
    classify,
    outcome,
    recording_server,
    sha256,
)

USER = "hostile-user"
PASSWORD = "Pw-hostile-UNLIKELY-4411"
TOKEN = "tok-hostile-UNLIKELY-7731"
IDENTITY = "idt-hostile-UNLIKELY-2290"
EVIL_TOKEN = "evil-issued-token"
SECRETS = [PASSWORD, basic(USER, PASSWORD), TOKEN, IDENTITY]
SUBJECT = sha256(b"subject")
BLOB = b"a blob the registry stores\n"
# Credential kinds: how the registry challenges and what the client was configured with.
KINDS = ("basic", "bearer", "identity")


@dataclass
class World:
    """The three named servers and what each answers."""

    servers: dict[str, Recorder] = field(default_factory=dict)
    handlers: dict[str, Callable[[RecordingHandler, Seen], None]] = field(default_factory=dict)

    def host(self, name: str) -> str:
        """'name.test:port' (or '127.0.0.1:port' for name 'loopback-realm')."""
        if name == "loopback-realm":
            return self.servers["realm"].host
        return f"{name}.test:{self.servers[name].port}"

    def url(self, name: str, path: str = "") -> str:
        """A plain-http URL on host `name`."""
        return f"http://{self.host(name)}{path}"

    def respond(self, name: str, h: RecordingHandler, s: Seen) -> None:
        """Dispatch to the handler set for `name` (404 when none)."""
        self.handlers.get(name, lambda h, s: h.json(404, {"errors": [{"code": "NAME_UNKNOWN"}]}))(h, s)


@contextlib.contextmanager
def world() -> Iterator[World]:
    """Start the registry, evil and realm servers; they stop when the block ends."""
    w = World()
    with contextlib.ExitStack() as stack:
        for name in ("registry", "evil", "realm"):
            w.servers[name] = stack.enter_context(recording_server(lambda h, s, n=name: w.respond(n, h, s)))
        yield w


def token_endpoint(h: RecordingHandler, s: Seen, token: str = TOKEN) -> None:
    """Docker token spec: GET with Basic, or OAuth2 POST with the identity token as refresh_token."""
    if s.method == "POST":
        form = parse_qs(s.body.decode("latin-1"))
        if form.get("refresh_token") == [IDENTITY]:
            return h.json(200, {"access_token": token, "expires_in": 300})
        return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]})
    if s.header("Authorization") in (f"Basic {basic(USER, PASSWORD)}", f"Basic {basic('<token>', IDENTITY)}"):
        return h.json(200, {"token": token, "expires_in": 300})
    return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]})


def guarded(kind: str, realm: Callable[[], str], route: Callable[[RecordingHandler, Seen], None]):
    """A registry that answers `route` only to requests carrying its own credentials."""
    def respond(h: RecordingHandler, s: Seen) -> None:
        if s.path.startswith("/token"):
            return token_endpoint(h, s)
        got = s.header("Authorization") or ""
        ok = got == f"Basic {basic(USER, PASSWORD)}" if kind == "basic" else got == f"Bearer {TOKEN}"
        if not ok:
            chal = 'Basic realm="hostile"' if kind == "basic" else f'Bearer realm="{realm()}",service="hostile"'
            return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": chal})
        if s.path == "/v2/":
            return h.json(200, {})
        return route(h, s)
    return respond


def client_for(w: World, kind: str, *, insecure: tuple[str, ...] = ("registry",), **kwargs) -> rx.Client:
    """A client with the registry's credentials of `kind`, the named hosts listed as insecure."""
    reg = w.host("registry")
    creds = {} if kind == "identity" else {reg: (USER, PASSWORD)}
    config = {"auths": {reg: {"identitytoken": IDENTITY}}} if kind == "identity" else {}
    # cache=False: a scenario is about what goes over the wire; blobs fetched by digest would
    # otherwise come from the (default) on-disk cache filled by an earlier scenario.
    kwargs.setdefault("cache", False)
    return rx.Client(credentials=creds, docker_config=config, insecure=[w.host(n) for n in insecure],
                     retries=0, timeout=5, **kwargs)


def referrers_page(link: str | None = None) -> tuple[bytes, dict]:
    """One referrers index page (one artifact) and its headers."""
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(b"sig"), "size": 3, "artifactType": "x/sig"}]}).encode()
    headers = {"Content-Type": OCI_INDEX}
    if link:
        headers["Link"] = f'<{link}>; rel="next"'
    return body, headers


@dataclass
class Scenario:
    """A hostile arrangement: how to set the hosts up, what to call, which hosts are foreign."""

    name: str
    setup: Callable[[World, str], None]
    call: Callable[[World, rx.Client], object]
    foreign: tuple[str, ...]
    kinds: tuple[str, ...] = KINDS
    insecure: tuple[str, ...] = ("registry",)


def _own_realm(w: World) -> Callable[[], str]:
    return lambda: w.url("registry", "/token")


def _link_to_evil(what: str):
    """The registry's first page links to the same path on evil.test (pagination to another host)."""
    def setup(w: World, kind: str) -> None:
        def route(h, s):
            if what == "referrers":
                body, headers = referrers_page(w.url("evil", s.path.split("?")[0] + "?page=2"))
                return h.reply(200, body, headers)
            key = "tags" if what == "tags" else "repositories"
            nxt = w.url("evil", s.path.split("?")[0] + "?last=a&n=1")
            return h.reply(200, json.dumps({key: ["a"]}).encode(),
                           {"Content-Type": "application/json", "Link": f'<{nxt}>; rel="next"'})
        w.handlers["registry"] = guarded(kind, _own_realm(w), route)
        w.handlers["evil"] = _evil_pages(what)
    return setup


def _evil_pages(what: str):
    """evil.test answers pages (no auth, no further link) and a token endpoint of its own."""
    def respond(h, s):
        if s.path.startswith("/token"):
            return h.json(200, {"token": EVIL_TOKEN})
        if what == "referrers":
            body, headers = referrers_page()
            return h.reply(200, body, headers)
        key = "tags" if what == "tags" else "repositories"
        return h.reply(200, json.dumps({key: ["b"]}).encode(), {"Content-Type": "application/json"})
    return respond


def _redirect_then_link(what: str):
    """The registry redirects page 1 to evil.test, whose page links (relatively) to its own page 2."""
    def setup(w: World, kind: str) -> None:
        def route(h, s):
            return h.reply(307, b"", {"Location": w.url("evil", s.path)})

        def evil(h, s):
            if "page=2" in s.path or "last=" in s.path:
                return _evil_pages(what)(h, s)
            nxt = s.path.split("?")[0] + ("?page=2" if what == "referrers" else "?last=a&n=1")
            if what == "referrers":
                body, headers = referrers_page(nxt)
                return h.reply(200, body, headers)
            return h.reply(200, json.dumps({"tags": ["a"]}).encode(),
                           {"Content-Type": "application/json", "Link": f'<{nxt}>; rel="next"'})
        w.handlers["registry"] = guarded(kind, _own_realm(w), route)
        w.handlers["evil"] = evil
    return setup


def _redirect_challenge(realm_host: str):
    """The registry redirects a manifest GET to evil.test, which answers 401 naming a realm of its choosing."""
    def setup(w: World, kind: str) -> None:
        def route(h, s):
            return h.reply(307, b"", {"Location": w.url("evil", "/storage" + s.path)})

        def evil(h, s):
            if s.path.startswith("/token"):
                return token_endpoint(h, s, EVIL_TOKEN)
            chal = f'Bearer realm="{w.url(realm_host, "/token")}",service="evil"'
            return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": chal})
        w.handlers["registry"] = guarded(kind, _own_realm(w), route)
        w.handlers["evil"] = evil
        w.handlers["realm"] = lambda h, s: token_endpoint(h, s, EVIL_TOKEN)
    return setup


def _foreign_realm(realm_name: str):
    """The registry's own challenge names a realm on another host (realm.test or 127.0.0.1)."""
    def setup(w: World, kind: str) -> None:
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
            "layers": []}).encode()

        def route(h, s):
            return h.reply(200, manifest, {"Content-Type": OCI_MANIFEST})
        w.handlers["registry"] = guarded("bearer", lambda: w.url(realm_name, "/token"), route)
        w.handlers["realm"] = token_endpoint
    return setup


def _blob_redirect(w: World, kind: str) -> None:
    def route(h, s):
        return h.reply(307, b"", {"Location": w.url("evil", "/storage/blob")})
    w.handlers["registry"] = guarded(kind, _own_realm(w), route)
    w.handlers["evil"] = lambda h, s: h.reply(200, BLOB, {"Content-Type": "application/octet-stream"})


def _repo(w: World) -> str:
    return f"{w.host('registry')}/repo"


SCENARIOS = [
    Scenario("referrers-link-to-evil", _link_to_evil("referrers"),
             lambda w, c: c.referrers(f"{_repo(w)}@{SUBJECT}"), ("evil",)),
    Scenario("tags-link-to-evil", _link_to_evil("tags"), lambda w, c: c.tags(_repo(w)), ("evil",)),
    Scenario("catalog-link-to-evil", _link_to_evil("catalog"),
             lambda w, c: c.catalog(w.host("registry")), ("evil",)),
    Scenario("tags-redirected-then-link", _redirect_then_link("tags"), lambda w, c: c.tags(_repo(w)), ("evil",)),
    Scenario("referrers-redirected-then-link", _redirect_then_link("referrers"),
             lambda w, c: c.referrers(f"{_repo(w)}@{SUBJECT}"), ("evil",)),
    Scenario("redirect-target-names-own-realm", _redirect_challenge("evil"),
             lambda w, c: c.manifest(f"{_repo(w)}:v1"), ("evil",), insecure=("registry", "evil", "realm")),
    Scenario("redirect-target-names-third-realm", _redirect_challenge("realm"),
             lambda w, c: c.manifest(f"{_repo(w)}:v1"), ("evil", "realm"), insecure=("registry", "evil", "realm")),
    Scenario("plain-http-realm-not-insecure", _foreign_realm("realm"),
             lambda w, c: c.manifest(f"{_repo(w)}:v1"), ("realm",), kinds=("bearer", "identity")),
    Scenario("public-registry-private-realm", _foreign_realm("loopback-realm"),
             lambda w, c: c.manifest(f"{_repo(w)}:v1"), ("realm",), kinds=("bearer", "identity")),
    Scenario("blob-redirect-to-storage", _blob_redirect,
             lambda w, c: c.blob(_repo(w), rx.Descriptor("application/octet-stream", sha256(BLOB), len(BLOB))),
             ("evil",)),
]


def run(sc: Scenario, kind: str, **client_kwargs) -> tuple[World, rx.Client, object, BaseException | None]:
    """Set up `sc` for credential `kind`, make its call once; the servers have stopped on return."""
    with world() as w:
        sc.setup(w, kind)
        client = client_for(w, kind, insecure=sc.insecure, **client_kwargs)
        classify(client)  # registry.test, evil.test, realm.test public; 127.0.0.1 private
        result, exc = outcome(lambda: sc.call(w, client))
    return w, client, result, exc


def cases() -> list[tuple[Scenario, str]]:
    """Every (scenario, credential kind) pair that makes sense."""
    return [(sc, kind) for sc in SCENARIOS for kind in sc.kinds]
