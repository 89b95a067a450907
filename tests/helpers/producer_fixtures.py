"""Session fixtures: images and layouts written by real tools, in a registry of their own.

Registered from tests/conftest.py (`pytest_plugins`). Everything is built at most once per session, on
first use, and kept between sessions under $RX_SAMPLES_DIR/producers-<key> (key: these helpers' source
and the tools' binaries): a later session copies the registry storage and the layouts from there and
starts a registry on the copy (about a second), so a test may change what it got without touching the
cache. A build takes about half a minute on 2 cores; the terminal summary says which it was and the
time per producer.

Fixtures (records: helpers.producers.Pushed / PushedIndex / Layout):
* producer_registry: the RunningRegistry ("open" flavour) holding every image below, `producers/<name>`;
* produced: every record by name;
* buildah_images: {"gzip", "zstd", "zstd:chunked"} -> Pushed (three layers, producers_content.buildah_image);
* buildah_opaque_image (overlay driver, `.wh..wh..opq`), buildah_multiarch (PushedIndex, linux/amd64+arm64);
* podman_images: {"gzip", "zstd"}; skopeo_images: {"gzip", "zstd"} (skopeo compressing buildah's image);
* skopeo_layouts: {"uncompressed", "oci"} -> Layout; umoci_layout (Layout) and umoci_image (Pushed);
* ctr_remote_images: {"estargz", "estargz-64k", "zstdchunked", "uncompressed"} -> Pushed;
* containerd_daemon (a private containerd) and ctr_fetch(reference) -> set of digests ctr fetched.

Outside CI a missing tool (or not being root) skips the tests that need it; under CI=true it fails.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from helpers import producers_containerd, producers_containers
from helpers.ci import in_ci
from helpers.producers import ProducerUnavailable, record_from_json
from registry_explorer.sandbox.registry import RegistryBinaryMissing, start_registry

HERE = Path(__file__).parent
SOURCES = ("producers.py", "producers_content.py", "producers_containers.py", "producers_containerd.py",
           "producer_fixtures.py")
TOOLS = ("buildah", "podman", "skopeo", "umoci", "containerd", "ctr", "ctr-remote", "docker-registry")
PRODUCERS = ("buildah", "podman", "skopeo", "umoci", "ctr-remote")
STALE_AFTER = 3 * 24 * 3600  # other harness versions' caches are removed when this old


def cache_key() -> str:
    """Changes when a helper's source or an installed tool changes (binaries by size and mtime)."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((HERE / name).read_bytes())
    for tool in TOOLS:
        path = shutil.which(tool)
        st = os.stat(path) if path else None
        h.update(f"{tool}={path}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0};".encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get("RX_SAMPLES_DIR") or Path(tempfile.gettempdir()) / f"rx-test-samples-{os.getuid()}")


class ProducerSet:
    """The built (or cached) images of one session; `get(producer)` skips/fails if that one could not run."""

    def __init__(self, base: Path):
        self.base = base
        self.storage, self.layouts = base / "storage", base / "layouts"
        self.records: dict = {}
        self.timings: dict[str, float] = {}
        self.unavailable: dict[str, str] = {}
        self.from_cache = False
        self.registry = None
        self.daemon = None

    def start(self) -> ProducerSet:
        key = cache_key()
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        cached = root / f"producers-{key}"
        t0 = time.monotonic()
        with open(root / f"producers-{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a second session waits for the first one's build
            if (cached / "records.json").exists():
                shutil.copytree(cached / "storage", self.storage)
                shutil.copytree(cached / "layouts", self.layouts)
                os.utime(cached)
                self._start_registry()
                saved = json.loads((cached / "records.json").read_text())
                self.records = {n: record_from_json(d, self.registry.host, self.base) for n, d in saved["records"].items()}
                self.timings = {**saved["timings"], "load from cache": time.monotonic() - t0}
                self.from_cache = True
                return self
            self._start_registry()
            self._build()
            if not self.unavailable:
                self._save(cached, root)
        for store in (self.base / "work").glob("*/storage"):  # the tools' own storage: no longer needed
            shutil.rmtree(store, ignore_errors=True)
        return self

    def _start_registry(self):
        try:
            self.registry = start_registry("open", self.base / "registry", storage=self.storage)
        except RegistryBinaryMissing as exc:
            for p in PRODUCERS:
                self.unavailable[p] = str(exc)

    def _build(self) -> None:
        if self.registry is None:
            return
        self.layouts.mkdir(exist_ok=True)
        work, reg = self.base / "work", self.registry
        steps = {
            "buildah": lambda: producers_containers.build_buildah(reg, work),
            "podman": lambda: producers_containers.build_podman(reg, work),
            "skopeo": lambda: producers_containers.build_skopeo(reg, work, self.layouts, self._buildah_box),
            "umoci": lambda: producers_containers.build_umoci(reg, work, self.layouts),
            "ctr-remote": lambda: producers_containerd.build_ctr_remote(reg, self.containerd(),
                                                                        self.records["buildah-gzip"]),
        }
        self._buildah_box = None
        for producer, step in steps.items():
            needs = {"skopeo": "buildah", "ctr-remote": "buildah"}.get(producer)
            if needs in self.unavailable:
                self.unavailable[producer] = f"needs {needs}: {self.unavailable[needs]}"
                continue
            t0 = time.monotonic()
            try:
                out = step()
            except ProducerUnavailable as exc:
                self.unavailable[producer] = str(exc)
                continue
            if producer == "buildah":
                out, self._buildah_box = out
            self.records.update(out)
            self.timings[producer] = time.monotonic() - t0

    def _save(self, cached: Path, root: Path) -> None:
        staging = root / f".producers-tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(self.storage, staging / "storage")
        shutil.copytree(self.layouts, staging / "layouts")
        doc = {"records": {n: (r.to_json(self.base) if hasattr(r, "path") else r.to_json()) for n, r in self.records.items()},
               "timings": self.timings}
        (staging / "records.json").write_text(json.dumps(doc, indent=1))
        shutil.rmtree(cached, ignore_errors=True)
        staging.rename(cached)
        for old in (*root.glob("producers-*"), *root.glob(".producers-tmp-*")):  # other versions', crashed builds'
            if old.name in (cached.name, cached.name + ".lock") or time.time() - old.stat().st_mtime < STALE_AFTER:
                continue
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)

    def containerd(self):
        if self.daemon is None:
            self.daemon = producers_containerd.start_containerd(self.base / "containerd")
        return self.daemon

    def get(self, producer: str) -> dict:
        """The records `producer` made; a skip (a failure under CI) if it could not run here."""
        if producer in self.unavailable:
            unavailable(f"{producer}: {self.unavailable[producer]}")
        return self.records

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
        if self.registry is not None:
            self.registry.stop()

    def summary(self) -> str:
        how = "from the cache" if self.from_cache else "built"
        times = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        gaps = "; unavailable: " + "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in self.unavailable.items()) \
            if self.unavailable else ""
        return f"producers: {how} ({times}){gaps}"


