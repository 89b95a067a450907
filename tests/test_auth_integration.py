"""Auth against real registries: anonymous tokens, private repositories, Basic, identity tokens, TLS."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import warnings

import pytest
from helpers.clients import PRIVATE_REPO, client_for
from urllib3.exceptions import InsecureRequestWarning

import registry_explorer as rx

pytestmark = pytest.mark.integration


def test_anonymous_pull_of_public_repo(token_registry, images):
    client = client_for(token_registry, anonymous=True)
    m = client.image(f"{token_registry.host}/test/multi:v1", platform="linux/arm64")
    assert m.digest == images["multi"].extra["platforms"]["linux/arm64"]
    anon = [r for r in token_registry.token_server.records() if r["user"] is None and r["status"] == 200]
    assert anon, "the token server issued anonymous tokens"


def test_private_repo_needs_credentials(token_registry, images):
    anon = client_for(token_registry, anonymous=True)
    with pytest.raises(rx.Unauthorized) as info:
        anon.manifest(f"{token_registry.host}/{PRIVATE_REPO}:v1")
    msg = str(info.value)
    assert info.value.status == 401
    assert "credentials=" in msg and "docker login" in msg, "the message says how to pass credentials"
    authed = client_for(token_registry)
    assert authed.manifest(f"{token_registry.host}/{PRIVATE_REPO}:v1").digest == images["single"].digest


def test_unknown_repo_gives_401_and_the_message_says_so(token_registry):
    """An anonymous user cannot tell a missing repository from a private one: the token server
    grants nothing for either and the real registry answers 401 (Docker Hub and GHCR do the same),
    so the message must not only talk about credentials."""
    anon = client_for(token_registry, anonymous=True)
    seen = []
    for repo in (PRIVATE_REPO, "private/does-not-exist"):
        with pytest.raises(rx.Unauthorized) as info:
            anon.manifest(f"{token_registry.host}/{repo}:v1")
        seen.append(info.value.status)
        assert "does not exist" in str(info.value) and "docker login" in str(info.value)
    assert seen == [401, 401]


def test_ten_manifest_calls_fetch_one_token(token_registry):
    ts = token_registry.token_server
    client = client_for(token_registry)
    ts.reset()
    for _ in range(10):
        client.manifest(f"{token_registry.host}/{PRIVATE_REPO}:v1")
    token_requests = ts.records()
    assert len(token_requests) == 1, token_requests
    assert token_requests[0]["scope"] == [f"repository:{PRIVATE_REPO}:pull"]
    assert token_requests[0]["user"] == "alice"


def test_one_token_per_scope(token_registry):
    ts = token_registry.token_server
    client = client_for(token_registry)
    ts.reset()
    for repo in ("test/single", "test/multi", "test/single", "test/multi"):
        client.resolve(f"{token_registry.host}/{repo}:v1")
    assert sorted(tuple(r["scope"]) for r in ts.records()) == [
        ("repository:test/multi:pull",), ("repository:test/single:pull",)
    ]


def test_expired_token_is_refreshed(token_registry):
    ts = token_registry.token_server
    client = client_for(token_registry)
    r = f"{token_registry.host}/test/single:v1"
    client.resolve(r)
    # Simulate expiry: the cached token is no longer valid at the registry.
    for key in list(client.transport.tokens._tokens):
        client.transport.tokens._tokens[key] = ("not-a-valid-jwt", float("inf"))
    ts.reset()
    assert client.resolve(r).digest
    assert len(ts.records()) == 1


def test_identity_token_uses_oauth2_refresh_grant(token_registry, images):
    ts = token_registry.token_server
    client = rx.Client(credentials={token_registry.host: ("<token>", "rt-alice-identity")},
                       insecure=(token_registry.host,), docker_config={})
    ts.reset()
    assert client.manifest(f"{token_registry.host}/{PRIVATE_REPO}:v1").digest == images["single"].digest
    (rec,) = ts.records()
    assert rec["method"] == "POST" and rec["grant_type"] == "refresh_token" and rec["user"] == "alice"


def test_docker_config_auths_and_helper(token_registry, tmp_path, monkeypatch, images):
    host = token_registry.host
    user, pw = token_registry.auth
    cfg = {"auths": {host: {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}}}
    client = rx.Client(docker_config=cfg, insecure=(host,))
    assert client.manifest(f"{host}/{PRIVATE_REPO}:v1").digest == images["single"].digest

    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-rxtest"
    helper.write_text(f"#!/bin/sh\nread h\n[ \"$h\" = \"{host}\" ] || exit 1\n"
                      f"echo '{{\"ServerURL\":\"{host}\",\"Username\":\"{user}\",\"Secret\":\"{pw}\"}}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {host: "rxtest"}}))
    client = rx.Client(docker_config=tmp_path, insecure=(host,))
    assert client.manifest(f"{host}/{PRIVATE_REPO}:v1").digest == images["single"].digest


def test_missing_helper_still_pulls_public(token_registry, images, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    client = rx.Client(docker_config={"credsStore": "nonexistent-helper"})
    with pytest.warns(UserWarning, match="continuing anonymously"):
        m = client.manifest(f"{token_registry.host}/test/single:v1")
    assert m.digest == images["single"].digest


def test_basic_auth(htpasswd_registry, images):
    host = htpasswd_registry.host
    ok = client_for(htpasswd_registry)
    assert ok.resolve(f"{host}/test/single:v1").digest == images["single"].digest
    with pytest.raises(rx.Unauthorized, match="credentials="):
        client_for(htpasswd_registry, anonymous=True).resolve(f"{host}/test/single:v1")
    wrong = rx.Client(credentials={host: ("alice", "wrong")}, insecure=(host,), docker_config={})
    with pytest.raises(rx.Unauthorized, match="rejected"):
        wrong.resolve(f"{host}/test/single:v1")


def test_credentials_not_sent_over_plain_http_unless_insecure(htpasswd_registry):
    host = htpasswd_registry.host
    client = rx.Client(credentials={host: htpasswd_registry.auth}, docker_config={})
    seen = []
    client.transport.hooks.append(seen.append)
    with pytest.raises(rx.Unauthorized, match="insecure=") as info:
        client.resolve(f"{host}/test/single:v1")
    assert not any("Authorization" in ex.request_headers for ex in seen)
    assert htpasswd_registry.password not in str(info.value)


def test_secrets_never_in_repr_errors_or_logs(token_registry, caplog):
    host = token_registry.host
    secret = "sup3r-s3cret-value"
    client = rx.Client(credentials={host: ("alice", secret)}, insecure=(host,), docker_config={})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(rx.Unauthorized) as info:
        client.manifest(f"{host}/{PRIVATE_REPO}:v1")
    for text in (repr(client), repr(client.credentials), str(info.value), caplog.text):
        assert secret not in text
        assert base64.b64encode(f"alice:{secret}".encode()).decode() not in text


def test_tls_with_ca_bundle(tls_registry, images):
    client = client_for(tls_registry)
    assert client.resolve(f"{tls_registry.host}/test/single:v1").digest == images["single"].digest
    assert client.transport.schemes._known[tls_registry.host] == "https"


def test_tls_without_ca_fails_clearly(tls_registry):
    client = rx.Client(docker_config={})
    with pytest.raises(rx.ConnectionFailed) as info:
        client.resolve(f"{tls_registry.host}/test/single:v1")
    assert "ca_bundle=" in str(info.value) and info.value.kind == "tls-verify"


def test_tls_insecure_skips_verification(tls_registry, images):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        client = rx.Client(insecure=(tls_registry.host,), docker_config={})
        assert client.resolve(f"{tls_registry.host}/test/single:v1").digest == images["single"].digest
        # The user opted in for this host, so urllib3 must not warn on every request...
        assert not [w for w in seen if issubclass(w.category, InsecureRequestWarning)]
        # ...but a host they did not name still warns (urllib3's own wording, no traffic sent).
        warnings.warn("Unverified HTTPS request is being made to host 'registry.example'. ...",
                      InsecureRequestWarning, stacklevel=1)
    assert [w for w in seen if issubclass(w.category, InsecureRequestWarning)]


def test_connection_refused_is_clear():
    client = rx.Client(docker_config={}, timeout=5)
    with pytest.raises(rx.ConnectionFailed, match="could not reach 127.0.0.1:9"):
        client.resolve("127.0.0.1:9/test/single:v1")
