"""Issue 21, class 3: a secret planted in any field a server or a user can set is never shown.

"Shown" is everything in `helpers.shown.gather`: trace records (repr, rows, curl lines, HTML),
frames, `rx` in json/table/csv and its curl script and error line, `%rx`, str/repr/attributes of
every error, reprs of the client and its parts, warnings, log records at DEBUG and the pickled
settings a census worker receives. Each secret is distinct, so a failure names the field.
The controls check that each planted field was really exercised (the scenario reached it).
"""

from __future__ import annotations

import base64
import json
import os
import stat

import fsspec
import pytest
from helpers.shown import LAYER, REPO, TOKEN, Plant, gather, hostile_registry, run_cli

import registry_explorer as rx
from registry_explorer.core.errors import InvalidReference
from registry_explorer.doors.magic import RxMagic

# -- server-set fields ---------------------------------------------------------------------------------

S = "UNLIKELY-9f3a"  # suffix of every planted secret


def _sec(name: str) -> str:
    return f"{name}-{S}"


SERVER_VARIANTS = {
    # Location of a blob redirect to storage: presigned URLs (S3, GCS, Azure SAS), userinfo, fragments.
    "location-amz": (Plant(location="http://{storage}/storage/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential="
                                    + _sec("amzcred") + "&X-Amz-Signature=" + _sec("amzsig")),
                     [_sec("amzcred"), _sec("amzsig")]),
    "location-azure-sig": (Plant(location="http://{storage}/storage/blob?sv=2020&sig=" + _sec("azsig")),
                           [_sec("azsig")]),
    "location-token": (Plant(location="http://{storage}/storage/blob?token=" + _sec("loctok")), [_sec("loctok")]),
    "location-goog": (Plant(location="http://{storage}/storage/blob?X-Goog-Signature=" + _sec("goog")),
                      [_sec("goog")]),
    "location-userinfo": (Plant(location="http://cdn:" + _sec("locpw") + "@{storage}/storage/blob"),
                          [_sec("locpw")]),
    "location-fragment": (Plant(location="http://{storage}/storage/blob#access_token=" + _sec("frag")),
                          [_sec("frag")]),
    "location-relative": (Plant(location="/storage/blob?sig=" + _sec("relsig")), [_sec("relsig")]),
    # Link of a tag page: relative and absolute, secret in the query or the userinfo.
    "link-query": (Plant(link="</v2/" + REPO + "/tags/list?last=v1&n=1&token=" + _sec("linktok") + '>; rel="next"'),
                   [_sec("linktok")]),
    "link-userinfo": (Plant(link="<http://u:" + _sec("linkpw") + "@{registry}/v2/" + REPO
                               + '/tags/list?last=v1>; rel="next"'), [_sec("linkpw")]),
    # The realm of a Bearer challenge.
    "realm-query": (Plant(realm="http://{registry}/token?sig=" + _sec("realmsig")), [_sec("realmsig"), TOKEN]),
    "realm-userinfo": (Plant(realm="http://u:" + _sec("realmpw") + "@{registry}/token"), [_sec("realmpw"), TOKEN]),
    # Error bodies: a URL with a secret, a secret-named field, our own token echoed back, a JWT.
    "error-url": (Plant(error_body={"errors": [{"code": "MANIFEST_UNKNOWN",
                                                "message": "see https://docs.example/x?token=" + _sec("errurl")}]}),
                  [_sec("errurl")]),
    "error-detail-field": (Plant(error_body={"errors": [{"code": "DENIED", "message": "no",
                                                         "detail": {"password": _sec("errpw"), "sig": _sec("errsig")}}]}),
                           [_sec("errpw"), _sec("errsig")]),
    "error-echoes-token": (Plant(realm="http://{registry}/token",
                                 error_body={"errors": [{"code": "MANIFEST_UNKNOWN",
                                                         "message": f"token {TOKEN} may not read this"}]}),
                           [TOKEN]),
    "error-echoes-authorization": (Plant(realm="http://{registry}/token",
                                         error_body={"errors": [{"code": "DENIED",
                                                                 "message": f"Authorization: Bearer {TOKEN}"}]}),
                                   [TOKEN]),
    "reason-phrase": (Plant(reason="Not Found token=" + _sec("reason")), [_sec("reason")]),
    # Token bodies: every secret-bearing key (and the token itself).
    "token-body": (Plant(realm="http://{registry}/token",
                         token_body={"token": TOKEN, "access_token": TOKEN, "refresh_token": _sec("refresh"),
                                     "id_token": _sec("idtok"), "expires_in": 300}),
                   [TOKEN, _sec("refresh"), _sec("idtok")]),
    # Other response headers: a URL header of the server's choosing, Content-Location, a cookie.
    "header-url": (Plant(headers={"X-Upstream": "https://cdn.example/p?X-Amz-Signature=" + _sec("hdrurl")}),
                   [_sec("hdrurl")]),
    "header-content-location": (Plant(headers={"Content-Location": "/v2/x?sig=" + _sec("cloc")}), [_sec("cloc")]),
    "header-cookie": (Plant(headers={"Set-Cookie": "session=" + _sec("cookie") + "; HttpOnly"}), [_sec("cookie")]),
}