def unavailable(msg: str):
    if in_ci():
        pytest.fail(f"{msg} (required in CI)")
    pytest.skip(msg)


_SESSION: list[ProducerSet] = []


@pytest.fixture(scope="session")
def producer_set(tmp_path_factory):
    pset = ProducerSet(tmp_path_factory.mktemp("producers"))
    _SESSION.append(pset)
    try:
        yield pset.start()
    finally:
        pset.stop()


@pytest.fixture(scope="session")
def producer_registry(producer_set):
    if producer_set.registry is None:
        unavailable(producer_set.unavailable.get("buildah", "no registry"))
    return producer_set.registry


@pytest.fixture(scope="session")
def produced(producer_set, producer_registry):
    return producer_set.records


def _pick(records: dict, prefix: str, names: dict[str, str]) -> dict:
    return {short: records[prefix + name] for short, name in names.items()}


@pytest.fixture(scope="session")
def buildah_images(producer_set, producer_registry):
    return _pick(producer_set.get("buildah"), "buildah-", {"gzip": "gzip", "zstd": "zstd", "zstd:chunked": "zstd-chunked"})


@pytest.fixture(scope="session")
def buildah_opaque_image(producer_set, producer_registry):
    return producer_set.get("buildah")["buildah-opaque"]


@pytest.fixture(scope="session")
def buildah_multiarch(producer_set, producer_registry):
    return producer_set.get("buildah")["buildah-multiarch"]


@pytest.fixture(scope="session")
def podman_images(producer_set, producer_registry):
    return _pick(producer_set.get("podman"), "podman-", {"gzip": "gzip", "zstd": "zstd"})


@pytest.fixture(scope="session")
def skopeo_images(producer_set, producer_registry):
    return _pick(producer_set.get("skopeo"), "skopeo-", {"gzip": "gzip", "zstd": "zstd"})


@pytest.fixture(scope="session")
def skopeo_layouts(producer_set, producer_registry):
    return _pick(producer_set.get("skopeo"), "skopeo-", {"uncompressed": "uncompressed", "oci": "oci"})


@pytest.fixture(scope="session")
def umoci_layout(producer_set, producer_registry):
    return producer_set.get("umoci")["umoci"]


@pytest.fixture(scope="session")
def umoci_image(producer_set, producer_registry):
    return producer_set.get("umoci")["umoci-pushed"]


@pytest.fixture(scope="session")
def ctr_remote_images(producer_set, producer_registry):
    names = {k: k for k in ("estargz", "estargz-64k", "zstdchunked", "uncompressed")}
    return _pick(producer_set.get("ctr-remote"), "ctr-remote-", names)


@pytest.fixture(scope="session")
def containerd_daemon(producer_set):
    try:
        return producer_set.containerd()
    except ProducerUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def ctr_fetch(containerd_daemon, producer_registry):
    """ctr_fetch(reference, all_platforms=True) -> the set of digests containerd fetched and verified."""
    def fetch(reference: str, *, all_platforms: bool = True) -> set[str]:
        return producers_containerd.ctr_fetch_digests(containerd_daemon, producer_registry, reference,
                                                      all_platforms=all_platforms)
    return fetch


def pytest_terminal_summary(terminalreporter):
    for pset in _SESSION:
        terminalreporter.write_line(pset.summary())
