"""Issue 27's acceptance: each row of its table typed in bash, as written, against the sandbox registry.

`rx` here is a two-line shell script running `python -m registry_explorer` (the console script's
`main()`) from this checkout, on PATH, so the lines are exactly what a crane user types. Each test
checks the crane habit its row names against the library, never against `rx` itself:
`rx manifest REF | sha256sum` is the digest, `D=$(rx digest REF)` one bare line, `rx ls | xargs` bare
tags, `rx files` modes as `tar -tv` shows them, `rx export REF - | tar -tv` the merged filesystem of
`frames.image_files`, and `rx trace --curl` a script whose every line replays, writing nowhere by surprise.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from registry_explorer import frames, sandbox
from registry_explorer.doors.cli.output import tar_mode
from registry_explorer.sandbox.registry import RegistryBinaryMissing, find_registry_binary

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
# `tar -tv` (GNU): mode, owner/group, size, date time, name [-> target | link to target]
TAR_LINE = re.compile(r"^(\S{10}) (\d+)/(\d+)\s+(\d+) (\S+ \S+) (.*)$")


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    try:
        find_registry_binary()
    except RegistryBinaryMissing as exc:
        pytest.skip(str(exc))
    with sandbox.start(workdir=tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """PATH with an `rx` of this checkout first, no proxies, an empty docker config."""
    bindir = tmp_path_factory.mktemp("bin")
    (bindir / "rx").write_text(f'#!/bin/sh\nexec {sys.executable} -m registry_explorer "$@"\n')
    (bindir / "rx").chmod(0o755)
    cfg = tmp_path_factory.mktemp("docker-config")
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**base, "PATH": f"{bindir}{os.pathsep}{base['PATH']}", "PYTHONPATH": str(ROOT),
            "NO_PROXY": "127.0.0.1,localhost", "DOCKER_CONFIG": str(cfg)}


def bash(env, line: str, cwd=None) -> subprocess.CompletedProcess:
    """One line in bash (pipefail: every command of a pipe must succeed); stdout as text."""
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], capture_output=True, env=env, cwd=cwd,
                          timeout=180, text=True)
    assert proc.returncode == 0, f"{line}\n{proc.stderr[-2000:]}"
    return proc


def test_digest_is_one_bare_value(sb, env):
    client, ref = sb.client(), sb.references["hello"]
    proc = bash(env, f'D=$(rx digest {ref}); printf "%s|" "$D"; rx digest {ref} | wc -l')
    value, lines = proc.stdout.split("|")
    assert value == client.resolve(ref).digest and lines.strip() == "1"


@pytest.mark.parametrize("name", ["hello", "multiarch", "docker"])
def test_manifest_bytes_hash_to_the_digest(sb, env, name):
    ref = sb.references[name]
    proc = bash(env, f"rx manifest {ref} | sha256sum; rx digest {ref}")
    summed, digest = proc.stdout.splitlines()
    assert "sha256:" + summed.split()[0] == digest == sb.client().resolve(ref).digest


def test_config_bytes_hash_to_the_config_digest(sb, env):
    ref = sb.references["hello"]
    proc = bash(env, f"rx config {ref} | sha256sum")
    assert "sha256:" + proc.stdout.split()[0] == sb.client().image(ref).config.digest


def test_ls_and_catalog_print_bare_names_for_xargs_and_grep(sb, env):
    client, ref = sb.client(), sb.references["hello"]
    repo = ref.rsplit(":", 1)[0]
    tags = bash(env, f"rx ls {repo} | xargs -n1 echo").stdout.splitlines()
    assert tags == sorted(client.tags(repo))
    host = ref.split("/", 1)[0]
    demo = bash(env, f"rx catalog {host} | grep demo/").stdout.splitlines()
    assert demo == [r for r in client.catalog(host) if "demo/" in r] and "demo/hello" in demo


@pytest.mark.parametrize("name", ["hello", "data", "peek"])
def test_files_show_modes_as_tar_does(sb, env, name):
    ref = sb.references[name]
    want = frames.image_files(sb.client(), ref)
    lines = bash(env, f"rx files {ref}").stdout.splitlines()
    assert lines[0].split() == ["PATH", "TYPE", "SIZE", "MODE", "LINKNAME"]
    got = {ln.split()[0]: ln.split()[3] for ln in lines[1:]}
    assert got == {r.path: tar_mode(r.type, r.mode) for r in want.itertuples()}
    assert want["mode"].dtype.kind == "i", "the frame keeps the integer; only the edge formats it"
    assert "drwxr-xr-x" in got.values() and any(m.startswith("-rw-r--r--") for m in got.values())


def _tar_tv(env, ref: str) -> dict[str, tuple]:
    out = {}
    for line in bash(env, f"rx export {ref} - | tar -tv").stdout.splitlines():
        mode, uid, gid, size, _, rest = TAR_LINE.match(line).groups()
        link = ""
        if mode[0] == "l":
            rest, link = rest.split(" -> ", 1)
        elif mode[0] == "h":
            rest, link = rest.split(" link to ", 1)
        out[rest.rstrip("/")] = (mode, int(uid), int(gid), int(size), link)
    return out


@pytest.mark.parametrize("name", ["hello", "data", "peek"])
def test_export_is_the_merged_filesystem_as_tar(sb, env, name, tmp_path):
    ref = sb.references[name]
    want = frames.image_files(sb.client(), ref)
    got = _tar_tv(env, ref)
    expect = {}
    for r in want.itertuples():
        link = r.linkname.lstrip("./") if r.type == "hardlink" else r.linkname
        size = r.size if r.type == "file" else 0
        expect[r.path] = (tar_mode(r.type, r.mode), r.uid, r.gid, size, link if r.type in ("symlink", "hardlink") else "")
    assert got == expect
    if name == "data":  # whiteouts applied: the draft removed by the second layer is not in the stream
        assert "data/draft.csv" not in got and "data/parts/part-2.csv" in got
    if name == "peek":
        assert any(v[0].startswith("h") for v in got.values()), "a hard link stays a hard link"
    # The bytes extracted by tar are the verified file contents (`rx cat` reads them the same way).
    bash(env, f"mkdir -p x && rx export {ref} - | tar -x -C x", cwd=tmp_path)
    path = next(r.path for r in want.itertuples() if r.type == "file" and r.size > 0)
    assert (tmp_path / "x" / path).read_bytes() == sb.client().read_file(ref, path)


def test_trace_curl_replays_and_writes_only_where_it_says(sb, env, tmp_path):
    ref = sb.references["hello"]
    work = tmp_path / "cwd"
    work.mkdir()
    proc = bash(env, f"rx trace {ref} --curl > ../script.sh && bash -e ../script.sh > /dev/null", cwd=work)
    script = (tmp_path / "script.sh").read_text().splitlines()
    named = re.search(r"curl -o files go to (\S+)", proc.stderr)
    assert named, proc.stderr
    out_dir = Path(named.group(1))
    assert list(work.iterdir()) == [], "nothing was written to the current directory"
    probe = [ln for ln in script if ln.startswith("# GET https://")]
    assert probe and "failed" in probe[0] and "plain http" in probe[0], "the https probe is a comment saying why"
    assert all(ln.startswith(("#", "curl ", "TOKEN=$(curl ")) for ln in script), script
    layers = {d.digest for d in sb.client().image(ref).layers}
    written = {p.name.replace("-", ":", 1): "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
               for p in out_dir.iterdir()}
    assert layers <= set(written) and all(written[d] == d for d in written), "the replayed blobs verify"
