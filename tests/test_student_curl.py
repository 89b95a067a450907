"""Issue 16, for the teacher: notebook 02's curl lines replay in a shell, and as_curl() says what it needs.

The replay test runs notebook 02 in a kernel (as build.py does), keeps that kernel - and so the
sandbox it started - alive, takes the `export` and `$` lines from the executed output, and runs
them in order with bash, as a student pasting them would. The bytes that come back must hash to
the digests of the sandbox's sample image.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from registry_explorer.http.trace import REDACTED, Trace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02-anatomy-of-a-pull.ipynb"
PORT = re.compile(r"127\.0\.0\.1:\d+")
DIGEST = "sha256:" + "ab" * 32


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- as_curl -------------------------------------------------------------------------------------------


def _exchange(method: str, url: str, purpose: str, headers: dict | None = None):
    return Trace().start(method, url, purpose, headers or {})


def test_as_curl_writes_blob_bodies_to_a_file():
    """Before: a layer's curl printed gzip to the terminal (with -s: nothing, exit 23)."""
    ex = _exchange("GET", f"https://r.example/v2/app/blobs/{DIGEST}", "blob", {"Authorization": "Bearer x"})
    cmd = ex.as_curl()
    assert f" -o sha256-{'ab' * 32} " in cmd and cmd.endswith(f"/blobs/{DIGEST}")
    ranged = _exchange("GET", f"https://r.example/v2/app/blobs/{DIGEST}", "blob", {"Range": "bytes=0-9"})
    assert f" -o sha256-{'ab' * 32}.part " in ranged.as_curl()
    # Text bodies are still printed; a HEAD has no body at all.
    assert " -o " not in _exchange("GET", "https://r.example/v2/app/manifests/1", "manifest").as_curl()
    assert " -o " not in _exchange("HEAD", f"https://r.example/v2/app/blobs/{DIGEST}", "blob").as_curl()


def test_as_curl_names_the_variables_it_expects():
    bearer = _exchange("GET", "https://r.example/v2/", "ping", {"Authorization": "Bearer secret"})
    basic = _exchange("GET", "https://auth.example/token?service=r", "token", {"Authorization": "Basic dXNlcjpw"})
    anonymous = _exchange("GET", "https://r.example/v2/", "ping")
    assert bearer.curl_variables() == ("TOKEN",)
    assert basic.curl_variables() == ("USERNAME", "PASSWORD")
    assert anonymous.curl_variables() == ()
    assert bearer.as_curl(explain=True).splitlines()[0] == "# expects $TOKEN"
    assert basic.as_curl(explain=True).splitlines()[0] == "# expects $USERNAME $PASSWORD"
    assert anonymous.as_curl(explain=True) == anonymous.as_curl()
    assert "$TOKEN" in bearer.as_curl() and "secret" not in bearer.as_curl(explain=True)
    grant = Trace().start("POST", "https://auth.example/token", "token", {}, form={"refresh_token": "s3cret"})
    assert grant.form == {"refresh_token": REDACTED} and grant.curl_variables() == ("TOKEN",)


