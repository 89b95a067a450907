"""Start real CNCF distribution registries (``docker-registry serve``) for tests.

Four flavours:

* ``open``     - plain HTTP, no auth
* ``htpasswd`` - plain HTTP, Basic auth (bcrypt htpasswd file)
* ``token``    - plain HTTP, Bearer token auth against :class:`TokenServer`
* ``tls``      - HTTPS with a throw-away CA, no auth

Every registry binds 127.0.0.1 on a random port, is started under
``setpriv --pdeathsig TERM`` so it dies with the test process, and is stopped
by PID.
"""
from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import certs
from .tokenserver import TokenServer

__all__ = [
    "FLAVOURS",
    "RegistryBinaryMissing",
    "RunningRegistry",
    "TokenServer",
    "find_registry_binary",
    "require_binary",
    "start_registry",
]

FLAVOURS = ("open", "htpasswd", "token", "tls")
DEFAULT_USER = "alice"
DEFAULT_PASSWORD = "s3cret"
HTPASSWD_REALM = "registry-explorer-test"

_LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)(, tls)?")


class RegistryBinaryMissing(Exception):
    """A required binary is not installed (outside CI: a fixture turns this into a skip)."""


def require_binary(name: str, *alternatives: str) -> str:
    """Return the path of ``name`` (or the first of ``alternatives``) on PATH.

    If none is found: with ``CI=true`` raise :class:`RuntimeError` (a missing
    binary must fail CI); otherwise raise :class:`RegistryBinaryMissing`.
    """
    for candidate in (name, *alternatives):
        path = shutil.which(candidate)
        if path:
            return path
    names = " or ".join(repr(n) for n in (name, *alternatives))
    msg = f"required binary {names} not found on PATH"
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"{msg} (CI=true: a missing binary is an error, not a skip)")
    raise RegistryBinaryMissing(msg)


