"""Issue 10, class 4: exhaustion and hangs. Every list has a total bound (TooLarge past it) and
every document read has a total deadline (ConnectionFailed(kind="timeout") past it).

The servers give up by themselves (410 with the code HOSTILE_GAVE_UP) after far more pages than
any sane bound allows, so today's code ends instead of running for minutes; a test then fails on
"the server had to give up" rather than hanging.
"""

from __future__ import annotations

import json

import pytest
from helpers.hostile import (
    OCI_INDEX,
    OCI_MANIFEST,
    MiB,
    bounded,
    image,
    outcome,
    plain_client,
    recording_server,
    sha256,
)

import registry_explorer as rx

SUBJECT = sha256(b"subject")
GAVE_UP = "HOSTILE_GAVE_UP"


def _gave_up(h) -> None:
    h.json(410, {"errors": [{"code": GAVE_UP, "message": "the hostile server stopped paginating"}]})


def _referrers_page(n: int) -> bytes:
    """n referrers; each digest starts with PAGE, which a server replaces with a page number in hex."""
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": "sha256:PAGE" + sha256(f"{n}-{i}".encode())[11:], "size": 100,
         "artifactType": "x/y"} for i in range(n)]}).encode()


def _pages(kind: str, give_up_after: int, *, self_link: bool = False):
    """Endless pagination of `kind` (referrers, tags, catalog); each page links to the next (or itself).

    Each page lists rows of its own (a page repeating rows already listed ends a list: issue 21)."""
    served = [0]

    # ~3.9 MiB per page: just under the 4 MiB page cap, so only a total bound can stop it.
    names = [f"PAGE-{i:08d}-" + "t" * 85 for i in range(int(3.9 * MiB) // 104)]
    template = _referrers_page(1000) if kind == "referrers" else json.dumps(
        {"tags" if kind == "tags" else "repositories": names, "name": "repo"}).encode()

    def body(page: int) -> tuple[bytes, str]:
        return template.replace(b"PAGE", b"%04x" % page), OCI_INDEX if kind == "referrers" else "application/json"

    def respond(h, s):
        path, _, query = s.path.partition("?")
        if path == "/v2/":
            return h.json(200, {})
        served[0] += 1
        if served[0] > give_up_after:
            return _gave_up(h)
        nxt = s.path if self_link else f"{path}?n=1000&last=p{served[0]}"
        data, ctype = body(served[0])
        h.reply(200, data, {"Content-Type": ctype, "Link": f'<{nxt}>; rel="next"'})
    return respond, served


def _call(kind: str, host: str):
    client = plain_client()
    if kind == "referrers":
        return lambda: client.referrers(f"{host}/repo@{SUBJECT}")
    if kind == "tags":
        return lambda: client.tags(f"{host}/repo")
    return lambda: client.catalog(host)


@pytest.mark.parametrize("kind", ["referrers", "tags", "catalog"])
def test_self_linking_page_stops(kind):
    respond, served = _pages(kind, give_up_after=300, self_link=True)
    with bounded(5), recording_server(respond) as reg:
        result, exc = outcome(_call(kind, reg.host))
    assert served[0] <= 10, f"a page linking to itself was fetched {served[0]} times"
    assert exc is None or isinstance(exc, (rx.RegistryError, rx.TooLarge)), f"{type(exc).__name__}: {exc}"
    if exc is not None:
        assert GAVE_UP not in getattr(exc, "codes", []), "the client only stopped because the server did"
    else:
        assert 0 < len(result) <= 10 * 40_000


@pytest.mark.parametrize(("kind", "give_up"), [("referrers", 150), ("tags", 24), ("catalog", 24)])
def test_endless_pagination_hits_a_named_total_bound(kind, give_up):
    """Distinct pages forever: a total bound (a named constant) must stop the list with TooLarge
    or RegistryError long before the server gives up (150 pages of 1000 referrers; 24 x 3.9 MiB)."""
    respond, served = _pages(kind, give_up_after=give_up)
    with bounded(5), recording_server(respond) as reg:
        _, exc = outcome(_call(kind, reg.host))
    assert isinstance(exc, (rx.TooLarge, rx.RegistryError)), f"{type(exc).__name__}: {exc}"
    assert GAVE_UP not in getattr(exc, "codes", []), f"no total bound: the server gave up after {served[0]} pages"
    if kind != "referrers":
        assert isinstance(exc, rx.TooLarge), f"tag/catalog lists past their bound raise TooLarge: {exc!r}"
        assert "limit" in str(exc)


# -- drip-fed responses --------------------------------------------------------------------------------

DEADLINE = 1.0
DRIP_EVERY = 1.0  # one byte a second: well under any per-read timeout, so only a total deadline helps


def _drip_server(what: str):
    manifest, blobs = image([b"layer"])
    config_digest = json.loads(manifest)["config"]["digest"]

    def respond(h, s):
        path = s.path.split("?")[0]
        if path == "/v2/":
            if what == "token":
                return h.json(401, {}, {"WWW-Authenticate": f'Bearer realm="http://{h.headers["Host"]}/token"'})
            return h.json(200, {})
        if path == "/token":
            return h.drip(200, json.dumps({"token": "t" * 50}).encode(), {"Content-Type": "application/json"},
                          DRIP_EVERY)
        if what == "token" and s.header("Authorization") != "Bearer " + "t" * 50:
            return h.json(401, {}, {"WWW-Authenticate": f'Bearer realm="http://{h.headers["Host"]}/token"'})
        if "/manifests/" in path:
            if what in ("manifest", "token"):
                return h.drip(200, manifest, {"Content-Type": OCI_MANIFEST}, DRIP_EVERY)
            return h.reply(200, manifest, {"Content-Type": OCI_MANIFEST})
        if path.endswith(config_digest):
            return h.drip(200, blobs[config_digest], {"Content-Type": "application/octet-stream"}, DRIP_EVERY)
        if path.endswith("/tags/list"):
            return h.drip(200, json.dumps({"tags": ["a"] * 50}).encode(), {"Content-Type": "application/json"},
                          DRIP_EVERY)
        h.json(404, {})
    return respond


@pytest.mark.parametrize("what", ["manifest", "token", "config", "tags"])
def test_drip_fed_document_times_out_at_the_deadline(what):
    with bounded(5), recording_server(_drip_server(what)) as reg:
        def call():
            client = rx.Client(docker_config={}, retries=0, timeout=5, deadline=DEADLINE)
            ref = f"{reg.host}/repo:v1"
            if what == "config":
                m = client.manifest(ref)
                return client.config(m)
            if what == "tags":
                return client.tags(ref)
            return client.manifest(ref)

        _, exc = outcome(call)
    assert isinstance(exc, rx.ConnectionFailed), f"{type(exc).__name__}: {exc}"
    assert exc.kind == "timeout", f"kind {exc.kind!r}: {exc}"
    assert "deadline" in str(exc).lower() or "timed out" in str(exc).lower()