def test_as_curl_can_assign_the_token(tmp_path):
    """A token request as `TOKEN=$(curl ... | python3 ...)`: the lines after it have the token."""
    ex = _exchange("GET", "https://auth.example/token?scope=repository:a:pull", "token", {"Authorization": "Basic x"})
    line = ex.as_curl(assign_token=True)
    assert line.startswith('TOKEN=$(curl -sS -u "$USERNAME:$PASSWORD" ') and line.endswith("')")
    assert ex.as_curl() in line
    # The python3 part really picks the token out of a token server's answer.
    pick = line[line.index("| python3 -c ") + 2:-1]
    body = json.dumps({"token": "T0K", "access_token": "T0K", "expires_in": 60})
    out = subprocess.run(["bash", "-c", f"printf '%s' {json.dumps(body)} | {pick}"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert out.strip() == "T0K"
    assert not _exchange("GET", "https://r.example/v2/", "ping").as_curl(assign_token=True).startswith("TOKEN=")


# -- notebook 02, replayed -------------------------------------------------------------------------


def _build_module():
    spec = importlib.util.spec_from_file_location("rx_nb_build", ROOT / "notebooks" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def replay_lines(nb) -> list[str]:
    """The `export` lines and the `$ ` commands of the executed notebook, in output order."""
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            text = o.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                if line.startswith("export "):
                    out.append(line)
                elif line.startswith("$ "):
                    out.append(line[2:])
    return out


def _run_notebook_and_replay(workdir: Path) -> tuple[list[str], dict[int, bytes], str]:
    """Execute notebook 02 and, while its kernel (and sandbox) live, run its lines with bash."""
    import nbformat
    from nbclient import NotebookClient

    build = _build_module()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory(prefix="rx-nbreplay-") as sockets:
        km = build._kernel_manager(sockets)
        client = NotebookClient(nb, km=km, timeout=120, allow_errors=False,
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        try:
            with client.setup_kernel(env=env):
                for i, cell in enumerate(nb.cells):
                    client.execute_cell(cell, i)
                lines = replay_lines(nb)
                script = ["set -euo pipefail"]
                for i, line in enumerate(lines):
                    # Each command's stdout kept apart, to hash what it printed.
                    script.append(line if line.startswith(("export ", "TOKEN=")) else f"{line} > out-{i}")
                run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, env=env, capture_output=True,
                                     text=True, timeout=60)
                assert run.returncode == 0, f"bash exit {run.returncode}: {run.stderr}\n" + "\n".join(script)
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    outputs = {i: (workdir / f"out-{i}").read_bytes() for i in range(len(lines)) if (workdir / f"out-{i}").exists()}
    return lines, outputs, run.stderr


@pytest.mark.integration
def test_notebook_02_curl_lines_replay_in_bash(images, tmp_path):
    """Before: no USERNAME/PASSWORD, no scoped token line (HEAD: 401), no -o, and the sandbox stopped."""
    assert shutil.which("curl") and shutil.which("bash") and shutil.which("python3")
    lines, outputs, stderr = _run_notebook_and_replay(tmp_path)
    multi = images["multi"]
    arm64 = multi.extra["platforms"]["linux/arm64"]
    layer = multi.blobs[arm64].json()["layers"][0]["digest"]
    layer_bytes = multi.blobs[layer].data

    exports = [x for x in lines if x.startswith("export ")]
    assert exports[0].startswith("export REGISTRY=127.0.0.1:")
    assert any("USERNAME=" in x and "PASSWORD=" in x for x in exports), "the demo account is printed"
    tokens = [x for x in lines if x.startswith("TOKEN=$(curl ")]
    assert len(tokens) == 2 and "scope=repository:demo/multiarch:pull" in tokens[1], "the scoped token request"

    head = next(i for i, x in enumerate(lines) if "--head" in x)
    assert b" 200" in outputs[head].splitlines()[0], outputs[head][:200]  # not 401 insufficient_scope
    assert f"docker-content-digest: {multi.digest}".encode() in outputs[head].lower()
    by_text = {i: x for i, x in enumerate(lines)}
    index_get = next(i for i, x in by_text.items() if x.startswith("curl -sS -H 'Accept:") and x.endswith("/1.0"))
    assert sha256(outputs[index_get]) == multi.digest
    manifest_get = next(i for i, x in by_text.items() if x.endswith(f"/manifests/{arm64}"))
    assert sha256(outputs[manifest_get]) == arm64, "the platform manifest's bytes hash to its digest"

    blob_file = tmp_path / layer.replace(":", "-", 1)
    assert blob_file.is_file(), f"the layer's -o file is missing: {sorted(p.name for p in tmp_path.iterdir())}"
    assert sha256(blob_file.read_bytes()) == layer
    assert (tmp_path / f"{blob_file.name}.part").read_bytes() == layer_bytes[:10]
    assert "Failed writing" not in stderr

    # The committed notebook shows the same lines (ports differ per run), and never stops the sandbox
    # before a student has pasted them.
    committed = json.loads(NOTEBOOK.read_text())
    assert [PORT.sub("P", x) for x in replay_lines(committed)] == [PORT.sub("P", x) for x in lines]
    printed = [o.get("text", "") for c in committed["cells"] for o in c.get("outputs", [])]
    assert not any("sandbox stopped" in "".join(t) for t in printed), "Run All stopped the sandbox"
