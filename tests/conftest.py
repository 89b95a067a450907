"""Shared fixtures: real distribution registries in four flavours, seeded with the test images.

Registries are session-scoped (they start in ~50 ms, but seeding costs more) and are started
lazily, so a unit-only run starts none. In CI (helpers.ci.in_ci) a missing binary fails, and a skip,
xfail or xpass anywhere turns the run red.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# rx.Client() caches under $XDG_CACHE_HOME/registry-explorer by default (issue 12). Point it at a
# temporary directory of this session before anything builds a Client: the suite never writes to
# the user's ~/.cache, and every run starts cold. Set at import so subprocesses inherit it too.
_SESSION_CACHE = tempfile.mkdtemp(prefix="rx-test-xdg-cache-")
os.environ["XDG_CACHE_HOME"] = _SESSION_CACHE
atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)
# The Explorer saves fetched blobs into the user's downloads by default (issue 26): a session's own here.
os.environ["XDG_DOWNLOAD_DIR"] = os.path.join(_SESSION_CACHE, "downloads")
# Built samples (the >= 64 MiB peek layer takes a while to make) persist between sessions in the
# temp directory instead of the user's cache (samples_peek.big_image reads RX_SAMPLES_DIR).
os.environ.setdefault("RX_SAMPLES_DIR", str(Path(tempfile.gettempdir()) / f"rx-test-samples-{os.getuid()}"))

import pytest  # noqa: E402 - after the environment above
from helpers.ci import enforce_in_ci, in_ci  # noqa: E402 - after the environment above
from helpers.clients import PRIVATE_REPO, client_for, seed  # noqa: F401, E402  (fixtures below use them)

from registry_explorer.sandbox.registry import FLAVOURS, RegistryBinaryMissing, RunningRegistry, start_registry  # noqa: E402 - after the environment above
from registry_explorer.sandbox.samples import build_images  # noqa: E402 - after the environment above

# images built by real tools (buildah, podman, skopeo, umoci, ctr-remote); the work-tree guard (issue 26);
# the reaches() marker (checked under CI)
pytest_plugins = ["helpers.producer_fixtures", "helpers.worktree_guard", "helpers.reaches"]


@pytest.fixture(scope="session")
def images():
    """The deterministic test images (shared; do not mutate)."""
    return build_images(cached=True)


@pytest.fixture(scope="session")
def registry_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("registries")


class _Registries:
    def __init__(self, workdir: Path, images):
        self.workdir = workdir
        self.images = images
        self.running: dict[str, RunningRegistry] = {}

    def get(self, flavour: str) -> RunningRegistry:
        if flavour not in self.running:
            try:
                reg = start_registry(flavour, self.workdir)
            except RegistryBinaryMissing as exc:
                if in_ci():
                    pytest.fail(f"{exc} (required in CI)")
                pytest.skip(str(exc))
            try:
                seed(reg, self.images)
            except BaseException:
                reg.stop()
                raise
            self.running[flavour] = reg
        return self.running[flavour]

    def stop(self):
        for reg in self.running.values():
            reg.stop()


@pytest.fixture(scope="session")
def registries(registry_workdir, images):
    regs = _Registries(registry_workdir, images)
    yield regs
    regs.stop()


@pytest.fixture(scope="session")
def open_registry(registries):
    return registries.get("open")


@pytest.fixture(scope="session")
def htpasswd_registry(registries):
    return registries.get("htpasswd")


@pytest.fixture(scope="session")
def token_registry(registries):
    return registries.get("token")


@pytest.fixture(scope="session")
def tls_registry(registries):
    return registries.get("tls")


@pytest.fixture(scope="session", params=FLAVOURS)
def any_registry(request, registries):
    """Each of the four flavours in turn."""
    return registries.get(request.param)


@pytest.fixture
def client(any_registry):
    return client_for(any_registry)


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped, xfailed or xpassed test is a failure: a missing registry or browser must not pass silently."""
    enforce_in_ci(session)
