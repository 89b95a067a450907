"""`rx` as a subprocess: each verb's JSON equals the library's answer; errors are one line, exit 1."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers.clients import PRIVATE_REPO, client_for

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.doors import operations as verbs
from registry_explorer.sandbox import samples_data
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reg(open_registry):
    push_image(open_registry.url, samples_data.build_data(), verify=open_registry.verify)
    return open_registry


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """No proxy for loopback, and an empty docker config (the user's credentials stay out of tests)."""
    cfg = tmp_path_factory.mktemp("docker-config")
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**base, "NO_PROXY": "127.0.0.1,localhost", "DOCKER_CONFIG": str(cfg)}


def rx_run(env, *args, check=True, **kw) -> subprocess.CompletedProcess:
    # `python -m registry_explorer` from the checkout: the same main() as the `rx` console script.
    proc = subprocess.run([sys.executable, "-m", "registry_explorer", *args], capture_output=True, cwd=ROOT,
                          env=env, timeout=120, **kw)
    if check:
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return proc


def rx_json(env, *args):
    return json.loads(rx_run(env, *args, "--output", "json").stdout)


def test_each_verb_json_equals_the_library(reg, env, images):
    client = client_for(reg)
    single = f"{reg.host}/{images['single'].repository}:{images['single'].tag}"
    multi = f"{reg.host}/{images['multi'].repository}:{images['multi'].tag}"
    data = f"{reg.host}/demo/data:1.0"

    assert rx_json(env, "digest", single)["digest"] == client.resolve(single).digest == images["single"].digest
    assert rx_run(env, "digest", single).stdout.decode() == images["single"].digest + "\n"
    assert rx_json(env, "manifest", multi) == client.manifest(multi).json
    assert rx_json(env, "manifest", multi, "--platform", "linux/arm64") == client.image(multi, "linux/arm64").json
    assert rx_json(env, "config", single) == client.config(single).json
    assert rx_json(env, "ls", f"{reg.host}/demo/data") == sorted(client.tags(f"{reg.host}/demo/data")) == ["1.0"]
    assert rx_json(env, "catalog", reg.host) == client.catalog(reg.host)
    assert rx_json(env, "files", data) == verbs.plain(frames.image_files(client, data))
    layer0 = client.image(data).layers[0]
    assert rx_json(env, "files", data, "--layer", "0") == verbs.plain(frames.files(client, data, layer0))

    table = rx_run(env, "cat", data, "data/table.csv").stdout
    assert table == samples_data.TABLE_CSV == verbs.cat(client, data, "data/table.csv")
    config_desc = client.image(single).config
    blob = rx_run(env, "blob", f"{reg.host}/{images['single'].repository}@{config_desc.digest}").stdout
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == config_desc.digest


def test_table_and_csv_outputs(reg, env):
    data = f"{reg.host}/demo/data:1.0"
    csv_out = rx_run(env, "files", data, "-o", "csv").stdout.decode()
    got = pd.read_csv(io.StringIO(csv_out), dtype=str, keep_default_na=False)
    assert list(got.columns) == ["path", "type", "size", "mode", "linkname"]
    assert "data/parts/part-2.csv" in set(got["path"]) and "data/draft.csv" not in set(got["path"])
    # Modes as `tar -tv` shows them; the library's frame keeps the integer.
    modes = dict(zip(got["path"], got["mode"]))
    assert modes["data"] == "drwxr-xr-x" and modes["data/table.csv"] == "-rw-r--r--"
    assert rx_json(env, "files", data)[0]["mode"] in (0o755, 0o644)
    repo = f"{reg.host}/demo/data"
    assert rx_run(env, "ls", repo).stdout.decode().splitlines() == ["1.0"]  # crane's bare lines
    assert rx_run(env, "ls", repo, "-o", "table").stdout.decode().splitlines() == ["TAG", "1.0"]
    assert rx_run(env, "ls", repo, "-o", "csv").stdout.decode().splitlines() == ["tag", "1.0"]
    assert "demo/data" in rx_run(env, "catalog", reg.host).stdout.decode().splitlines()


