"""The wheel a user installs: built from the checkout, installed plain into a new venv, used from elsewhere.

Every other test imports the editable checkout, so nothing else notices a module left out of the
wheel, a dependency only the checkout's venv has, or a metadata deprecation that will stop the
build (setuptools: TOML-table licences stop building after 2027-02-18). Issue 17.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core.extras import require
from registry_explorer.sandbox.registry import RegistryBinaryMissing, find_registry_binary
from registry_explorer.sandbox.samples import build_images, write_layout
from registry_explorer.widgets import ExplorerState

ROOT = Path(__file__).resolve().parent.parent
PIP_LINE = "pip install 'registry-explorer[widgets]'"
# Copied to a scratch tree: building in the checkout would write build/ and *.egg-info there (a
# stale build/lib can even leak removed modules into the wheel). Everything else is copied, so
# the "no tests or benchmarks in the wheel" check exercises the real package discovery.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "artifacts")

# Run by the new venv's python, from a directory outside the checkout: prints one JSON object.
USER_SCRIPT = r'''
import importlib.util, json, os, signal, subprocess, sys, threading
import requests
import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.widgets import ExplorerState

out = {"file": rx.__file__, "prefix": sys.prefix, "ipywidgets_found": importlib.util.find_spec("ipywidgets") is not None}
proc = subprocess.Popen([sys.executable, "-m", "registry_explorer.sandbox"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
watchdog = threading.Timer(60, proc.kill)  # a hung sandbox must not hang the test
watchdog.start()
try:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    out["banner"] = "".join(lines)
    url = lines[0].split()[-1]
    refs = dict(ln.split() for ln in lines[1:] if ln.startswith("  ") and len(ln.split()) == 2)
    client = rx.Client(docker_config={})
    hello = refs["hello"]
    image = client.image(hello)
    config = client.config(image)
    out["resolve"] = client.resolve(hello).digest
    out["layers"] = frames.layers(image, config)["digest"].tolist()
    out["diff_ids"] = list(config.diff_ids)
    out["files"] = frames.image_files(client, hello)["path"].tolist()
    # The front doors come with a plain install: the console script, and docker:// with no import (issue 15).
    rx_help = subprocess.run([os.path.join(os.path.dirname(sys.executable), "rx"), "--help"], capture_output=True,
                             text=True, timeout=60)
    out["rx_help"] = {"rc": rx_help.returncode, "out": rx_help.stdout}
    import pandas as pd
    out["docker_csv"] = pd.read_csv(f"docker://{refs['data'].rsplit('/', 2)[0]}/demo/data:1.0/data/table.csv",
                                    storage_options={"docker_config": {}})["city"].tolist()
    state = ExplorerState(client)
    out["state"] = {"ok": state.resolve(refs["multiarch"]), "error": state.error, "platforms": list(state.platforms),
                    "digest": state.descriptor.digest if state.descriptor else None,
                    "layers": len(state.layers) if state.layers is not None else None}
finally:
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C, by PID
    stdout, stderr = proc.communicate(timeout=30)
    watchdog.cancel()
out["sandbox_rc"], out["sandbox_out"], out["sandbox_err"] = proc.returncode, stdout, stderr[-2000:]
try:
    requests.get(url + "/v2/", timeout=2)
    out["stopped"] = False
except requests.ConnectionError:
    out["stopped"] = True
try:
    rx.Explorer
    out["missing"] = None
except rx.MissingExtra as exc:
    out["missing"] = {"message": str(exc), "import_error": isinstance(exc, ImportError),
                      "rx_error": isinstance(exc, rx.RegistryExplorerError)}
print("RESULT " + json.dumps(out))
'''


def _env(**extra: str) -> dict[str, str]:
    """The environment minus PYTHONPATH, which would put the checkout back on the new venv's path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def _run(cmd: list[str], *, timeout: float, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{cmd[:4]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel path, build output) for a wheel built from a copy of this checkout."""
    src = tmp_path_factory.mktemp("wheel-src") / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    outdir = tmp_path_factory.mktemp("wheel-dist")
    # Build isolation fetches build-system.requires (setuptools>=77) through pip, as a user's build does.
    proc = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(src)], timeout=180, env=_env())
    wheels = list(outdir.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], proc.stdout + proc.stderr


@pytest.mark.slow
def test_build_prints_no_deprecation(built):
    _, output = built
    deprecations = [ln for ln in output.splitlines() if "deprecat" in ln.lower()]
    assert deprecations == [], "\n".join(deprecations)