def find_registry_binary() -> str:
    """The distribution registry binary: ``docker-registry`` (Debian) or ``registry``."""
    return require_binary("docker-registry", "registry")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file, or a note saying why it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def terminate(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """Stop a child we started: SIGTERM by its PID, wait, then SIGKILL. Idempotent."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@dataclass
class RunningRegistry:
    """A started test registry: where it listens, its files and credentials."""
    flavour: str
    host: str  # "127.0.0.1:PORT"
    scheme: str  # "http" | "https"
    url: str  # scheme://host
    storage: Path
    pid: int
    log_path: Path
    config_path: Path
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    _owns_token_server: bool = field(default=False, repr=False)
    _log_file: Any = field(default=None, repr=False)

    @property
    def port(self) -> int:
        """The port the registry listens on."""
        return int(self.host.rsplit(":", 1)[1])

    @property
    def auth(self) -> tuple[str, str] | None:
        """The (username, password) pair, or None without basic auth."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    @property
    def verify(self) -> str | bool:
        """Value for requests' ``verify=``: the CA file under TLS, else True."""
        return str(self.ca_file) if self.ca_file else True

    def is_running(self) -> bool:
        """Whether the registry process is still alive."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the registry log."""
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, wait, then SIGKILL. Idempotent. Also stops an owned token server."""
        terminate(self.process, timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._owns_token_server and self.token_server is not None:
            self.token_server.stop()
            self._owns_token_server = False

    def __enter__(self) -> RunningRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_htpasswd(path: Path, user: str, password: str) -> None:
    htpasswd = require_binary("htpasswd")
    proc = subprocess.run(
        [htpasswd, "-Bbn", "-C", "4", user, password],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    if proc.returncode != 0 or not proc.stdout.startswith(f"{user}:$2"):
        raise RuntimeError(f"htpasswd failed ({proc.returncode}): {proc.stderr.strip()}")
    path.write_text(proc.stdout.strip() + "\n")


def start_registry(
    flavour: str,
    workdir: Path,
    *,
    token_server: TokenServer | None = None,
    storage: Path | None = None,
    username: str = DEFAULT_USER,
    password: str = DEFAULT_PASSWORD,
    extra_config: Mapping[str, Any] | None = None,
    start_timeout: float = 10.0,
) -> RunningRegistry:
    """Start a registry of ``flavour`` in a fresh sub-directory of ``workdir``.

    ``storage`` reuses an existing storage root (e.g. to restart on the same
    data); ``extra_config`` is deep-merged into the generated config (e.g.
    ``{"proxy": {"remoteurl": ...}}``). For ``token`` without a
    ``token_server``, one is created, started, and stopped by ``stop()``.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown registry flavour {flavour!r}; expected one of {FLAVOURS}")
    binary = find_registry_binary()
    if flavour in ("token", "tls"):
        require_binary("openssl")

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix=f"registry-{flavour}-", dir=workdir))
    storage = Path(storage) if storage is not None else run_dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    log_path = run_dir / "registry.log"

    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "127.0.0.1:0", "secret": secrets.token_hex(16)},
    }

    scheme = "http"
    ca_file: Path | None = None
    user: str | None = None
    pw: str | None = None
    owns_ts = False

    if flavour == "htpasswd":
        htpasswd_path = run_dir / "htpasswd"
        _write_htpasswd(htpasswd_path, username, password)
        config["auth"] = {"htpasswd": {"realm": HTPASSWD_REALM, "path": str(htpasswd_path)}}
        user, pw = username, password
    elif flavour == "token":
        if token_server is None:
            signing = certs.make_token_signing_key(run_dir / "token")
            token_server = TokenServer(signing.key, signing.cert, users={username: password})
            owns_ts = True
        token_server.start()
        config["auth"] = {
            "token": {
                "realm": token_server.url,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(token_server.signing_cert),
            }
        }
        if username in token_server.users:
            user, pw = username, token_server.users[username]
        elif token_server.users:
            user, pw = next(iter(token_server.users.items()))
    elif flavour == "tls":
        tls = certs.make_tls_certs(run_dir / "certs")
        config["http"]["tls"] = {"certificate": str(tls.server_cert), "key": str(tls.server_key)}
        scheme = "https"
        ca_file = tls.ca_cert

    if extra_config:
        _deep_merge(config, extra_config)
    config_path.write_text(json.dumps(config, indent=2))

    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    argv = [binary, "serve", str(config_path)]
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]

    log_file = open(log_path, "wb")
    try:
        proc = subprocess.Popen(
            argv, env=env, cwd=run_dir, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, close_fds=True,
        )
    except BaseException:
        log_file.close()
        if owns_ts:
            token_server.stop()
        raise

    reg = RunningRegistry(
        flavour=flavour, host="", scheme=scheme, url="", storage=storage, pid=proc.pid,
        log_path=log_path, config_path=config_path, ca_file=ca_file, username=user,
        password=pw, token_server=token_server, process=proc,
        _owns_token_server=owns_ts, _log_file=log_file,
    )
    try:
        port = _wait_for_port(proc, log_path, start_timeout)
        reg.host = f"127.0.0.1:{port}"
        reg.url = f"{scheme}://{reg.host}"
        _wait_ready(reg, start_timeout)
    except BaseException:
        reg.stop()
        raise
    return reg


def _wait_for_port(proc: subprocess.Popen, log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = log_path.read_text(errors="replace")
        except OSError:
            text = ""
        m = _LISTEN_RE.search(text)
        if m:
            return int(m.group(1))
        rc = proc.poll()
        if rc is not None:
            raise RuntimeError(
                f"registry exited with code {rc} before listening; log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"registry (pid {proc.pid}) not listening after {timeout:.0f}s; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.01)


def _wait_ready(reg: RunningRegistry, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: str = ""
    with requests.Session() as s:
        s.trust_env = False  # no proxies / CA bundles from the environment
        while True:
            try:
                r = s.get(f"{reg.url}/v2/", verify=reg.verify, timeout=2)
                if r.status_code in (200, 401):
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                last = repr(exc)
            if reg.process is not None and reg.process.poll() is not None:
                raise RuntimeError(f"registry exited during readiness check; log:\n{reg.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"registry at {reg.url} not ready after {timeout:.0f}s (last: {last}); "
                    f"log {reg.log_path}:\n{reg.log_tail()}"
                )
            time.sleep(0.02)
