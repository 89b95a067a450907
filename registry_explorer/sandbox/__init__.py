"""A local, real registry to explore and teach with: CNCF distribution on 127.0.0.1, seeded with samples.

    with rx.sandbox.start() as sb:          # or: sb = rx.sandbox.start(); ...; sb.stop()
        client = sb.client()
        client.image(sb.references["multiarch"], platform="linux/arm64")

`start(auth="token")` adds a token server and a private repository for the auth tutorial.
The registry runs as a child process started with a parent-death signal, is stopped by PID,
and its storage is a temporary directory removed on stop.
"""

from __future__ import annotations

import atexit
import html
import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import RegistryExplorerError
from ..sources.remote import Client
from . import registry as reg_mod
from . import samples, samples_data, samples_inventory, samples_peek
from .push import _Client, push_image
from .samples_census import seed_census_on_disk

__all__ = ["Sandbox", "SandboxError", "start", "SAMPLES", "INSTALL_HINT"]

INSTALL_HINT = (
    "No CNCF distribution registry binary ('docker-registry' or 'registry') is on PATH. Get one with:\n"
    "  Debian/Ubuntu:  sudo apt-get install docker-registry\n"
    "  conda:          no conda-forge package ships the registry binary; use apt or Docker\n"
    "  Docker:         docker run -d -p 5000:5000 registry:2\n"
    "                  then seed it: python -m registry_explorer.sandbox --seed 127.0.0.1:5000"
)
# Demo credentials for the token-auth mode: a teaching sandbox on loopback, printed on purpose.
# The password is a word no message contains: every password a Client holds is scrubbed from all
# the text it shows for the rest of the process (core/redact.remember), so a password spelled like
# the package turned `pip install 'registry-explorer[census]'` into `pip install '<redacted>[census]'`.
DEMO_USER = "student"
DEMO_PASSWORD = "sandbox-pw-5u7x"
PRIVATE_REPOSITORY = "private/hello"

# sample key -> (image key in samples.build_images(), repository, tag)
SAMPLES = {
    "hello": ("single", "demo/hello", "1.0"),
    "sbom": ("artifact", "demo/hello", "sbom"),
    "multiarch": ("multi", "demo/multiarch", "1.0"),
    "docker": ("docker", "demo/docker", "1.0"),
    "zstd": ("zstd", "demo/zstd", "1.0"),
    "wasteful": ("wasteful", "demo/wasteful", "1.0"),
    "variant": ("variant", "demo/hello-variant", "1.0"),
    "data": ("data", "demo/data", "1.0"),  # CSVs for docker:// (samples_data.py)
    "peek": ("peek", "demo/peek", "1.0"),  # peek without pulling (samples_peek.py)
    "estargz": ("estargz", "demo/estargz", "1.0"),
    "zstd-chunked": ("zstd-chunked", "demo/zstd-chunked", "1.0"),
    "zstd-frames": ("zstd-frames", "demo/zstd-frames", "1.0"),
}
# Only on request (start(big=True), --big): a >= 64 MiB gzip layer, built once and kept on disk.
BIG_SAMPLE = {"big": ("big", "demo/big", "1.0")}


class SandboxError(RegistryExplorerError):
    """The sandbox could not start (most often: no registry binary installed)."""


@dataclass
class Sandbox:
    """A running sandbox registry; use as a context manager or call `stop()`."""
    host: str
    url: str
    references: dict[str, str]
    auth: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_realm: str | None = None
    census: object = field(default=None, repr=False)  # the CensusSample, with start(census=True)
    _registry: object = field(default=None, repr=False)
    _workdir: Path | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, *, anonymous: bool = False, **kw):
        """A Client for this sandbox (with the demo credentials in token mode unless `anonymous`)."""
        creds = None
        insecure: tuple[str, ...] = ()
        if self.username and not anonymous:
            creds = {self.host: (self.username, self.password)}
            insecure = (self.host,)  # plain http on loopback: the user opts in explicitly
        if "cache" not in kw and self._workdir is not None:
            # A cache of this sandbox's own, fresh per run: a cold read in a notebook is really cold
            # and its trace is the same every run (the user's ~/.cache would make it vary).
            kw["cache"] = self._workdir / "cache"
        return Client(credentials=creds, insecure=insecure, docker_config=kw.pop("docker_config", {}), **kw)

    @property
    def running(self) -> bool:
        """True while the registry process is alive."""
        reg = self._registry
        return bool(reg is not None and reg.is_running())

    def stop(self) -> None:
        """Stop the registry (and token server) by PID and delete the storage; safe to call twice."""
        with self._lock:
            reg, self._registry = self._registry, None
            if reg is not None:
                reg.stop()
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def describe(self) -> str:
        """The address and sample references, as printed by `python -m registry_explorer.sandbox`."""
        lines = [f"registry-explorer sandbox: {self.url}" + (f" (auth: {self.auth})" if self.auth else "")]
        if self.username:
            lines.append(f"  credentials: {self.username} / {self.password}   token realm: {self.token_realm}")
        width = max(len(k) for k in self.references)
        lines += [f"  {k:<{width}}  {v}" for k, v in self.references.items()]
        return "\n".join(lines)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>"
                       for k, v in self.references.items())
        return (f"<div><b>sandbox</b> <code>{html.escape(self.url)}</code>"
                f"{' (auth: ' + html.escape(self.auth) + ')' if self.auth else ''}<table>{rows}</table></div>")