@pytest.mark.slow
def test_wheel_holds_only_the_package_and_its_metadata(built):
    wheel, _ = built
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    strays = [n for n in names if not n.startswith(("registry_explorer/", f"{dist_info}/"))]
    assert strays == []
    assert not any(n.startswith(("tests/", "benchmarks/")) or "/tests/" in n for n in names)
    # Every module of the package is in the wheel (nothing only the checkout has).
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "registry_explorer").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "License-Expression: Apache-2.0" in metadata
    requires = [ln for ln in metadata.splitlines() if ln.startswith("Requires-Dist:")]
    # ipywidgets only through the widgets extra: a plain install must not pull it in.
    assert [ln for ln in requires if "ipywidgets" in ln] == ['Requires-Dist: ipywidgets>=8.0; extra == "widgets"']


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """What the checkout itself reads from the same deterministic samples, via an OCI layout."""
    images = build_images(cached=True)
    single, multi = images["single"], images["multi"]
    layout = rx.Layout(write_layout(single, tmp_path_factory.mktemp("layout")))  # both are tagged v1:
    multi_layout = rx.Layout(write_layout(multi, tmp_path_factory.mktemp("layout")))  # one layout each
    image = layout.image(single.tag)
    state = ExplorerState(multi_layout)
    assert state.resolve(multi.tag), state.error
    return {
        "hello": single.root.digest,
        "layers": [d.digest for d in image.layers],
        "diff_ids": list(layout.config(image).diff_ids),
        "files": frames.image_files(layout, single.tag)["path"].tolist(),
        "multiarch": multi.root.digest,
        "platforms": list(state.platforms),
        "multiarch_layers": len(state.layers),
    }


@pytest.mark.slow
@pytest.mark.integration
def test_installed_wheel_works_outside_the_checkout(built, expected, tmp_path_factory):
    try:
        find_registry_binary()
    except RegistryBinaryMissing as exc:  # a failure under CI=true (conftest)
        pytest.skip(str(exc))
    wheel, _ = built
    home = tmp_path_factory.mktemp("wheel-user")
    assert not home.resolve().is_relative_to(ROOT), "the user's directory must be outside the checkout"
    venv = home / "venv"
    # No pip in the venv (ensurepip costs seconds): this pip installs into it with --python.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=60, env=_env())
    python = venv / "bin" / "python"
    # Plain, no extras; pip's cache and --prefer-binary keep the dependencies quick (no sdist builds).
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--prefer-binary", str(wheel)],
         timeout=600, env=_env())

    script = home / "use_it.py"
    script.write_text(USER_SCRIPT)
    # Everything is on 127.0.0.1: no proxy may see it.
    env = {k: v for k, v in _env().items() if not k.lower().endswith("_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    proc = _run([str(python), str(script)], timeout=120, cwd=home, env=env)
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])

    assert Path(out["file"]).resolve().is_relative_to(venv.resolve()), out["file"]
    assert not Path(out["file"]).resolve().is_relative_to(ROOT)
    assert Path(out["prefix"]).resolve() == venv.resolve()

    assert "registry-explorer sandbox: http://127.0.0.1:" in out["banner"]
    assert out["resolve"] == expected["hello"]
    assert out["layers"] == expected["layers"]
    assert out["diff_ids"] == expected["diff_ids"]
    assert out["files"] == expected["files"]
    assert out["rx_help"]["rc"] == 0 and out["rx_help"]["out"].startswith("Usage: rx "), out["rx_help"]
    assert all(verb in out["rx_help"]["out"] for verb in ("digest", "manifest", "files", "trace", "cat"))
    assert out["docker_csv"] == ["Lisbon", "Porto", "Madrid", "Paris"]
    assert out["state"] == {"ok": True, "error": "", "platforms": expected["platforms"],
                            "digest": expected["multiarch"], "layers": expected["multiarch_layers"]}

    assert out["sandbox_rc"] == 0, out["sandbox_err"]
    assert "sandbox stopped" in out["sandbox_out"]
    assert out["stopped"] is True

    assert out["ipywidgets_found"] is False
    assert out["missing"] is not None, "rx.Explorer worked without the widgets extra"
    assert PIP_LINE in out["missing"]["message"]
    assert "\n" not in out["missing"]["message"]
    assert out["missing"]["import_error"] and out["missing"]["rx_error"]


def test_require_names_the_extra_when_the_module_is_absent():
    with pytest.raises(rx.MissingExtra) as info:
        require("registry_explorer_no_such_module", "census", "Census frames")
    exc = info.value
    assert str(exc) == ("Census frames needs the optional package 'registry_explorer_no_such_module': "
                        "pip install 'registry-explorer[census]'")
    assert isinstance(exc, ImportError) and isinstance(exc, rx.RegistryExplorerError)
    assert (exc.module, exc.extra, exc.feature, exc.name) == ("registry_explorer_no_such_module", "census",
                                                              "Census frames", "registry_explorer_no_such_module")
    assert isinstance(exc.__cause__, ModuleNotFoundError)


def test_require_returns_the_module_when_present():
    import json as json_module

    assert require("json", "core", "JSON") is json_module
