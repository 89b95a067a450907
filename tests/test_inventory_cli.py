"""`rx packages` and `rx diff` as subprocesses, and `%rx` in IPython: the same answers as rx.packages and rx.diff."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import packagedbs
from helpers.clients import client_for
from IPython.core.interactiveshell import InteractiveShell

import registry_explorer as rx
from registry_explorer.doors.operations import plain
from registry_explorer.frames.changes import DIFF_COLUMNS
from registry_explorer.frames.inventory_tables import COMPARE_COLUMNS, PACKAGE_COLUMNS
from registry_explorer.sandbox import samples_inventory
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def refs(open_registry):
    refs = samples_inventory.seed(open_registry.url, auth=open_registry.auth, verify=open_registry.verify)
    legacy = [(p, "file", data, None) for p, data in packagedbs.rpm_legacy_headers().items()]
    legacy.append(("var/lib/dpkg/status.d/evil\x1b[2J", "file", b"Package: evil\x1b]0;owned\x07\n", None))
    image = samples_inventory.layered_image("legacy", "inventory/legacy-rpm", "v1",
                                            [(samples_inventory.tar_layer(legacy), "ADD legacy /")])
    push_image(open_registry.url, image, verify=open_registry.verify)
    return {**refs, "legacy": f"{open_registry.host}/inventory/legacy-rpm:v1"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("docker-config")
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**base, "NO_PROXY": "127.0.0.1,localhost", "DOCKER_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}


def rx_run(env, *args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "registry_explorer", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_packages_json_equals_the_library(refs, env, open_registry):
    got = json.loads(rx_run(env, "packages", refs["inventory-1.1"], "-o", "json").stdout)
    want = plain(rx.packages(client_for(open_registry), refs["inventory-1.1"]))
    assert got == want and list(got[0]) == PACKAGE_COLUMNS
    assert {r["name"]: r["layer"] for r in got}["libssl3"] == 1


def test_packages_csv_table_sbom_and_cost(refs, env):
    proc = rx_run(env, "packages", refs["inventory-1.1"], "--sbom", "-o", "csv", "--cost")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert {r["name"]: r["status"] for r in rows}["urllib3"] == "only installed"
    assert list(rows[0]) == ["ecosystem", "name", "version", "sbom_version", "status", "layer"]
    assert "requests" in proc.stderr and "bytes moved" in proc.stderr
    table = rx_run(env, "packages", refs["inventory-1.0"], "--ecosystem", "python").stdout.splitlines()
    assert table[0].split() == ["ECOSYSTEM", "NAME", "VERSION", "ARCHITECTURE", "LAYER", "DATABASE"]
    assert {line.split()[0] for line in table[1:]} == {"python"} and len(table) == 6


def test_unreadable_databases_named_on_stderr(refs, env):
    proc = rx_run(env, "packages", refs["legacy"], "-o", "json")
    assert json.loads(proc.stdout) == []
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rx: not read:")]
    assert len(lines) == 3 and any("Berkeley DB" in line for line in lines) and any("ndb" in line for line in lines)
    assert "\x1b" not in proc.stderr and "evil\\x1b[2J" in proc.stderr  # a hostile path, its escape made visible


def test_diff_json_summary_and_table(refs, env, open_registry):
    a, b = refs["inventory-1.0"], refs["inventory-1.1"]
    got = json.loads(rx_run(env, "diff", a, b, "-o", "json").stdout)
    assert got == plain(rx.diff(client_for(open_registry), a, b)) and list(got[0]) == DIFF_COLUMNS
    summary = json.loads(rx_run(env, "diff", a, b, "--summary", "-o", "json").stdout)
    total = {r["change"]: r["paths"] for r in summary if r["top"] == "(all)"}
    assert sum(total.values()) == len(got)
    table = rx_run(env, "diff", a, b).stdout.splitlines()
    assert table[0].split()[:2] == ["PATH", "CHANGE"] and len(table) == len(got) + 1


def test_magic_returns_the_frames(refs, open_registry):
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "registry_explorer")
        shell.user_ns["_rx_magic"].client = client_for(open_registry)
        df = shell.run_line_magic("rx", f"packages {refs['inventory-1.1']} --sbom")
        assert isinstance(df, pd.DataFrame) and list(df.columns) == COMPARE_COLUMNS
        changed = shell.run_line_magic("rx", f"diff {refs['inventory-1.0']} {refs['inventory-1.1']}")
        assert isinstance(changed, pd.DataFrame) and "app/healthz.py" in set(changed["path"])
    finally:
        InteractiveShell.clear_instance()
