"""Credentials: where a user's secrets come from, each bound to the registry it was found for.

Sources, in order: explicit `credentials=` > docker config `auths` > `credHelpers` > `credsStore`
(the order `docker` itself uses). What may be sent where is not decided here but by the
credential gate (`http/gate.py`); the challenge-response flow is `http/auth.py`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..core.redact import remember
from ..core.reference import DOCKER_HUB, normalize_registry
from .challenge import Challenge, parse_challenges  # noqa: F401  (the old registry_explorer.auth path exported it)

log = logging.getLogger(__name__)

# Docker Hub's key in config.json is the v1 index URL, for historical reasons.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
# A credential helper that hangs must not hang the notebook.
CREDENTIAL_HELPER_TIMEOUT = 30


@dataclass(frozen=True)
class Credential:
    """A username/password or an identity (refresh) token. Its repr never shows the secret."""
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # Every secret we hold is scrubbed from whatever we show, even where it is echoed back to us.
        remember(self.password, self.identity_token, self.basic.split(" ", 1)[1] if self.password else None)

    def __repr__(self) -> str:
        kind = "identity_token" if self.identity_token else "password"
        return f"Credential(username={self.username!r}, {kind}=<redacted>)"

    @property
    def basic(self) -> str:
        """The value of a Basic Authorization header."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def registry_key(host_or_url: str) -> str:
    """Normalise a config.json key or host ('https://index.docker.io/v1/') to a registry name."""
    s = host_or_url.strip()
    if "://" in s:
        s = urlsplit(s).netloc or s
    s = s.split("/", 1)[0]
    return normalize_registry(s)


def _decode_auth(entry: Mapping, source: str) -> Credential | None:
    ident = entry.get("identitytoken") or ""
    if entry.get("auth"):
        try:
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            warnings.warn(f"ignoring a malformed 'auth' entry in {source}", stacklevel=3)
            return None
        return Credential(user, pw, ident)
    if entry.get("username") or entry.get("password") or ident:
        return Credential(entry.get("username") or "", entry.get("password") or "", ident)
    return None


class CredentialStore:
    """Looks up credentials for a registry host from explicit values and the docker config."""
    def __init__(self, credentials: Mapping | None = None, docker_config: str | os.PathLike | Mapping | None = None):
        self._explicit: dict[str, Credential] = {}
        for host, value in (credentials or {}).items():
            self._explicit[registry_key(host)] = _as_credential(value)
        self._config_source, self._config = _load_docker_config(docker_config)
        self._cache: dict[str, Credential | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        hosts = sorted(self._explicit)
        return f"CredentialStore(explicit_hosts={hosts}, docker_config={self._config_source!r})"

    def get(self, registry: str) -> Credential | None:
        """Credentials for `registry` (a registry name such as 'docker.io' or 'host:port'), or None."""
        key = registry_key(registry)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        cred = self._lookup(key)
        with self._lock:
            self._cache[key] = cred
        return cred

    def _lookup(self, key: str) -> Credential | None:
        if key in self._explicit:
            return self._explicit[key]
        cfg = self._config
        for k, entry in (cfg.get("auths") or {}).items():
            if isinstance(entry, dict) and registry_key(k) == key:
                cred = _decode_auth(entry, self._config_source)
                if cred:
                    return cred
        helper = (cfg.get("credHelpers") or {}).get(key)
        if helper is None:
            for k, v in (cfg.get("credHelpers") or {}).items():
                if registry_key(k) == key:
                    helper = v
        helper = helper or cfg.get("credsStore")
        if helper:
            return _run_helper(helper, DOCKER_HUB_CONFIG_KEY if key == DOCKER_HUB else key)
        return None


def _as_credential(value) -> Credential:
    if isinstance(value, Credential):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        user, pw = str(value[0]), str(value[1])
        # Docker's convention: username '<token>' means the secret is an identity token.
        return Credential(user, "", pw) if user == "<token>" else Credential(user, pw)
    if isinstance(value, Mapping):
        return Credential(value.get("username", ""), value.get("password", ""), value.get("identity_token", ""))
    raise TypeError("credentials values must be (username, password) tuples")


def _load_docker_config(docker_config) -> tuple[str, dict]:
    if isinstance(docker_config, Mapping):
        return "<dict>", dict(docker_config)
    if docker_config is not None:
        path = Path(docker_config)
        if path.is_dir():
            path = path / "config.json"
    else:
        base = os.environ.get("DOCKER_CONFIG")
        path = Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return str(path), {}
    except (OSError, ValueError) as exc:
        warnings.warn(f"ignoring docker config {path}: {exc}; continuing without its credentials", stacklevel=3)
        return str(path), {}
    return str(path), data if isinstance(data, dict) else {}


def _run_helper(name: str, server: str) -> Credential | None:
    import shutil  # only credential helpers need these; keep `import registry_explorer` fast; import time: only credential helpers need these
    import subprocess  # import time: only credential helpers need these

    exe = shutil.which(f"docker-credential-{name}")
    if exe is None:
        warnings.warn(
            f"credential helper docker-credential-{name} is not on PATH; continuing anonymously for {server}",
            stacklevel=4,
        )
        return None
    try:
        proc = subprocess.run(
            [exe, "get"], input=server.encode(), capture_output=True, timeout=CREDENTIAL_HELPER_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        warnings.warn(f"credential helper {name} failed ({type(exc).__name__}); continuing anonymously", stacklevel=4)
        return None
    if proc.returncode != 0:
        # "credentials not found in native keychain" is the normal answer for an unknown host.
        log.debug("credential helper %s has no entry for %s", name, server)
        return None
    try:
        out = json.loads(proc.stdout)
        user, secret = out.get("Username", ""), out.get("Secret", "")
    except (ValueError, AttributeError):
        warnings.warn(f"credential helper {name} printed something that is not JSON; ignoring it", stacklevel=4)
        return None
    if not secret:
        return None
    return Credential(user, "", secret) if user == "<token>" else Credential(user, secret)
