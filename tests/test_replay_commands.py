"""Issue 26: every command the package shows runs as shown, in bash, against the registry it came from.

Both sandbox flavours: open, and token auth (a token server and a demo account). For each, the
commands of the Explorer's descriptor card (curl and `skopeo inspect --raw`, the token request first
when there is one), every curl line of its HTTP tab, and `rx trace --curl` run in bash in a temporary
directory with only the variables they name exported, and what they print or write must hash to the
digests the Explorer showed. Before: skopeo failed on plain http (no --tls-verify=false), the card's
curl got 401 on the token sandbox (no token), and the HTTP tab's curl needed a $TOKEN nothing set.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import registry_explorer as rx
import registry_explorer.sandbox  # noqa: F401  (rx.sandbox)
from registry_explorer.widgets import ExplorerState
from registry_explorer.widgets.runnable import replay_for
from registry_explorer.widgets.ui import render

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module", params=["open", "token"])
def sandbox(request):
    for tool in ("bash", "curl", "skopeo", "python3"):
        assert shutil.which(tool), f"{tool} is installed by scripts/system-deps.sh"
    sb = rx.sandbox.start(auth=None if request.param == "open" else "token")
    yield sb
    sb.stop()


def _env(sb) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONPATH=str(ROOT))
    env.pop("TOKEN", None)
    if sb.username:  # what the `export` line of the sandbox names
        env.update(USERNAME=sb.username, PASSWORD=sb.password)
    else:
        env.pop("USERNAME", None), env.pop("PASSWORD", None)
    return env


def bash(lines: list[str], sb, cwd: Path) -> subprocess.CompletedProcess:
    """Run the lines in one bash (a TOKEN= line is seen by the ones after it), stdout of line i to out-i."""
    script = ["set -euo pipefail"]
    for i, line in enumerate(lines):
        script.append(line if line.startswith(("#", "TOKEN=")) else f"{line} > out-{i}")
    return subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=_env(sb), capture_output=True,
                          timeout=120)


def card_commands(card: str) -> list[str]:
    block = re.search(r"<summary>commands</summary>(.*?)</details>", card, re.S)
    assert block, "the card shows no commands"
    return [html.unescape(x) for x in re.findall(r"<pre>(.*?)</pre>", block.group(1), re.S)]


def test_descriptor_card_commands_run(sandbox, tmp_path):
    state = ExplorerState(sandbox.client())
    assert state.resolve(sandbox.references["multiarch"])
    index = state.index
    lines = card_commands(render.descriptor_card(state.descriptor, index, state.subject,
                                                 replay_for(state.client, state.ref)))
    run = bash(lines, sandbox, tmp_path)
    assert run.returncode == 0, (run.stderr.decode(), lines)
    curl = next(i for i, x in enumerate(lines) if x.startswith("curl "))
    skopeo = next(i for i, x in enumerate(lines) if x.startswith("skopeo "))
    assert sha256((tmp_path / f"out-{curl}").read_bytes()) == index.digest
    assert sha256((tmp_path / f"out-{skopeo}").read_bytes()) == index.digest, "skopeo sees the same bytes"
    if sandbox.username:
        assert lines[0].startswith("# expects $USERNAME $PASSWORD") and lines[1].startswith("TOKEN=$(curl ")


def test_manifest_card_commands_run(sandbox, tmp_path):
    """A platform manifest's card (as shown in place or in a notebook): its config blob's curl too."""
    from registry_explorer.html import manifest_html
    from registry_explorer.html.links import replay_context

    client = sandbox.client()
    image = client.image(sandbox.references["multiarch"], platform="linux/arm64")
    state = ExplorerState(client)
    assert state.resolve(sandbox.references["multiarch"])
    with replay_context(replay_for(client, state.ref)):
        lines = card_commands(manifest_html(image))
    run = bash(lines, sandbox, tmp_path)
    assert run.returncode == 0, (run.stderr.decode(), lines)
    outs = {x: (tmp_path / f"out-{i}").read_bytes() for i, x in enumerate(lines) if not x.startswith(("#", "TOKEN"))}
    digests = {sha256(b) for b in outs.values()}
    assert image.digest in digests and image.config.digest in digests, lines


def test_http_tab_lines_run(sandbox, tmp_path):
    """Every exchange of the HTTP tab: its lines run, and what came back hashes to what it is."""
    client = sandbox.client()
    state = ExplorerState(client)
    assert state.resolve(sandbox.references["hello"])
    assert state.load_files()  # blobs: the layers, streamed once
    state.refresh_trace()
    checked = {"manifest": 0, "blob": 0, "token": 0}
    for seq in list(state.trace["seq"]):
        script = state.curl(int(seq))
        lines = [x for x in script.splitlines() if x]
        ex = next(x for x in client.trace if x.seq == seq)
        if lines[-1].startswith("#"):
            assert ex.status is None or ex.origin == "cache", script
            continue
        work = tmp_path / f"ex-{seq}"
        work.mkdir()
        if lines[-1].startswith("TOKEN="):  # the token request itself: it sets $TOKEN for what follows
            lines.append('printf %s "$TOKEN"')
        run = bash(lines, sandbox, work)
        assert run.returncode == 0, (script, run.stderr.decode())
        out = (work / f"out-{len(lines) - 1}").read_bytes()
        words = shlex.split(lines[-1])
        last = ex.url.rsplit("/", 1)[-1]
        if "-o" in words:
            body = (work / words[words.index("-o") + 1]).read_bytes()
            assert out.startswith(b"HTTP 20"), out  # the status is shown, the body is in the file
            if "Range" not in lines[-1] and last.startswith("sha256:"):
                assert sha256(body) == last
                checked["blob"] += 1
        elif ex.method == "GET" and ex.purpose == "manifest" and last.startswith("sha256:"):
            assert sha256(out) == last
            checked["manifest"] += 1
        elif ex.purpose == "token" and ex.status == 200:
            assert out.startswith(b"eyJ"), out  # a JWT
            checked["token"] += 1
    assert checked["blob"] >= 1 and checked["manifest"] >= 1, checked
    if sandbox.username:
        assert checked["token"] >= 1


def test_rx_trace_curl_script_runs(sandbox, tmp_path):
    """`rx trace --curl --dir DIR` prints a script: bash runs it whole, blobs land in DIR and hash to their names."""
    extra = ["--insecure", sandbox.host] if sandbox.username else []
    env = _env(sandbox)
    if sandbox.username:  # the client signs in from the docker config, as a student's would
        import base64
        import json

        (tmp_path / "docker").mkdir()
        env["DOCKER_CONFIG"] = str(tmp_path / "docker")
        auth = base64.b64encode(f"{sandbox.username}:{sandbox.password}".encode()).decode()
        (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {sandbox.host: {"auth": auth}}}))
    blobs, work = tmp_path / "blobs", tmp_path / "cwd"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "registry_explorer", *extra, "trace", sandbox.references["hello"],
                           "--curl", "--dir", str(blobs)], capture_output=True, env=env, cwd=work, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    script = proc.stdout.decode()
    run = subprocess.run(["bash", "-e", "-c", script], capture_output=True, env=env, cwd=work, timeout=120)
    assert run.returncode == 0, (script, run.stderr.decode())
    assert b"HTTP 200" in run.stdout, "blob lines say what came back"
    files = sorted(blobs.iterdir())
    assert files and all(sha256(f.read_bytes()) == f.name.replace("-", ":", 1) for f in files), files
    assert not list(work.iterdir()), "the script wrote where it did not say"
