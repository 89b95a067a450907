"""Shared plumbing for the benchmark cases: registries, pushing data, timing, children, machine info."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
MIB = 1 << 20
MB = 1_000_000

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


# --- results ---------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """What one case measured: figures (medians with their runs), ratios, targets, notes."""

    id: str
    name: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    ratios: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def figure(self, name: str, value, unit: str, runs: list | None = None, **extra) -> None:
        row = {"name": name, "value": _round(value), "unit": unit}
        if runs is not None:
            row["runs"] = [_round(r) for r in runs]
        row.update(extra)
        self.figures.append(row)

    def ratio(self, name: str, value: float, **extra) -> None:
        self.ratios.append({"name": name, "value": _round(value), **extra})

    def target(self, name: str, value, target: str, met: bool, **extra) -> None:
        self.targets.append({"name": name, "value": _round(value), "target": target, "met": bool(met), **extra})

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def _round(v, digits: int = 4):
    """Floats to `digits` significant digits (JSON stays readable; no false precision)."""
    if isinstance(v, float):
        return float(f"{v:.{digits}g}")
    return v


def median(xs) -> float:
    return float(statistics.median(xs))


def rotated(items: list, k: int) -> list:
    """`items` rotated by k: each repetition starts with a different method, so none always runs first."""
    k %= max(1, len(items))
    return items[k:] + items[:k]


# --- environment -----------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for child processes: no proxies for loopback, nothing registry-specific."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("REGISTRY_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cmd_version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else None


def machine_info() -> dict[str, Any]:
    cpu = None
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu is None:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_model": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "sha_ni": "sha_ni" in flags,
        "memory_gib": mem,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "packages": {d: _version(d) for d in (
            "registry-explorer", "requests", "urllib3", "pandas", "ipywidgets", "zstandard", "python-dxf", "oras")},
        "tools": {
            "curl": _cmd_version(["curl", "--version"]),
            "openssl": _cmd_version(["openssl", "version"]),
            "tar": _cmd_version(["tar", "--version"]),
            "docker-registry": _cmd_version(["docker-registry", "--version"]),
        },
    }


def have(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


COMPARATORS = {"dxf": "python-dxf", "oras": "oras"}


def comparator(res: CaseResult, module: str) -> bool:
    """Whether a Python comparator is importable; if not, a note (and with CI=true, an error)."""
    if have(module):
        return True
    msg = f"{COMPARATORS[module]} is not installed (pip install {COMPARATORS[module]}): its rows are missing"
    if os.environ.get("CI") == "true":
        raise RuntimeError(msg + " (CI=true: a missing comparator is an error)")
    res.notes.append(msg)
    return False


# --- a run: temp dir and registries ----------------------------------------------------------------

SCRATCH_NEEDS = 4 << 30  # registry storage (~1.8 GiB in a full run) plus downloads in flight


def scratch_dir() -> str | None:
    """Where registry storage and downloads go: $RX_BENCH_TMPDIR, else /dev/shm when it has room.

    On tmpfs nothing waits for a disk: a loaded or slow disk otherwise dominates the figures
    (seeding 10,000 tags writes 70,000 inodes; removing them took two minutes on a busy virtual
    disk). Every method writes its file to the same place, so ratios are unaffected.
    """
    env = os.environ.get("RX_BENCH_TMPDIR")
    if env:
        return env
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= SCRATCH_NEEDS and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


class Run:
    """One benchmark run: a temp dir, lazily started registries, and the sizes of this mode."""

    def __init__(self, smoke: bool, repeat: int | None = None, verbose: bool = True):
        self.smoke = smoke
        self.repeat_override = repeat
        self.verbose = verbose
        self.tmp = Path(tempfile.mkdtemp(prefix="rx-bench-", dir=scratch_dir()))
        self._registries: dict[str, Any] = {}

    def repeats(self, full: int, smoke: int = 1) -> int:
        if self.repeat_override:
            return self.repeat_override
        return smoke if self.smoke else full

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"  · {msg}", flush=True)

    def registry(self, flavour: str):
        reg = self._registries.get(flavour)
        if reg is None:
            from registry_explorer.sandbox.registry import start_registry

            reg = start_registry(flavour, self.tmp / "registries")
            self._registries[flavour] = reg
        return reg

    def close(self) -> None:
        for reg in self._registries.values():
            reg.stop()
        self._registries.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- data ------------------------------------------------------------------------------------------


def write_random_file(path: Path, size: int, seed: int) -> str:
    """`size` pseudo-random bytes to `path` (a 64 MiB random pool, each slice salted); returns the digest.

    Download cost does not depend on the content, and generating fresh randomness runs at only
    ~180 MB/s here, so a 1 GiB blob is a pool re-used with a per-slice header.
    """
    pool = os.urandom(min(size, 64 * MIB))
    h = hashlib.sha256()
    left = size
    i = 0
    with open(path, "wb") as f:
        while left:
            n = min(left, len(pool))
            salt = f"rx-bench seed={seed} slice={i}\n".encode()
            part = memoryview(pool)[:n]
            chunk = salt[:n] + bytes(part[len(salt):]) if n > len(salt) else salt[:n]
            h.update(chunk)
            f.write(chunk)
            left -= n
            i += 1
    return "sha256:" + h.hexdigest()


def sha256_file(path: Path, chunk: int = MIB) -> str:
    h = hashlib.sha256()
    buf = bytearray(chunk)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return "sha256:" + h.hexdigest()


# --- pushing (plain http.client: large reads, no requests overhead) ----------------------------


def _conn(base: str) -> http.client.HTTPConnection:
    u = urlsplit(base)
    if u.scheme != "http":
        raise ValueError("benchmark data is pushed to the open (plain-http) registry")
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600, blocksize=MIB)


def _exchange(c: http.client.HTTPConnection, method: str, target: str, want: int, what: str, *,
              body=None, headers: dict | None = None) -> http.client.HTTPResponse:
    """Send one request on `c`, drain the answer, and raise unless its status is `want`."""
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    r.read()
    if r.status != want:
        raise RuntimeError(f"{what}: {r.status}")
    return r


def push_blob(base: str, repo: str, digest: str, body, size: int) -> None:
    """POST an upload, then PUT the whole body (bytes or a binary file) with `?digest=`."""
    c = _conn(base)
    try:
        r = _exchange(c, "POST", f"/v2/{repo}/blobs/uploads/", 202, f"POST upload to {repo}",
                      headers={"Content-Length": "0"})
        u = urlsplit(urljoin(base + "/", r.getheader("Location")))
        target = u.path + "?" + (u.query + "&" if u.query else "") + "digest=" + digest
        _exchange(c, "PUT", target, 201, f"PUT blob {digest} to {repo}", body=body,
                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    finally:
        c.close()


def push_file(base: str, repo: str, path: Path, digest: str) -> int:
    size = path.stat().st_size
    with open(path, "rb") as f:
        push_blob(base, repo, digest, f, size)
    return size


def push_manifest(base: str, repo: str, ref: str, doc: dict) -> str:
    raw = json.dumps(doc, separators=(",", ":")).encode()
    c = _conn(base)
    try:
        _exchange(c, "PUT", f"/v2/{repo}/manifests/{ref}", 201, f"PUT manifest {repo}:{ref}", body=raw,
                  headers={"Content-Type": doc["mediaType"], "Content-Length": str(len(raw))})
    finally:
        c.close()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def push_image_of_blobs(base: str, repo: str, tag: str, layers: list[tuple[str, int]]) -> str:
    """Push a config and an OCI manifest over already-pushed layer blobs [(digest, size)]."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]}},
                        separators=(",", ":")).encode()
    cdig = "sha256:" + hashlib.sha256(config).hexdigest()
    push_blob(base, repo, cdig, config, len(config))
    return push_manifest(base, repo, tag, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cdig, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, s in layers],
    })


# --- measuring --------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds of another process (the registry), from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def requests_download(session, url: str, path: Path, digest: str) -> None:
    """The usual Python peer: requests `iter_content(1 MiB)`, hashlib and a file write on one thread."""
    h = hashlib.sha256()
    with session.get(url, stream=True, verify=True, timeout=60) as r, open(path, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_content(MIB):
            h.update(chunk)
            f.write(chunk)
    assert "sha256:" + h.hexdigest() == digest


# --- children --------------------------------------------------------------------------------------


def run_child(args: list[str], timeout: float = 600) -> dict:
    """Run `python -m benchmarks.child ARGS` in a fresh interpreter; return its last JSON line."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.child", *args], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out
