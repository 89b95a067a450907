"""Start a private JupyterLab server for browser tests, and stop it by PID.

Isolation: ``JUPYTER_CONFIG_DIR``, ``JUPYTER_RUNTIME_DIR``, ``JUPYTER_DATA_DIR`` and ``IPYTHONDIR``
point at fresh temp dirs, so nothing from ``~/.jupyter`` / ``~/.ipython`` leaks in. The lab
extension of ipywidgets (``jupyterlab_widgets``) is still found because it lives under
``sys.prefix/share/jupyter``, which is always on the Jupyter path. A ``python3`` kernelspec whose
argv is *this* interpreter (``sys.executable``) is written into the private data dir, which comes
first on the Jupyter path, so the kernel always runs in the test venv.

The server binds 127.0.0.1 on a free port with a random token, runs under
``setpriv --pdeathsig TERM`` (it dies with the test process) and is stopped by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import requests

from registry_explorer.sandbox.registry import log_tail, terminate

CHROMIUM = "/usr/bin/chromium"
# Exactly the flags measured to work with Debian chromium under Playwright (no --user-data-dir:
# launch() already uses a fresh profile). Playwright adds --headless itself for headless=True.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"
NO_PROXY = "127.0.0.1,localhost"
REPO_ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"  # screenshots and timings (git-ignored)


class BrowserToolMissing(Exception):
    """chromium / playwright / jupyterlab is missing (outside CI a fixture turns this into a skip)."""


def missing(msg: str) -> NoReturn:
    """A tool is missing: under ``CI=true`` raise RuntimeError (fail), else :class:`BrowserToolMissing`."""
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{msg} (CI=true: a missing browser tool is an error, not a skip)")
    raise BrowserToolMissing(msg)


def require_browser_tools() -> None:
    """Check chromium, playwright, jupyterlab, ipykernel and the ipywidgets lab extension."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing(f"{CHROMIUM} not found (apt-get install chromium)")
    for module, pip_name in (
        ("playwright.sync_api", "playwright"),
        ("jupyterlab", "jupyterlab"),
        ("ipykernel", "ipykernel"),
        ("jupyterlab_widgets", "jupyterlab_widgets (a dependency of ipywidgets 8)"),
    ):
        try:
            __import__(module)
        except ImportError as exc:
            missing(f"python module {module!r} not importable ({pip_name}): {exc}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for servers and the browser: loopback never goes through a proxy."""
    env = dict(os.environ)
    env["NO_PROXY"] = env["no_proxy"] = NO_PROXY
    env.update(extra)
    return env


@dataclass
class RunningLab:
    root_dir: Path
    port: int
    token: str
    pid: int
    log_path: Path
    dirs: dict[str, Path]
    startup_seconds: float
    process: subprocess.Popen | None = field(default=None, repr=False)
    _log_file: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab", **query: str) -> str:
        q = "&".join([f"token={self.token}"] + [f"{k}={quote(v)}" if v else k for k, v in query.items()])
        return f"{self.base_url}/{path.lstrip('/')}?{q}"

    def notebook_url(self, rel_path: str, *, workspace: str | None = None) -> str:
        """``/lab/tree/<path>``, in a workspace of its own (so earlier notebooks are not reopened)."""
        ws = f"workspaces/{quote(workspace)}/" if workspace else ""
        return self.url(f"lab/{ws}tree/{quote(rel_path)}", reset="")

    def api(self, path: str, method: str = "GET", **kw) -> requests.Response:
        with requests.Session() as s:
            s.trust_env = False
            return s.request(method, f"{self.base_url}/api/{path.lstrip('/')}",
                             headers={"Authorization": f"token {self.token}"}, timeout=10, **kw)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by PID (the server shuts its kernels down), wait, then SIGKILL. Idempotent."""
        terminate(self.process, timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def write_kernelspec(data_dir: Path, python: str = sys.executable) -> Path:
    """A ``python3`` kernelspec running ``python`` (default: this interpreter)."""
    kdir = data_dir / "kernels" / "python3"
    kdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": False},
    }
    (kdir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return kdir


def write_lab_settings(settings_dir: Path) -> None:
    """User settings: no "Would you like to get notified about official Jupyter news?" toast
    (``--LabApp.news_url=None`` alone does not stop the question), no update check, no toasts."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True}))


def start_lab(root_dir: Path, workdir: Path, *, timeout: float = 90.0, attempts: int = 2) -> RunningLab:
    """Start ``jupyter lab`` serving ``root_dir``; private dirs and the log go under ``workdir``."""
    require_browser_tools()
    last: Exception | None = None
    for _ in range(attempts):  # a free port can be taken between probe and bind: retry once
        try:
            return _start_lab_once(Path(root_dir), Path(workdir), timeout)
        except _PortTaken as exc:
            last = exc
    raise RuntimeError(f"JupyterLab could not bind a port: {last}")


class _PortTaken(RuntimeError):
    pass


def _start_lab_once(root_dir: Path, workdir: Path, timeout: float) -> RunningLab:
    workdir.mkdir(parents=True, exist_ok=True)
    root_dir.mkdir(parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix="lab-", dir=workdir))
    dirs = {name: run / name for name in ("config", "runtime", "data", "ipython")}
    for d in dirs.values():
        d.mkdir()
    write_kernelspec(dirs["data"])
    write_lab_settings(dirs["config"] / "lab" / "user-settings")

    port = free_port()
    token = secrets.token_hex(24)
    # Only the kernel-side code under test from this checkout, whatever the cwd of the kernel.
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {k: v for k, v in child_env().items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["config"] / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["config"] / "lab" / "workspaces"),
        IPYTHONDIR=str(dirs["ipython"]),
        PYTHONPATH=pythonpath,
        PYTHONUNBUFFERED="1",
    )
    argv = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}", "--allow-root",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]

    log_path = run / "jupyterlab.log"
    log_file = open(log_path, "wb")
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, env=env, cwd=root_dir, stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT, close_fds=True)
    except BaseException:
        log_file.close()
        raise
    lab = RunningLab(root_dir=root_dir, port=port, token=token, pid=proc.pid, log_path=log_path, dirs=dirs,
                     startup_seconds=0.0, process=proc, _log_file=log_file)
    try:
        _wait_ready(lab, timeout)
    except BaseException:
        lab.stop()
        raise
    lab.startup_seconds = time.monotonic() - t0
    return lab


def _wait_ready(lab: RunningLab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    with requests.Session() as s:
        s.trust_env = False
        while True:
            rc = lab.process.poll() if lab.process else None
            if rc is not None:
                tail = lab.log_tail()
                if "already in use" in tail or "Address already in use" in tail:
                    raise _PortTaken(tail)
                raise RuntimeError(f"jupyter lab exited with code {rc}; log {lab.log_path}:\n{tail}")
            try:
                r = s.get(f"{lab.base_url}/api/status", params={"token": lab.token}, timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab (pid {lab.pid}) not ready after {timeout:.0f}s (last: {last}); "
                                   f"log {lab.log_path}:\n{lab.log_tail()}")
            time.sleep(0.1)
