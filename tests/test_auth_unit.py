"""Challenge parsing (RFC 7235) and credential lookup, without a network."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from registry_explorer.http.auth import TokenCache
from registry_explorer.http.challenge import parse_challenges
from registry_explorer.http.credentials import Credential, CredentialStore

FIXTURES = Path(__file__).parent / "fixtures" / "real"


def real_headers():
    return json.loads((FIXTURES / "api" / "www-authenticate.json").read_text())["headers"]


# Each real header's parameters, copied by hand from tests/fixtures/real/api/www-authenticate.json (in file
# order), so a parser that mangles scope (drops ':*', splits on ',', keeps quotes) cannot agree with itself.
_DH, _ACR = "https://auth.docker.io/token", "https://myregistry.azurecr.io/oauth2/token"
EXPECTED_REAL = [
    ("bearer", {"realm": _DH, "service": "registry.docker.io", "scope": "repository:library/ubuntu:pull"}),
    ("bearer", {"realm": _DH, "service": "registry.docker.io", "scope": "repository:library/this-does-not-exist:pull",
                "error": "insufficient_scope"}),
    ("bearer", {"realm": _DH, "service": "registry.docker.io", "scope": "registry:catalog:*"}),
    ("bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:oras-project/oras:pull"}),
    ("basic", {"realm": "GitHub Package Registry"}),
    ("bearer", {"realm": "https://gcr.io/v2/token", "service": "gcr.io"}),
    ("bearer", {"realm": "https://gcr.io/v2/token", "service": "gcr.io"}),  # unquoted token value
    ("bearer", {"realm": "https://us-docker.pkg.dev/v2/token"}),
    ("bearer", {"realm": "https://us-docker.pkg.dev/v2/token", "service": "us-docker.pkg.dev",
                "scope": "repository:<repo>:pull"}),
    ("basic", {"realm": "https://111111111111.dkr.ecr.us-east-1.amazonaws.com/", "service": "ecr.amazonaws.com"}),
    ("bearer", {"realm": _ACR, "service": "myregistry.azurecr.io", "scope": "registry:catalog:*",
                "error": "invalid_token"}),
    ("bearer", {"realm": _ACR, "service": "myregistry.azurecr.io", "scope": "repository:library/hello-world:pull,push"}),
    ("bearer", {"realm": _ACR, "service": "myregistry.azurecr.io",
                "scope": "repository:library/hello-world:metadata_read"}),
    ("bearer", {"realm": "https://gitlab.com/jwt/auth", "service": "container_registry"}),
    ("bearer", {"realm": "https://ourgitlab.com/jwt/auth", "service": "container_registry",
                "scope": "registry:catalog:*"}),
    ("bearer", {"realm": "https://<REDACTED>/v2/token", "service": "container_registry", "scope": "*"}),
    ("bearer", {"realm": "https://quay.io/v2/auth", "service": "quay.io"}),
]


def test_real_challenges_table_is_complete():
    assert len(real_headers()) == len(EXPECTED_REAL)


@pytest.mark.parametrize("i", range(len(EXPECTED_REAL)), ids=lambda i: f"{i}-{real_headers()[i]['registry'][:24]}")
def test_real_challenges_parse(i):
    (ch,) = parse_challenges(real_headers()[i]["value"])
    assert (ch.scheme, dict(ch.params)) == EXPECTED_REAL[i]


def test_commas_inside_quotes_and_several_challenges():
    header = (
        'Bearer realm="https://auth.example.com/token",service="reg",'
        'scope="repository:a/b:pull,push repository:c:pull", Basic realm="fallback, really", '
        'Negotiate abc123=='
    )
    chs = parse_challenges(header)
    assert [c.scheme for c in chs] == ["bearer", "basic", "negotiate"]
    assert chs[0].params["scope"] == "repository:a/b:pull,push repository:c:pull"
    assert chs[1].realm == "fallback, really"
    assert chs[2].params["token68"] == "abc123=="


def test_escapes_and_unquoted_and_case():
    (ch,) = parse_challenges('BEARER Realm="a\\"b", service=gcr.io , error="insufficient_scope"')
    assert ch.scheme == "bearer"
    assert ch.realm == 'a"b'
    assert ch.params["service"] == "gcr.io"
    assert ch.params["error"] == "insufficient_scope"


def test_empty_header():
    assert parse_challenges(None) == []
    assert parse_challenges("") == []


def test_credential_repr_hides_secrets():
    c = Credential("alice", "hunter2")
    assert "hunter2" not in repr(c) and "alice" in repr(c)
    t = Credential("<token>", "", "refresh-secret")
    assert "refresh-secret" not in repr(t)


def test_explicit_credentials_win_and_normalise_hosts(tmp_path):
    cfg = {"auths": {"ghcr.io": {"auth": base64.b64encode(b"cfguser:cfgpass").decode()}}}
    store = CredentialStore({"https://ghcr.io/": ("me", "pw"), "index.docker.io": ("hub", "pw2")}, cfg)
    assert store.get("ghcr.io") == Credential("me", "pw")
    assert store.get("docker.io") == Credential("hub", "pw2")
    assert "pw" not in repr(store)


def test_docker_config_auths(tmp_path):
    cfg = {
        "auths": {
            "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpass").decode()},
            "registry.example.com:5000": {"username": "u", "password": "p"},
            "quay.io": {"identitytoken": "idtok"},
            "empty.example": {},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    store = CredentialStore(None, tmp_path)
    assert store.get("docker.io") == Credential("hubuser", "hubpass")
    assert store.get("registry.example.com:5000") == Credential("u", "p")
    assert store.get("quay.io").identity_token == "idtok"
    assert store.get("empty.example") is None
    assert store.get("other.example") is None


def test_docker_config_env_var(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"r.example": {"username": "e", "password": "v"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert CredentialStore().get("r.example") == Credential("e", "v")


def _helper(tmp_path: Path, name: str, body: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / f"docker-credential-{name}"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return bindir


def test_cred_helpers_and_store(tmp_path, monkeypatch):
    bindir = _helper(
        tmp_path,
        "fake",
        'read host\n'
        'case "$host" in\n'
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"x","Username":"hub","Secret":"hubsecret"}\' ;;\n'
        '  ghcr.io) echo \'{"ServerURL":"ghcr.io","Username":"<token>","Secret":"idtoken"}\' ;;\n'
        '  *) echo "credentials not found in native keychain"; exit 1 ;;\n'
        "esac\n",
    )
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    store = CredentialStore(None, {"credHelpers": {"ghcr.io": "fake"}, "credsStore": "fake"})
    assert store.get("ghcr.io") == Credential("<token>", "", "idtoken")
    assert store.get("docker.io") == Credential("hub", "hubsecret"), "Docker Hub is asked for by its v1 URL"
    assert store.get("unknown.example") is None


def test_missing_helper_warns_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    store = CredentialStore(None, {"credsStore": "does-not-exist"})
    with pytest.warns(UserWarning, match="docker-credential-does-not-exist"):
        assert store.get("docker.io") is None


def test_token_cache_expiry():
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    key = ("realm", "svc", "repository:a:pull")
    cache.put(key, "tok", 300)
    assert cache.get(key) == "tok"
    now[0] += 296
    assert cache.get(key) is None, "refreshed a little before expires_in runs out"
    cache.put(key, "tok2", None)  # default lifetime: 60 s
    now[0] += 50
    assert cache.get(key) == "tok2"
    now[0] += 10
    assert cache.get(key) is None