def test_old_export_spelling_writes_a_layout_with_a_deprecation_line(reg, env, tmp_path, images):
    single = f"{reg.host}/{images['single'].repository}:{images['single'].tag}"
    proc = rx_run(env, "export", single, str(tmp_path / "out"))
    assert "deprecated" in proc.stderr.decode() and "rx pull --format oci" in proc.stderr.decode()
    layout = rx.Layout(tmp_path / "out")
    assert layout.resolve(f"oci:{tmp_path / 'out'}:{images['single'].tag}").digest == images["single"].digest
    new = rx_run(env, "pull", "--format", "oci", single, str(tmp_path / "new"))
    assert new.stderr == b"" and new.stdout.decode().startswith(f"oci:{tmp_path / 'new'}:")
    assert rx.Layout(tmp_path / "new").resolve(new.stdout.decode().strip()).digest == images["single"].digest


@pytest.mark.parametrize("case", ["bad-reference", "unknown-repo", "unauthorized", "no-such-file", "bad-layer"])
def test_errors_are_one_line_exit_1(reg, token_registry, env, case):
    args = {
        "bad-reference": ["digest", "Not A Reference"],
        "unknown-repo": ["digest", f"{reg.host}/nothing/here:1"],
        "unauthorized": ["digest", f"{token_registry.host}/{PRIVATE_REPO}:v1"],
        "no-such-file": ["cat", f"{reg.host}/demo/data:1.0", "data/draft.csv"],
        "bad-layer": ["files", f"{reg.host}/demo/data:1.0", "--layer", "7"],
    }[case]
    if token_registry.ca_file and case == "unauthorized":
        args = ["--ca-bundle", str(token_registry.ca_file), *args]
    proc = rx_run(env, *args, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert err.count("\n") == 1 and err.startswith("rx: error: "), err
    assert "Traceback" not in err and proc.stdout == b""
    debug = rx_run(env, "--debug", *args, check=False)
    assert debug.returncode == 1 and "Traceback" in debug.stderr.decode()


def test_bad_usage_exits_2(env):
    assert rx_run(env, "files", check=False).returncode == 2
    assert rx_run(env, "no-such-verb", check=False).returncode == 2
    assert rx_run(env, "files", "x", "--output", "xml", check=False).returncode == 2


def test_broken_pipe_is_quiet(reg, env):
    cmd = f"{shlex.quote(sys.executable)} -m registry_explorer files {reg.host}/demo/data:1.0 --output csv | head -1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert proc.stdout == b"path,type,size,mode,linkname\n"
    assert proc.stderr == b"", proc.stderr.decode()
    # pipefail: rx's own exit status is visible, and it is 0
    assert proc.returncode == 0


def test_no_progress_bar_when_stderr_is_not_a_terminal(reg, env, images, tmp_path):
    single = f"{reg.host}/{images['single'].repository}:{images['single'].tag}"
    proc = rx_run(env, "trace", single, "--curl", "--dir", str(tmp_path))
    assert proc.stderr == b""
    assert rx_run(env, "pull", "--format", "oci", single, str(tmp_path / "layout")).stderr == b""


def test_trace_replays_with_curl(token_registry, env, images, tmp_path):
    """Run every line of `rx trace --curl` in order, as bash would (TOKEN from the script's own token line)."""
    img = images["single"]
    ref = f"{token_registry.host}/{img.repository}:{img.tag}"
    extra = ["--ca-bundle", str(token_registry.ca_file)] if token_registry.ca_file else []
    blobs, work = tmp_path / "blobs", tmp_path / "cwd"
    work.mkdir()
    script = rx_run(env, *extra, "trace", ref, "--curl", "--dir", str(blobs)).stdout.decode()
    lines = script.splitlines()
    assert all("Bearer ey" not in ln for ln in lines), "a token leaked into the trace"
    commands = [ln for ln in lines if not ln.startswith("#")]
    assert commands and all(ln.startswith(("curl ", "TOKEN=$(curl ")) for ln in commands), commands
    if token_registry.scheme == "http":  # the https probe of a plain-http registry is a comment that says why
        assert any(ln.startswith("# GET https://") and "failed" in ln for ln in lines), lines
    curl_env = {**env}
    if token_registry.ca_file:
        curl_env["CURL_CA_BUNDLE"] = str(token_registry.ca_file)
    token, manifests = "", []
    for line in commands:
        if line.startswith("TOKEN=$("):
            out = subprocess.run(["bash", "-c", f'{line}; printf %s "$TOKEN"'], capture_output=True,
                                 env=curl_env, timeout=60, cwd=work)
            token = out.stdout.decode()
            assert out.returncode == 0 and token, (line, out.stderr.decode())
            continue
        out = subprocess.run(["bash", "-c", line], capture_output=True, env={**curl_env, "TOKEN": token},
                             timeout=60, cwd=work)
        assert out.returncode == 0, (line, out.stderr.decode())
        if "/manifests/" in line and "--head" not in line:
            manifests.append("sha256:" + hashlib.sha256(out.stdout).hexdigest())
    assert img.digest in manifests, "the replayed manifest GET (by tag) is the image's manifest"
    # Blob bodies landed in --dir, named by digest, and hash to their names; nothing in the working directory.
    written = {p.name.replace("-", ":", 1): "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()
               for p in blobs.iterdir()}
    layers = {d for d, b in img.blobs.items() if "layer" in b.media_type or "rootfs" in b.media_type}
    assert layers and layers <= set(written) and all(written[d] == d for d in written)
    assert list(work.iterdir()) == []


def test_census_verb_json_equals_the_library(reg, env, images):
    """`rx census HOST REPO... --table T` prints what rx.census gives for the same repositories."""
    repos = [images["single"].repository, images["multi"].repository]
    got = rx_json(env, "census", reg.host, *repos, "--table", "layers", "--output", "json")
    want = rx.census(client_for(reg), reg.host, repos, progress=False).layers
    assert len(got) == len(want) > 0
    key = ["repository", "tag", "manifest_digest", "index"]
    assert sorted((r["repository"], r["tag"], r["manifest_digest"], r["index"], r["digest"]) for r in got) == \
        sorted(want[key + ["digest"]].itertuples(index=False, name=None))
    # Every layer blob the seeded images were built with appears (an independent source: the images).
    layer_types = ("tar+gzip", "tar+zstd", "rootfs.diff.tar")
    seeded = {d for img in (images["single"], images["multi"]) for d, b in img.blobs.items()
              if any(t in b.media_type for t in layer_types)}
    assert seeded and seeded <= {r["digest"] for r in got}
    bad = rx_run(env, "census", reg.host, "--table", "nope", check=False)
    assert bad.returncode == 1 and bad.stderr.decode().startswith("rx: error: unknown census table")


def test_help_shows_the_pipe_idioms(env):
    text = rx_run(env, "--help").stdout.decode()
    for idiom in ("D=$(rx digest REF)", "rx manifest REF | sha256sum", "rx ls REPO | xargs", "rx export REF - | tar -tv",
                  "-o json|table|csv"):
        assert idiom in text, idiom
    for verb in ("export", "pull", "validate"):
        assert verb in text


def test_structured_forms_of_documents(reg, env, images):
    multi = f"{reg.host}/{images['multi'].repository}:{images['multi'].tag}"
    index = client_for(reg).manifest(multi)
    rows = list(csv.DictReader(io.StringIO(rx_run(env, "manifest", multi, "-o", "csv").stdout.decode())))
    assert [r["digest"] for r in rows] == [d.digest for d in index.manifests]
    assert {r["role"] for r in rows} == {"manifest"}
    assert rx_run(env, "manifest", multi).stdout == index.raw, "the default is the stored bytes"
    failed = rx_run(env, "validate", f"{reg.host}/nothing/here:1", check=False)
    assert failed.returncode == 1 and failed.stderr.decode().startswith("rx: error: ")
