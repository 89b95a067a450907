"""Tests of the test harness itself: real registries in four flavours + token server."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

_TESTS_DIR = str(Path(__file__).resolve().parent)

from registry_explorer.sandbox import certs  # noqa: E402
from registry_explorer.sandbox.registry import (  # noqa: E402
    RegistryBinaryMissing,
    RunningRegistry,
    TokenServer,
    require_binary,
    start_registry,
)
from registry_explorer.sandbox.tokenserver import der_to_raw_ecdsa, libtrust_key_id, parse_scope  # noqa: E402

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def http():
    with requests.Session() as s:
        s.trust_env = False  # no proxies / CA bundles from the environment
        yield s


def _start(flavour: str, tmp_path: Path, **kw) -> RunningRegistry:
    try:
        return start_registry(flavour, tmp_path, **kw)
    except RegistryBinaryMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture
def registry(request, tmp_path):
    reg = _start(request.param, tmp_path)
    yield reg
    reg.stop()


@pytest.fixture
def signing(tmp_path):
    return certs.make_token_signing_key(tmp_path / "signing")


@pytest.fixture
def token_registry(tmp_path, signing):
    with TokenServer(signing.key, signing.cert) as ts:
        reg = _start("token", tmp_path, token_server=ts)
        yield reg
        reg.stop()


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _jwt_parts(token: str) -> tuple[dict, dict, bytes]:
    h, c, sig = token.split(".")
    return json.loads(_b64url_decode(h)), json.loads(_b64url_decode(c)), _b64url_decode(sig)


def _parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.partition(" ")
    params = {}
    for part in rest.split('",'):
        k, _, v = part.partition("=")
        params[k.strip()] = v.strip().strip('"')
    return scheme, params


def _token(http, reg: RunningRegistry, *scopes: str, auth=None) -> str:
    ts = reg.token_server
    r = http.get(ts.url, params={"service": ts.service, "scope": list(scopes)}, auth=auth,
                 verify=True, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == ts.expires_in
    return body["token"]


# --------------------------------------------------------------------------- flavours


@pytest.mark.parametrize("registry", ["open"], indirect=True)
def test_open_registry(registry, http):
    assert registry.scheme == "http" and registry.url == f"http://{registry.host}"
    assert registry.host.startswith("127.0.0.1:") and registry.port > 0
    assert registry.ca_file is None and registry.username is None
    r = http.get(f"{registry.url}/v2/", verify=True, timeout=5)
    assert r.status_code == 200
    assert r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.storage.is_dir()
    cfg = json.loads(registry.config_path.read_text())
    assert cfg["http"]["addr"] == "127.0.0.1:0"
    assert cfg["storage"]["delete"]["enabled"] is True


@pytest.mark.parametrize("registry", ["tls"], indirect=True)
def test_tls_registry(registry, http):
    assert registry.scheme == "https" and registry.url == f"https://{registry.host}"
    assert registry.ca_file is not None and registry.ca_file.is_file()
    r = http.get(f"{registry.url}/v2/", verify=str(registry.ca_file), timeout=5)
    assert r.status_code == 200
    # localhost is in the SAN too
    r = http.get(f"https://localhost:{registry.port}/v2/", verify=str(registry.ca_file), timeout=5)
    assert r.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        http.get(f"{registry.url}/v2/", verify=True, timeout=5)
    assert "listening on" in registry.log_tail() and ", tls" in registry.log_tail()


@pytest.mark.parametrize("registry", ["htpasswd"], indirect=True)
def test_htpasswd_registry(registry, http):
    assert (registry.username, registry.password) == ("alice", "s3cret")
    r = http.get(f"{registry.url}/v2/", verify=True, timeout=5)
    assert r.status_code == 401
    scheme, params = _parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "Basic" and params["realm"]
    assert http.get(f"{registry.url}/v2/", auth=registry.auth, verify=True, timeout=5).status_code == 200
    bad = http.get(f"{registry.url}/v2/", auth=("alice", "wrong"), verify=True, timeout=5)
    assert bad.status_code == 401


def test_token_registry_challenge(token_registry, http):
    reg = token_registry
    ts = reg.token_server
    assert (reg.username, reg.password) == ("alice", "s3cret")
    r = http.get(f"{reg.url}/v2/", verify=True, timeout=5)
    assert r.status_code == 401
    scheme, params = _parse_challenge(r.headers["WWW-Authenticate"])
    assert scheme == "Bearer"
    assert params["realm"] == ts.url and params["service"] == ts.service
    assert "scope" not in params
    r = http.get(f"{reg.url}/v2/library/x/manifests/latest", verify=True, timeout=5)
    assert _parse_challenge(r.headers["WWW-Authenticate"])[1]["scope"] == "repository:library/x:pull"


def test_token_accepted(token_registry, http):
    reg = token_registry
    ts = reg.token_server
    token = _token(http, reg)
    r = http.get(f"{reg.url}/v2/", headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 200, r.text

    token = _token(http, reg, "repository:library/nope:pull")
    r = http.get(f"{reg.url}/v2/library/nope/manifests/latest",
                 headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")

    header, claims, sig = _jwt_parts(token)
    assert header["alg"] == "ES256" and header["kid"] == ts.kid
    assert len(header["kid"]) == 59 and header["kid"].count(":") == 11
    assert claims["aud"] == ts.service and claims["iss"] == ts.issuer
    assert claims["exp"] - claims["iat"] == ts.expires_in
    assert claims["access"] == [{"type": "repository", "name": "library/nope", "actions": ["pull"]}]
    assert len(sig) == 64
    assert ts.count(method="GET", status=200) == 2
    assert ts.count(scope="repository:library/nope:pull", user=None) == 1


def test_anonymous_token_private_repo_rejected(token_registry, http):
    reg = token_registry
    ts = reg.token_server
    url = f"{reg.url}/v2/private/secret/manifests/latest"
    token = _token(http, reg, "repository:private/secret:pull")
    assert _jwt_parts(token)[1]["access"] == [
        {"type": "repository", "name": "private/secret", "actions": []}
    ]
    r = http.get(url, headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]

    token = _token(http, reg, "repository:private/secret:pull", auth=reg.auth)
    r = http.get(url, headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 404
    assert ts.count(user="alice", status=200) == 1

    # catalog: user only
    token = _token(http, reg, "registry:catalog:*", auth=reg.auth)
    r = http.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 200 and r.json() == {"repositories": []}
    token = _token(http, reg, "registry:catalog:*")
    r = http.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {token}"}, verify=True, timeout=5)
    assert r.status_code == 401

    r = http.get(ts.url, params={"service": ts.service}, auth=("alice", "nope"), verify=True, timeout=5)
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert ts.count(status=401) == 1


def test_oauth2_post(token_registry, http):
    reg = token_registry
    ts = reg.token_server
    scope = "repository:private/app:pull,push"
    r = http.post(ts.url, data={"grant_type": "refresh_token", "refresh_token": "rt-alice-identity",
                                "service": ts.service, "scope": scope, "client_id": "rx"},
                  verify=True, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == scope and body["expires_in"] == ts.expires_in
    assert _jwt_parts(body["access_token"])[1]["access"][0]["actions"] == ["pull", "push"]
    r2 = http.get(f"{reg.url}/v2/private/app/tags/list",
                  headers={"Authorization": f"Bearer {body['access_token']}"}, verify=True, timeout=5)
    assert r2.status_code == 404
    assert ts.count(grant_type="refresh_token", user="alice", status=200) == 1

    r = http.post(ts.url, data={"grant_type": "refresh_token", "refresh_token": "bogus",
                                "service": ts.service, "scope": scope}, verify=True, timeout=5)
    assert r.status_code == 401

    r = http.post(ts.url, data={"grant_type": "password", "username": "alice", "password": "s3cret",
                                "service": ts.service, "scope": scope, "client_id": "rx",
                                "access_type": "offline"}, verify=True, timeout=5)
    assert r.status_code == 200 and r.json()["refresh_token"] == "rt-alice-identity"
    r = http.post(ts.url, data={"grant_type": "password", "username": "alice", "password": "x",
                                "service": ts.service, "scope": scope}, verify=True, timeout=5)
    assert r.status_code == 401
    assert all(rec["form"].get("password") in (None, "***") for rec in ts.records() if rec["method"] == "POST")
    ts.reset()
    assert ts.count() == 0


@pytest.mark.parametrize("flavour", ["open", "token"])
def test_stop_kills_pid(tmp_path, http, flavour):
    reg = _start(flavour, tmp_path)
    pid = reg.pid
    ts = reg.token_server
    os.kill(pid, 0)  # alive
    with reg:
        pass
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not reg.is_running()
    reg.stop()  # idempotent
    if ts is not None:  # an owned token server is stopped too
        with pytest.raises(requests.ConnectionError):
            http.get(ts.url, verify=True, timeout=2)


def test_start_failure_reports_log(tmp_path):
    with pytest.raises(RuntimeError, match="exited|not listening"):
        _start("open", tmp_path, extra_config={"storage": {"nosuchdriver": {}}})


def test_missing_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(RegistryBinaryMissing):
        require_binary("skopeo")
    with pytest.raises(RegistryBinaryMissing):
        start_registry("open", tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="CI") as ei:
        start_registry("open", tmp_path)
    assert not isinstance(ei.value, RegistryBinaryMissing)


def test_signature_helpers():
    # SEQUENCE { INTEGER 0x00ff.. (33 bytes, leading zero), INTEGER 0x01 (short) }
    r = b"\x00" + b"\xff" * 32
    der = b"\x30" + bytes([2 + len(r) + 3]) + b"\x02" + bytes([len(r)]) + r + b"\x02\x01\x01"
    raw = der_to_raw_ecdsa(der)
    assert raw == b"\xff" * 32 + b"\x00" * 31 + b"\x01"
    with pytest.raises(ValueError):
        der_to_raw_ecdsa(der + b"\x00")
    assert parse_scope("repository:127.0.0.1:5000/a/b:pull,push") == (
        "repository", "127.0.0.1:5000/a/b", ["pull", "push"])
    assert parse_scope("repository(plugin):x:pull") == ("repository", "x", ["pull"])
    assert parse_scope("bad") is None
    kid = libtrust_key_id(b"x")
    assert len(kid.split(":")) == 12 and all(len(g) == 4 for g in kid.split(":"))


def test_token_server_script(tmp_path, signing, http):
    script = Path(_TESTS_DIR) / "token_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--key", str(signing.key), "--cert", str(signing.cert)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/token"), proc.stderr.read()
        r = http.get(url, params={"scope": "repository:a:pull"}, verify=True, timeout=5)
        assert r.status_code == 200 and r.json()["token"].count(".") == 2
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