def seed(url: str, *, auth: tuple[str, str] | None = None, verify=True, private: bool = False,
         big: bool = False, inventory: bool = False) -> dict[str, str]:
    """Push the sample images to a registry at `url` (with `big`, the 64 MiB one too; with `inventory`,
    demo/inventory:1.0 and 1.1 and the SBOM of 1.1: samples_inventory.py); returns name -> reference."""
    host = url.split("://", 1)[1]
    images = {**samples.build_images(cached=True), **samples_data.build_images(), **samples_peek.build_peek_images()}
    if big:
        images["big"] = samples_peek.big_image(64)
    refs: dict[str, str] = {}
    for name, (key, repo, tag) in {**SAMPLES, **(BIG_SAMPLE if big else {})}.items():
        img = images[key]
        # Artifacts keep their own tag; images get the sandbox's tag.
        push_image(url, img, auth=auth, verify=verify, repository=repo, tag=None if key == "artifact" else tag)
        refs[name] = f"{host}/{repo}:{tag}"
    # distribution 2.8 has no referrers API: write the OCI referrers tag-schema index that
    # oras/regctl would maintain, so the referrers of demo/hello can be found.
    single, art = images["single"], images["artifact"]
    index = {"schemaVersion": 2, "mediaType": samples.OCI_INDEX,
             "manifests": [art.root.descriptor(artifactType="application/spdx+json",
                                                annotations=art.root.json().get("annotations", {}))]}
    _Client(url, "demo/hello", auth=auth, verify=verify, session=None).put_manifest(
        single.digest.replace(":", "-"), samples.Blob(samples.OCI_INDEX, json.dumps(index).encode()))
    if private:
        push_image(url, images["single"], auth=auth, verify=verify, repository=PRIVATE_REPOSITORY, tag="1.0")
        refs["private"] = f"{host}/{PRIVATE_REPOSITORY}:1.0"
    else:  # the signed sample (issue 14); the auth tutorial's token sandbox keeps the catalog its notebook shows
        from .samples_supply import seed_optional

        refs.update(seed_optional(url, auth=auth, verify=verify))
    if inventory:
        refs.update(samples_inventory.seed(url, auth=auth, verify=verify))
    return refs


_PREFIX = "rx-sandbox-"


def _remove_orphans(parent: Path) -> None:
    """Delete storage left by sandboxes whose Python process died (a killed kernel runs no atexit)."""
    for d in parent.glob(_PREFIX + "*"):
        try:
            pid = int((d / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # someone else's live process


def start(*, auth: str | None = None, port: int = 0, workdir: str | Path | None = None, big: bool = False,
          census: bool = False, inventory: bool = False) -> Sandbox:
    """Start a seeded sandbox registry on 127.0.0.1 (`auth=None` or `'token'`); `port=0` picks a free one.

    `big=True` also pushes the 'big' sample (a >= 64 MiB gzip layer; built on first use, then cached).
    `census=True` also writes the census sample (44 repositories, 1,136 tags: samples_census.py).
    `inventory=True` also pushes demo/inventory:1.0 and :1.1, package databases in layers (samples_inventory.py).
    """

    if auth not in (None, "token"):
        raise SandboxError(f"auth must be None or 'token', not {auth!r}")
    try:
        reg_mod.find_registry_binary()
    except (reg_mod.RegistryBinaryMissing, RuntimeError):
        raise SandboxError(INSTALL_HINT) from None
    _remove_orphans(Path(workdir) if workdir else Path(tempfile.gettempdir()))
    tmp = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=workdir))
    (tmp / "owner.pid").write_text(str(os.getpid()))
    extra = {"http": {"addr": f"127.0.0.1:{port}"}} if port else None
    census_sample = None
    if census:  # written into the storage before the registry starts: no HTTP push per tag

        census_sample = seed_census_on_disk(tmp / "storage")
    try:
        running = reg_mod.start_registry(
            "token" if auth == "token" else "open", tmp, storage=tmp / "storage" if census else None, extra_config=extra,
            username=DEMO_USER, password=DEMO_PASSWORD,
        )
    except Exception as exc:  # noqa: BLE001 - a start failure of any kind (binary, port, config) is one SandboxError
        shutil.rmtree(tmp, ignore_errors=True)
        raise SandboxError(f"the sandbox registry did not start: {exc}") from None
    sb = Sandbox(host=running.host, url=running.url, references={}, auth=auth, _registry=running, _workdir=tmp)
    if auth == "token":
        sb.username, sb.password = DEMO_USER, DEMO_PASSWORD
        sb.token_realm = running.token_server.url  # its default policy keeps private/ private
    atexit.register(sb.stop)
    try:
        sb.references = seed(running.url, auth=running.auth, verify=running.verify, private=auth == "token",
                             big=big, inventory=inventory)
        if census_sample is not None:
            sb.census = census_sample
            sb.references["census"] = f"{running.host} ({len(census_sample.repositories)} repositories, " \
                                      f"{census_sample.tag_count} tags)"
    except BaseException:
        sb.stop()
        raise
    return sb