@pytest.mark.parametrize("variant", sorted(SERVER_VARIANTS))
def test_a_secret_a_server_plants_is_never_shown(variant, capsys, caplog, tmp_path, monkeypatch):
    plant, secrets = SERVER_VARIANTS[variant]
    got = gather(plant, capsys, caplog, tmp_path, monkeypatch)
    assert got.search(secrets) == []
    # Controls: the scenario ran (the CLI reached the registry) and the field it plants was recorded.
    code, out, _ = got.cli["trace-json"]
    assert code == 0 and json.loads(out), "rx trace worked against the hostile registry"
    assert got.cli["missing"][0] == 1 and got.cli["missing"][2].startswith("rx: error: ")
    hay = "\n".join(t for _, t in got.texts)
    if plant.location:
        assert "/storage/blob" in hay, "the redirect was recorded (redacted, not dropped)"
    if plant.realm:
        assert "Bearer <redacted>" in hay or "$TOKEN" in hay, "the token flow ran"


def test_the_location_header_in_the_exchange_html_is_redacted_but_kept(capsys, caplog, tmp_path, monkeypatch):
    """Issue 21's example: the 307's Location was shown in full in the exchange's HTML."""
    plant, secrets = SERVER_VARIANTS["location-amz"]
    with hostile_registry(plant) as world:
        client = rx.Client(docker_config={}, retries=0, timeout=5, cache=False)
        client.blob(f"{world['registry']}/{REPO}", rx.Descriptor("x", "sha256:" + __import__("hashlib").sha256(LAYER).hexdigest(), len(LAYER)))
    hop = next(ex for ex in client.trace if ex.status == 307)
    html = hop._repr_html_()
    assert "Location" in html and "X-Amz-Signature=***" in html and "X-Amz-Algorithm=AWS4" in html
    assert not [s for s in secrets if s in html]


# -- user-set fields -----------------------------------------------------------------------------------

PW = _sec("userpw")
USER_REFERENCES = [
    f"alice:{PW}@127.0.0.1:5000/repo:tag",
    f"https://alice:{PW}@127.0.0.1:5000/repo:tag",
    f"alice:{PW}@127.0.0.1:5000/repo@sha256:" + "a" * 64,
    f"alice:pa/{PW}@127.0.0.1:5000/repo:tag",
    f"alice:p@{PW}@127.0.0.1:5000/repo:tag",
    f"127.0.0.1:5000/repo:tag?token={PW}",
]


@pytest.mark.parametrize("text", USER_REFERENCES)
def test_a_password_in_a_reference_is_not_in_the_error(text, capsys):
    with pytest.raises(InvalidReference) as info:
        rx.parse_reference(text)
    exc = info.value
    shown = [str(exc), repr(exc), repr(vars(exc)), repr(exc.args)]
    assert [t for t in shown if PW in t] == []
    assert "invalid reference" in str(exc), "the error still says what was wrong"
    code, out, err = run_cli(capsys, "digest", text)
    assert code == 1 and err.startswith("rx: error: ") and PW not in out + err
    magic_out = _magic_print(capsys, f"digest {text}")
    assert "rx: error: " in magic_out and PW not in magic_out


