"""The sandbox seeds the peek samples (issue 12): eStargz, zstd frames and the merged-filesystem
image always; the >= 64 MiB 'big' one only on request (`start(big=True)`, `--big`)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import registry_explorer as rx
from registry_explorer import sandbox

pytestmark = pytest.mark.integration


def test_peek_samples_always_big_on_request(tmp_path):
    with sandbox.start(workdir=tmp_path) as sb:
        assert {"peek", "estargz", "zstd-frames"} <= set(sb.references)
        assert "big" not in sb.references
        c = sb.client()
        f = c.open_file(sb.references["estargz"], "etc/motd")
        assert f.read() == b"eStargz says hello\n" and f.verification == "estargz-toc"
        assert c.read_file(sb.references["peek"], "etc/os-release") == b"ID=peek\nVERSION=2\n"
        assert c.open_file(sb.references["zstd-frames"], "data/f007.txt").kind == "zstd-frames"


def test_big_sample_on_request(tmp_path):
    with sandbox.start(workdir=tmp_path, big=True) as sb:
        ref = sb.references["big"]
        assert ref == f"{sb.host}/demo/big:1.0"
        c = sb.client()
        (layer,) = c.image(ref).layers
        assert layer.size >= 64 << 20
        assert c.read_file(ref, "data/last.txt") == b"the last file of the big layer\n" * 4


def test_cli_big_flag_lists_the_big_sample(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "registry_explorer.sandbox", "--big"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 120  # the big layer is built on first use (seconds), then cached
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        names = {ln.split()[0] for ln in lines[1:] if ln.startswith("  ")}
        assert {"big", "peek", "estargz", "zstd-frames"} <= names, lines
        big = next(ln.split()[1] for ln in lines if ln.strip().startswith("big "))
        assert rx.Client(docker_config={}).image(big).layers[0].size >= 64 << 20
    finally:
        proc.terminate()
        proc.wait(timeout=20)
