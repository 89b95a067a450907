"""`python -m registry_explorer.sandbox --census`: a deterministic registry of >= 40 repositories and >= 1,000 tags."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer.core import mediatypes as mt
from registry_explorer.sandbox.samples_census import seed_census_on_disk

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def test_census_sample_is_deterministic_and_big_enough(tmp_path):
    started = time.monotonic()
    a = seed_census_on_disk(tmp_path / "a")
    took = time.monotonic() - started
    b = seed_census_on_disk(tmp_path / "b")
    assert a.tags == b.tags and a.subjects == b.subjects  # every digest the same, run after run
    assert len(a.repositories) >= 40 and a.tag_count >= 1000
    assert len(a.subjects) >= 5 and a.nested
    assert took < 60, f"seeding took {took:.1f} s"


def test_sandbox_cli_serves_the_census_sample(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "registry_explorer.sandbox", "--census"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert "census" in text, text + proc.stderr.read() if proc.poll() is not None else text
        host = text.split("registry-explorer sandbox: http://", 1)[1].split()[0]
        cl = rx.Client(insecure=(host,), docker_config={})
        catalog = cl.catalog(host)
        assert sum(r.count("/app-") for r in catalog) >= 40
        index = cl.manifest(f"{host}/web/app-00:v1.0")  # multi-platform, nested
        assert mt.is_index(index.media_type)
        assert cl.image(f"{host}/web/app-00:v1.0", "linux/arm64").digest != cl.image(f"{host}/web/app-00:v1.0").digest
        assert cl.referrers(f"{host}/web/app-00:v1.0")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
