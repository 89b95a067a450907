"""Issue 21, class 4: server-chosen text reaches a terminal with its control characters made visible.

A hostile registry names tags, repositories and files with escape sequences (a window-title OSC,
a screen clear, a C1 CSI, a bidi override, a carriage return, a newline that forges a line) and
answers errors with them. Every `rx` verb and text format (bare lines, table, CSV), the `rx: error:`
line, the curl script and `%rx`'s printed line must show them as escapes; JSON stays exact JSON
(its encoder escapes them), and ordinary UTF-8 text stays readable.
"""

from __future__ import annotations

import contextlib
import json
import re
import tarfile

import pytest
from helpers.hostile import OCI_MANIFEST, RecordingHandler, Seen, image, layer_tar, recording_server, sha256
from helpers.shown import run_cli

import registry_explorer as rx
from registry_explorer.core.terminal import visible
from registry_explorer.doors.magic import RxMagic

# What must never reach a terminal raw: C0 (but the newline that ends a line), DEL, C1, bidi controls.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
HOSTILE = {
    "osc-title": "evil\x1b]0;pwned\x07",
    "clear-screen": "x\x1b[2J\x1b[H",
    "c1-csi": "c1\x9b31mred",
    "bidi": "doc\u202etxt.exe",
    "carriage-return": "ok\rFORGED",
    "newline": "one\nforged-line",
    "nul-bell": "a\x00b\x07",
}
READABLE = "café-中文-ok"  # UTF-8 text: shown as it is
REPO = "team/app"


def _image() -> tuple[bytes, dict[str, bytes]]:
    members = [(f"files/{name}-{value}", b"x") for name, value in HOSTILE.items()] + [(f"files/{READABLE}", b"y")]
    return image([layer_tar(members)])


@contextlib.contextmanager
def hostile_registry(error: str = ""):
    manifest, blobs = _image()
    tags = [*HOSTILE.values(), READABLE]

    def respond(h: RecordingHandler, s: Seen) -> None:
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        if path == "/v2/_catalog":
            return h.json(200, {"repositories": [REPO, *(f"x/{v}" for v in HOSTILE.values()), f"x/{READABLE}"]})
        if path == f"/v2/{REPO}/tags/list":
            return h.json(200, {"name": REPO, "tags": tags})
        if path.startswith(f"/v2/{REPO}/manifests/") and not path.endswith("/missing"):  # every tag: this image
            return h.reply(200, manifest, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(manifest)})
        digest = path.rsplit("/", 1)[-1]
        if path.startswith(f"/v2/{REPO}/blobs/") and digest in blobs:
            return h.reply(200, blobs[digest], {"Content-Type": "application/octet-stream"})
        return h.json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": error or "unknown"}]})

    with recording_server(respond) as rec:
        yield rec.host, tags


def _assert_visible(text: str, where: str) -> None:
    raw = sorted({repr(c) for c in RAW.findall(text)})
    assert raw == [], f"{where} wrote control characters raw: {raw}"


TEXT_RUNS = {
    "ls": ["ls", "{repo}"], "ls-table": ["ls", "{repo}", "-o", "table"], "ls-csv": ["ls", "{repo}", "-o", "csv"],
    "catalog": ["catalog", "{host}"], "catalog-table": ["catalog", "{host}", "-o", "table"],
    "files": ["files", "{ref}"], "files-csv": ["files", "{ref}", "-o", "csv"],
    "files-layer": ["files", "{ref}", "--layer", "0"],
    "census": ["census", "{host}", REPO, "--table", "tags"],
    "census-csv": ["census", "{host}", REPO, "--table", "tags", "-o", "csv"],
}


