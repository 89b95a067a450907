"""The sandbox: a real registry seeded with samples, from Python and from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

import registry_explorer as rx
from registry_explorer import sandbox
from registry_explorer.sandbox.registry import RegistryBinaryMissing, find_registry_binary

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _need_registry():
    try:
        find_registry_binary()
    except RegistryBinaryMissing as exc:
        pytest.skip(str(exc))


def test_start_seed_and_stop(tmp_path):
    with sandbox.start(workdir=tmp_path) as sb:
        assert sb.running
        client = sb.client()
        assert set(sb.references) >= {"hello", "sbom", "multiarch", "docker", "zstd"}
        idx = client.manifest(sb.references["multiarch"])
        assert any(d.is_attestation for d in idx.manifests)
        assert client.resolve(sb.references["docker"]).media_type == rx.mediatypes.DOCKER_LIST
        art = client.manifest(sb.references["sbom"])
        assert art.subject.digest == client.resolve(sb.references["hello"]).digest
        (ref,) = client.referrers(sb.references["hello"])
        assert ref.digest == art.digest and ref.artifact_type == "application/spdx+json"
        zl = client.image(sb.references["zstd"]).layers
        assert rx.mediatypes.compression(zl[0].media_type) == "zstd"
        pid, url = sb._registry.pid, sb.url
    assert not sb.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v2/", timeout=2)
    assert list(tmp_path.iterdir()) == [], "storage removed"
    sb.stop()  # twice is fine


def test_token_mode_private_repository(tmp_path):
    sb = sandbox.start(auth="token", workdir=tmp_path)
    try:
        with pytest.raises(rx.Unauthorized):
            sb.client(anonymous=True).manifest(sb.references["private"])
        assert sb.client().manifest(sb.references["private"]).digest
        assert sb.client(anonymous=True).manifest(sb.references["hello"]).digest, "public repos are anonymous"
    finally:
        sb.stop()


def test_missing_binary_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(sandbox.SandboxError) as info:
        sandbox.start()
    msg = str(info.value)
    assert "apt-get install docker-registry" in msg and "docker run" in msg and "conda" in msg


def test_cli_prints_references_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "registry_explorer.sandbox"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(lines)
        url = text.split()[2]
        hello = next(ln.split()[1] for ln in lines if ln.strip().startswith("hello"))
        assert rx.Client(docker_config={}).resolve(hello).digest.startswith("sha256:")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "sandbox stopped" in out
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/v2/", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_storage_of_a_dead_owner_is_removed(tmp_path):
    orphan = tmp_path / "rx-sandbox-orphan"
    orphan.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (orphan / "owner.pid").write_text(dead)
    alive = tmp_path / "rx-sandbox-alive"
    alive.mkdir()
    (alive / "owner.pid").write_text(str(os.getpid()))
    with sandbox.start(workdir=tmp_path):
        assert not orphan.exists() and alive.exists()


def test_lazy_subpackages():
    """`import registry_explorer` stays light; rx.frames / rx.sandbox load on first use (fresh interpreter)."""
    code = (
        "import sys, registry_explorer as rx\n"
        "heavy = ('registry_explorer.frames', 'registry_explorer.sandbox', 'registry_explorer.widgets', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "f = rx.frames\n"
        "print(f is sys.modules['registry_explorer.frames'], f.layers.__module__, rx.sandbox.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.splitlines() == ["[]", "True registry_explorer.frames.manifests registry_explorer.sandbox"]
    assert rx.sandbox is sandbox