@pytest.mark.parametrize("path", [f"docker://alice:{PW}@127.0.0.1:5000/repo:tag/etc/passwd",
                                  f"docker://alice:{PW}@127.0.0.1:5000/repo",
                                  f"docker://alice:{PW}@127.0.0.1:5000"])
def test_docker_url_with_a_password(path):
    """Issue 21's example: `docker://alice:PASSWORD@host/...` put the password into InvalidReference."""
    fs = fsspec.filesystem("docker", client=rx.Client(docker_config={}, retries=0, timeout=2, cache=False))
    for call in (lambda: fs.ls(path), lambda: fs.info(path), lambda: fs.cat_file(path)):
        with pytest.raises(rx.RegistryExplorerError) as info:
            call()
        assert PW not in str(info.value) + repr(info.value) + repr(vars(info.value))


def _magic_print(capsys, line: str) -> str:
    capsys.readouterr()
    RxMagic(rx.Client(docker_config={}, retries=0, timeout=2, cache=False))(line)
    out = capsys.readouterr()
    return out.out + out.err


def _config_variants() -> dict[str, tuple[object, list[str]]]:
    """name -> (a docker config for a registry host, the secrets in it)."""
    auth = base64.b64encode(f"alice:{_sec('cfgauth')}".encode()).decode()
    return {
        "auth": (lambda h: {"auths": {h: {"auth": auth}}}, [_sec("cfgauth"), auth]),
        "password": (lambda h: {"auths": {h: {"username": "alice", "password": _sec("cfgpw")}}}, [_sec("cfgpw")]),
        "identitytoken": (lambda h: {"auths": {h: {"identitytoken": _sec("cfgidt")}}}, [_sec("cfgidt")]),
        "malformed-auth": (lambda h: {"auths": {h: {"auth": "!!" + _sec("cfgbad")}}}, [_sec("cfgbad")]),
        "helper-json": (lambda h: {"credHelpers": {h: "shown"}}, [_sec("helper")]),
        "helper-not-json": (lambda h: {"credHelpers": {h: "garbled"}}, [_sec("garbled")]),
        "helper-fails": (lambda h: {"credHelpers": {h: "failing"}}, [_sec("failing")]),
    }


def _helpers(tmp_path) -> str:
    """Three docker-credential-* programs: one answers, one prints garbage, one fails loudly."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    scripts = {
        "shown": f'#!/bin/sh\necho \'{{"Username": "alice", "Secret": "{_sec("helper")}"}}\'\n',
        "garbled": f"#!/bin/sh\necho 'not json {_sec('garbled')}'\n",
        "failing": f"#!/bin/sh\necho 'error {_sec('failing')}' >&2\nexit 1\n",
    }
    for name, text in scripts.items():
        p = bindir / f"docker-credential-{name}"
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(bindir)


@pytest.mark.parametrize("variant", sorted(_config_variants()))
def test_docker_config_and_helper_secrets_are_never_shown(variant, capsys, caplog, tmp_path, monkeypatch):
    """The registry demands Basic auth; the library and the CLI both read the hostile docker config."""
    monkeypatch.setenv("PATH", _helpers(tmp_path) + os.pathsep + os.environ["PATH"])
    config, secrets = _config_variants()[variant]
    plant = Plant(basic=True)
    got = gather(plant, capsys, caplog, tmp_path, monkeypatch, docker_config=config, cli=("trace-json", "missing"))
    client = got.client
    with pytest.raises(ValueError) as refused:  # a config as a dict holds secrets: never sent to a worker
        client.settings(docker_config=config("127.0.0.1:1"))
    texts = [str(refused.value), repr(refused.value)]
    assert got.search(secrets) == [] and [s for s in secrets if any(s in t for t in texts)] == []
    if variant in ("auth", "password", "helper-json", "identitytoken"):
        # The control: the secret was really read and sent (as Basic), so every surface had a chance to show it.
        assert any(ex.auth_scheme == "Basic" for ex in client.trace)
        assert got.cli["trace-json"][0] == 0, got.cli["trace-json"][2]
    else:  # nothing usable in the config: the registry's 401 is the one-line error
        assert got.cli["trace-json"][0] == 1 and "unauthorized" in got.cli["trace-json"][2]
