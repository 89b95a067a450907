"""Issue 10, class 5: hostile values (non-ASCII digits, integers beyond int64, malformed IPv6
literals, tokens with '€' or newlines, PAX ids beyond int64) give a RegistryExplorerError or are
ignored harmlessly; never ValueError, OverflowError or UnicodeEncodeError, and the trace frame
and the widget state keep working afterwards."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers.hostile import (
    OCI_MANIFEST,
    assert_in_tree,
    bounded,
    image,
    layer_tar,
    outcome,
    plain_client,
    recording_server,
    sha256,
)
from helpers.hostile_layout import write_layout

import registry_explorer as rx

BEYOND_INT64 = "99999999999999999999999"
LAYER = layer_tar([("f", b"x")])
MANIFEST, BLOBS = image([LAYER])


def _image_server(extra: list[tuple[str, str]], *, length: str | None = None, status: int = 200):
    """Serves MANIFEST and its blobs, adding hostile headers (and maybe a hostile Content-Length)."""
    def respond(h, s):
        path = s.path.split("?")[0]
        if path == "/v2/":
            return h.json(200, {})
        if "/manifests/" in path:
            body, ctype = MANIFEST, OCI_MANIFEST
        elif path.rsplit("/", 1)[-1] in BLOBS:
            body, ctype = BLOBS[path.rsplit("/", 1)[-1]], "application/octet-stream"
        else:
            return h.json(404, {})
        h.reply(status, body, [("Content-Type", ctype), *extra], length=length)
    return respond


def _calls(client, host):
    ref = f"{host}/repo:v1"
    layer = rx.Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha256(LAYER), len(LAYER))
    return {"resolve": lambda: client.resolve(ref), "manifest": lambda: client.manifest(ref),
            "blob": lambda: client.blob(ref, layer)}


HEADER_CASES = {
    "content-length-superscript-2": ([], "²"),
    "content-length-circled-1": ([], "①"),
    "content-length-beyond-int64": ([], BEYOND_INT64),
    "ratelimit-remaining-beyond-int64": ([("RateLimit-Limit", "100;w=21600"),
                                          ("RateLimit-Remaining", BEYOND_INT64 + ";w=21600")], None),
    "ratelimit-window-beyond-int64": ([("RateLimit-Limit", f"100;w={BEYOND_INT64}")], None),
    "ratelimit-superscript": ([("RateLimit-Remaining", "²;w=²")], None),
    "digest-header-superscript": ([("Docker-Content-Digest", "sha256:" + "²" * 64)], None),
}


@pytest.mark.parametrize("case", sorted(HEADER_CASES))
def test_hostile_headers_stay_in_the_error_tree(case):
    extra, length = HEADER_CASES[case]
    with bounded(5), recording_server(_image_server(extra, length=length)) as reg:
        client = plain_client()
        for call in _calls(client, reg.host).values():
            _, exc = outcome(call)
            assert_in_tree(exc)
        df, exc = outcome(lambda: rx.frames.trace(client.trace))
    assert exc is None, f"frames.trace raised {type(exc).__name__}: {exc}"
    assert isinstance(df, pd.DataFrame) and len(df) >= 3


@pytest.mark.parametrize("value", ["²", "①", BEYOND_INT64 + "0" * 300])
def test_hostile_retry_after(value):
    """A 429 with a hostile Retry-After, retried once: the wait is bounded and no ValueError escapes."""
    def respond(h, s):
        h.json(429, {"errors": [{"code": "TOOMANYREQUESTS"}]}, {"Retry-After": value})

    waits: list[float] = []
    with bounded(5), recording_server(respond) as reg:
        client = rx.Client(docker_config={}, retries=1, timeout=5)
        client.transport.sleep = waits.append
        _, exc = outcome(lambda: client.manifest(f"{reg.host}/repo:v1"))
    assert isinstance(exc, rx.RegistryError) and exc.status == 429, f"{type(exc).__name__}: {exc}"
    assert len(waits) == 1 and 0 <= waits[0] <= client.retry.max_wait


BAD_URLS = ["http://[::1", "http://[zz]/x", "http://[::1/token", "https://[", "http://[::1]]:80/"]


def _url_server(where: str, bad: str):
    def respond(h, s):
        path = s.path.split("?")[0]
        if where == "realm":
            return h.json(401, {}, {"WWW-Authenticate": f'Bearer realm="{bad}",service="s"'})
        if where == "location":
            return h.reply(307, b"", {"Location": bad})
        if path == "/v2/":
            return h.json(200, {})
        h.reply(200, json.dumps({"tags": ["a"]}).encode(), {"Content-Type": "application/json",
                                                            "Link": f'<{bad}>; rel="next"'})
    return respond


@pytest.mark.parametrize("bad", BAD_URLS)
@pytest.mark.parametrize("where", ["realm", "location", "link"])
def test_malformed_ipv6_literals(where, bad):
    with bounded(5), recording_server(_url_server(where, bad)) as reg:
        client = plain_client()
        call = (lambda: client.tags(f"{reg.host}/repo")) if where == "link" else (
            lambda: client.manifest(f"{reg.host}/repo:v1"))
        result, exc = outcome(call)
        _, trace_exc = outcome(lambda: rx.frames.trace(client.trace))
    assert_in_tree(exc, words=("url", "realm", "redirect", "link", "ipv6", "invalid", "malformed", "unauthorized", "host"))
    if where == "link" and exc is None:
        assert result == ["a"], "a malformed next link may be ignored, but then only page 1 is listed"
    assert trace_exc is None, f"frames.trace raised {trace_exc!r}"


TOKEN_BODIES = {
    "euro": b'{"token": "abc\xe2\x82\xac"}',
    "crlf-injection": b'{"token": "abc\\r\\nX-Injected: 1"}',
    "newline": b'{"token": "abc\\n"}',
    "nul": b'{"token": "abc\\u0000def"}',
    "expires-beyond-float": b'{"token": "abc", "expires_in": 1' + b"0" * 400 + b"}",
    "expires-text": b'{"token": "abc", "expires_in": "soon"}',
    "not-utf8": b'{"token": "abc\xff"}',
}


@pytest.mark.parametrize("case", sorted(TOKEN_BODIES))
def test_hostile_token_responses(case):
    def respond(h, s):
        path = s.path.split("?")[0]
        if path == "/token":
            return h.reply(200, TOKEN_BODIES[case], {"Content-Type": "application/json"})
        if (s.header("Authorization") or "").startswith("Bearer abc") and "/manifests/" in path:
            return h.reply(200, MANIFEST, {"Content-Type": OCI_MANIFEST})
        h.json(401, {}, {"WWW-Authenticate": f'Bearer realm="http://{h.headers["Host"]}/token",service="s"'})

    with bounded(5), recording_server(respond) as reg:
        client = plain_client()
        _, exc = outcome(lambda: client.manifest(f"{reg.host}/repo:v1"))
        _, trace_exc = outcome(lambda: rx.frames.trace(client.trace))
        injected = reg.count(lambda s: s.header("X-Injected") is not None)
    assert_in_tree(exc, words=("token",))
    assert injected == 0, "a header was injected through the token"
    assert trace_exc is None, f"frames.trace raised {trace_exc!r}"


@pytest.mark.parametrize("field", ["uid", "gid"])
def test_pax_ids_beyond_int64(tmp_path, field):
    layer = layer_tar([("f", b"data")], pax={field: BEYOND_INT64})
    manifest, blobs = image([layer])
    write_layout(tmp_path, {**blobs, sha256(manifest): manifest}, [
        {"mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}])
    lay = rx.Layout(tmp_path)
    with bounded(5):
        df, exc = outcome(lambda: rx.frames.files(lay, lay.parse("v1"), lay.image("v1").layers[0]))
    assert_in_tree(exc)
    if exc is None:
        assert list(df["path"]) == ["f"], "the entry is listed (its id clamped or dropped)"


POISON = {
    "ratelimit": ([("RateLimit-Remaining", BEYOND_INT64)], None),
    "content-length": ([], BEYOND_INT64),
}


@pytest.mark.parametrize("poison", sorted(POISON))
def test_widget_state_survives_a_poisoned_trace_record(poison):
    from registry_explorer.widgets import ExplorerState

    extra, length = POISON[poison]
    with bounded(5), recording_server(_image_server(extra, length=length)) as reg:
        client = plain_client()
        state = ExplorerState(client)  # the widget exists first, as in a notebook
        outcome(lambda: client.resolve(f"{reg.host}/repo:v1"))  # one poisoned record
        assert len(client.trace) >= 1
        ok, exc = outcome(lambda: state.resolve("Not A Valid//Reference!!"))
    assert exc is None, f"{type(exc).__name__} escaped ExplorerState.resolve: {exc}"
    assert ok is False
    assert "reference" in state.error.lower(), f"the error does not name the bad reference: {state.error!r}"
