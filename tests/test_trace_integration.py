"""The HTTP trace against the token registry: complete, redacted, and replayable with curl."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest
from helpers.clients import PRIVATE_REPO
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer import frames

pytestmark = pytest.mark.integration


@pytest.fixture
def traced(token_registry):
    """A client for the token registry behind a proxy that counts what reaches the registry."""
    with FaultProxy(token_registry.url) as proxy:
        # cache=False: every request must be made for the trace to be complete (the default
        # on-disk cache answers documents fetched by digest without a request).
        client = rx.Client(credentials={proxy.host: token_registry.auth}, insecure=(proxy.host,), docker_config={},
                           cache=False)
        token_registry.token_server.reset()
        yield client, proxy, token_registry


def _exercise(client, host, tmp_path):
    r = f"{host}/{PRIVATE_REPO}:v1"
    client.resolve(r)
    m = client.image(r)
    client.config(m)
    client.fetch_blobs(r, m.layers[:1], tmp_path)
    client.tags(r)
    client.manifest(f"{host}/test/multi:v1")
    client.catalog(host)
    return m


def test_every_request_is_traced(traced, tmp_path):
    client, proxy, reg = traced
    _exercise(client, proxy.host, tmp_path)
    purposes = [ex.purpose for ex in client.trace]
    # The first exchange is the https probe of a loopback registry, which fails at the TLS
    # handshake (the proxy speaks http) and so never reaches the proxy as a request.
    probe = client.trace[0]
    assert probe.url.startswith("https://") and probe.status is None and "TLS" in probe.error
    registry_side = [ex for ex in client.trace if ex.purpose != "token" and ex.status is not None]
    assert len(registry_side) == len(proxy.requests)
    assert [ex.method for ex in registry_side] == [r["method"] for r in proxy.requests]
    assert [ex.status for ex in registry_side] == [r["status"] for r in proxy.requests]
    assert purposes.count("token") == len(reg.token_server.records())
    assert {"ping", "token", "resolve", "manifest", "config", "blob", "tags", "catalog"} <= set(purposes)
    df = frames.trace(client)
    assert len(df) == len(purposes) and (df["elapsed_ms"] >= 0).all()
    blob_row = df[df["purpose"] == "blob"].iloc[0]
    assert blob_row["bytes"] > 0 and blob_row["status"] == 200


def _secrets(client, reg):
    tokens = [t for t, _ in client.transport.tokens._tokens.values()]
    assert tokens, "the client holds live tokens to search for"
    user, password = reg.auth
    import base64

    return [password, base64.b64encode(f"{user}:{password}".encode()).decode(), *tokens,
            *(t.rsplit(".", 1)[-1] for t in tokens)]


def test_no_secret_in_trace_curl_or_html(traced, tmp_path):
    client, proxy, reg = traced
    m = _exercise(client, proxy.host, tmp_path)
    texts = [repr(client), repr(client.trace), frames.trace(client).to_string(), frames.trace(client).to_json(date_format="iso")]
    for ex in client.trace:
        texts += [repr(ex), str(ex.to_row()), ex.as_curl(), ex._repr_html_()]
    texts.append(client.trace._repr_html_())
    texts += [m._repr_html_(), client.config(m)._repr_html_()]
    blob = "\n".join(texts)
    for secret in _secrets(client, reg):
        assert secret not in blob
    # The token exchange still teaches: redacted body and decoded claims.
    tok = next(ex for ex in client.trace if ex.purpose == "token" and ex.status == 200)
    assert tok.response_body["token"] == "<redacted>"
    assert tok.token_claims["claims"]["aud"] == reg.token_server.service
    assert tok.token_claims["claims"]["access"][0]["name"] == PRIVATE_REPO
    assert tok.token_claims["signature"] == "<redacted>"


def test_identity_token_not_in_trace(token_registry):
    client = rx.Client(credentials={token_registry.host: ("<token>", "rt-alice-identity")},
                       insecure=(token_registry.host,), docker_config={})
    client.manifest(f"{token_registry.host}/{PRIVATE_REPO}:v1")
    post = next(ex for ex in client.trace if ex.method == "POST")
    assert post.form["refresh_token"] == "<redacted>"
    everything = "".join(repr(ex) + ex.as_curl() for ex in client.trace)
    assert "rt-alice-identity" not in everything
    assert '--data-urlencode refresh_token="$TOKEN"' in post.as_curl()


def test_curl_replays_manifest_get(traced, images):
    client, proxy, reg = traced
    curl = shutil.which("curl")
    assert curl, "curl is installed by .ci/run"
    m = client.manifest(f"{proxy.host}/{PRIVATE_REPO}:v1")
    ex = [e for e in client.trace if e.purpose == "manifest" and e.method == "GET"][-1]
    cmd = ex.as_curl()
    assert "$TOKEN" in cmd
    (token,) = {t for t, _ in client.transport.tokens._tokens.values()}
    env = dict(os.environ, TOKEN=token, NO_PROXY="127.0.0.1,localhost")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, env=env, timeout=30, check=True).stdout
    assert "sha256:" + hashlib.sha256(out).hexdigest() == m.digest == images["single"].digest
    # Without the token the same command is refused: the variable really carries the auth.
    env["TOKEN"] = "invalid"
    out = subprocess.run(["bash", "-c", cmd + " -o /dev/null -w '%{http_code}'"], capture_output=True, env=env,
                         timeout=30).stdout
    assert out == b"401"


def test_trace_is_bounded(open_registry):
    client = rx.Client(docker_config={}, trace_limit=5)
    for _ in range(8):
        client.resolve(f"{open_registry.host}/test/single:v1")
    assert len(client.trace) == 5 and client.trace.maxlen == 5
    assert [ex.seq for ex in client.trace] == list(range(client.trace[-1].seq - 4, client.trace[-1].seq + 1))