@pytest.mark.parametrize("run", sorted(TEXT_RUNS))
def test_text_output_shows_control_characters(run, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with hostile_registry() as (host, tags):
        argv = [a.format(host=host, repo=f"{host}/{REPO}", ref=f"{host}/{REPO}:v1") for a in TEXT_RUNS[run]]
        code, out, err = run_cli(capsys, "--insecure", host, *argv)
    assert code == 0, err
    _assert_visible(out + err, f"rx {run}")
    # The control: the hostile names were printed (escaped), and UTF-8 stayed readable. (The census
    # refuses tags that are not valid references, so only the readable one reaches its table.)
    assert READABLE in out and (run.startswith("census") or visible(HOSTILE["osc-title"]) in out)
    if run == "ls":
        assert out.splitlines() == sorted(visible(t) for t in tags), "one line per tag, nothing forged"


@pytest.mark.parametrize("run", ["ls", "catalog", "files"])
def test_json_output_stays_exact(run, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with hostile_registry() as (host, tags):
        arg = {"ls": f"{host}/{REPO}", "catalog": host, "files": f"{host}/{REPO}:v1"}[run]
        code, out, err = run_cli(capsys, "--insecure", host, run, arg, "-o", "json")
    assert code == 0, err
    _assert_visible(out, f"rx {run} -o json")
    data = json.loads(out)
    if run == "ls":
        assert data == sorted(tags), "JSON carries the exact names (escaped by the encoder)"
    if run == "files":
        assert f"files/osc-title-{HOSTILE['osc-title']}" in {r["path"] for r in data}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_error_line_from_a_hostile_error_body(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with hostile_registry(error=f"nope {HOSTILE[name]} \x1b[31mred\x1b[0m") as (host, _):
        code, out, err = run_cli(capsys, "--insecure", host, "manifest", f"{host}/{REPO}:missing")
        client = rx.Client(docker_config={}, retries=0, timeout=5, cache=False)
        capsys.readouterr()
        assert RxMagic(client)(f"manifest {host}/{REPO}:missing") is None
        printed = capsys.readouterr()
    assert code == 1 and err.startswith("rx: error: ") and err.count("\n") == 1
    _assert_visible(out + err, "the rx: error: line")
    assert "\\x1b[31mred" in err, "the escape is shown, not dropped"
    _assert_visible(printed.out + printed.err, "%rx's error line")
    assert printed.out.startswith("rx: error: ")


def test_trace_table_and_curl_script_show_a_hostile_redirect_path(capsys, monkeypatch, tmp_path):
    """A Location path is recorded as the server wrote it; the trace table and the curl script escape it."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    manifest, blobs = _image()
    layer = next(d for d, b in blobs.items() if b[:2] == b"\x1f\x8b")

    def respond(h: RecordingHandler, s: Seen) -> None:
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        if path.endswith("/manifests/v1") or path.endswith(sha256(manifest)):
            return h.reply(200, manifest, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(manifest)})
        if path.endswith(layer):
            return h.reply(307, b"", {"Location": "/storage/\x1b]0;pwned\x07/blob"})
        if path.startswith("/storage/"):
            return h.reply(200, blobs[layer])
        digest = path.rsplit("/", 1)[-1]
        return h.reply(200, blobs[digest]) if digest in blobs else h.json(404, {})

    with recording_server(respond) as rec:
        ref = f"{rec.host}/{REPO}:v1"
        runs = {fmt: run_cli(capsys, "--insecure", rec.host, "trace", ref, *extra)
                for fmt, extra in {"table": [], "csv": ["-o", "csv"],
                                   "curl": ["--curl", "--dir", str(tmp_path / "d")]}.items()}
    for fmt, (code, out, err) in runs.items():
        assert code == 0, err
        _assert_visible(out + err, f"rx trace ({fmt})")
    assert "/storage/" in runs["table"][1], "the redirect hop was in the table"


def test_hostile_names_in_an_exported_tar_are_data_not_terminal_text(capsys, monkeypatch, tmp_path):
    """`rx export` writes names as the image has them (a tar holds bytes); listing it is tar's job."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with hostile_registry() as (host, _):
        code, _, err = run_cli(capsys, "--insecure", host, "export", f"{host}/{REPO}:v1", str(tmp_path / "fs.tar"))
    assert code == 0, err
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
    assert f"files/osc-title-{HOSTILE['osc-title']}" in names and f"files/{READABLE}" in names
