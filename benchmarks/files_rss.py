"""Peak memory and throughput of frames.files() on a ~256 MiB gzip layer from a real registry.

Run from the repository root: ``python -m benchmarks.files_rss`` (or ``python benchmarks/files_rss.py``).
The parent starts an open registry (tests/harness/registry.py), writes the layer to a temp file
as it gzips it (so the parent stays small too), pushes it, then measures in a fresh child
process so the numbers are not polluted by the parent's allocations. Writes
benchmarks/files_rss.json next to this file. Target: peak RSS growth under 64 MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = Path(__file__).resolve().with_suffix(".json")
MIB = 1 << 20
TARGET_LAYER_BYTES = 256 * MIB  # compressed size of the layer blob
TARGET_RSS_GROWTH = 64 * MIB
BIG_FILE = 32 * MIB  # big files alternate 1 MiB random / 1 MiB text, so gzip gets ~2:1
SMALL_FILES = 10_000  # many small entries exercise the per-header path too
RANDOM_POOL = 16 * MIB  # random bytes recycled at varying offsets; deflate's window is 32 KiB
GZIP_LEVEL = 1  # speed; the content keeps it honest
REPO = "bench/files"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


# --- parent: build and push --------------------------------------------------------------------


class _Synthetic(io.RawIOBase):
    """`size` bytes of content produced on demand: 1 MiB random slices alternating with text."""

    def __init__(self, size: int, pool: bytes, seed: int):
        self.left = size
        self.pos = 0
        self.pool = pool
        self.rng = random.Random(seed)
        self.text = b"".join(b"line %08d: the quick brown fox jumps over the lazy dog\n" % i for i in range(20_000))

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        chunk_no, off = divmod(self.pos, MIB)
        n = min(n, MIB - off)
        if chunk_no % 2 == 0:
            start = (chunk_no * 7919 * 4096 + off) % (len(self.pool) - MIB)
            out = self.pool[start:start + n]
        else:
            start = (chunk_no * 131 + off) % (len(self.text) - MIB)
            out = self.text[start:start + n]
        self.pos += n
        self.left -= n
        return out


class _HashingWriter:
    """A file wrapper that hashes and counts what is written."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def write(self, b) -> int:
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def flush(self) -> None:
        self.f.flush()


def build_layer(path: Path, target: int, *, big_file: int = BIG_FILE, small_files: int = SMALL_FILES) -> dict:
    """Write a tar+gzip layer of about `target` compressed bytes to `path`, streaming.

    `big_file` and `small_files` shrink it for the suite's smoke run (python -m benchmarks --smoke).
    """
    pool = random.Random(20240101).randbytes(RANDOM_POOL)
    entries = 0
    raw_bytes = 0
    with open(path, "wb") as f:
        out = _HashingWriter(f)
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=0, filename="") as gz, \
                tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            def add(name, size=0, src=None, kind=tarfile.REGTYPE):
                nonlocal entries, raw_bytes
                info = tarfile.TarInfo(name)
                info.type, info.size, info.mtime, info.mode = kind, size, 1704067200, 0o644
                tar.addfile(info, src)
                entries += 1
                raw_bytes += size
            add("small", kind=tarfile.DIRTYPE)
            for d in range(100):
                add(f"small/d{d:02d}", kind=tarfile.DIRTYPE)
            for i in range(small_files):
                body = (b"small file %d\n" % i) * (1 + i % 100)
                add(f"small/d{i % 100:02d}/f{i:05d}.txt", len(body), io.BytesIO(body))
            add("big", kind=tarfile.DIRTYPE)
            i = per_file = 0
            while out.n + per_file // 2 < target:  # stop at the file count closest to target
                before = out.n
                add(f"big/blob{i:03d}.bin", big_file, _Synthetic(big_file, pool, i))
                gz.flush()  # so out.n tracks what has been compressed so far
                per_file = out.n - before
                i += 1
    return {"digest": "sha256:" + out.h.hexdigest(), "size": out.n, "entries": entries, "raw_bytes": raw_bytes}


def _session():
    import requests

    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE / proxies must not leak into a loopback push
    return s


def push_blob(s, base: str, digest: str, body, size: int) -> None:
    r = s.post(f"{base}/v2/{REPO}/blobs/uploads/", timeout=60)
    r.raise_for_status()
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else base + loc
    sep = "&" if "?" in loc else "?"
    r = s.put(f"{loc}{sep}digest={digest}", data=body, timeout=600,
              headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    r.raise_for_status()


def push_image(base: str, layer_path: Path, layer: dict) -> str:
    s = _session()
    with open(layer_path, "rb") as f:
        push_blob(s, base, layer["digest"], f, layer["size"])
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}},
                        separators=(",", ":")).encode()
    cdig = "sha256:" + hashlib.sha256(config).hexdigest()
    push_blob(s, base, cdig, config, len(config))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cdig, "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer["digest"], "size": layer["size"]}],
    }, separators=(",", ":")).encode()
    r = s.put(f"{base}/v2/{REPO}/manifests/v1", data=manifest, headers={"Content-Type": OCI_MANIFEST}, timeout=60)
    r.raise_for_status()
    return "v1"


# --- child: measure ----------------------------------------------------------------------------


def child(host: str, entries: int, raw_bytes: int, digests: bool = True) -> dict:
    import registry_explorer as rx
    from registry_explorer import frames

    if not digests:  # the index pass as it was before issue 25: no file's content hashed on the way
        from registry_explorer.peek import digests as per_file

        per_file.ContentDigests.tap = lambda self, data, offset: None
        per_file.ContentDigests.start = lambda self, slot, info: True

    client = rx.Client(docker_config={}, cache=False)
    ref = f"{host}/{REPO}:v1"
    layer = client.image(ref).layers[0]
    _warm_up()

    # Baseline: a verified read of the blob with no decompression or tar parsing.
    t = time.perf_counter()
    with client.open_blob(ref, layer) as r:
        while r.read(1 << 20):
            pass
    raw_seconds = time.perf_counter() - t

    readers = []
    real_open = client.open_blob

    @contextlib.contextmanager
    def spy(ref_, desc):
        with real_open(ref_, desc) as reader:
            readers.append(reader)
            yield reader

    client.open_blob = spy
    from benchmarks.child import reset_peak, status

    reset = reset_peak()
    before = status("VmRSS")
    ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu = _cpu()
    t = time.perf_counter()
    df = frames.files(client, ref, layer)
    seconds = time.perf_counter() - t
    cpu = _cpu() - cpu
    peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    growth = peak - (before if reset else ru_before)
    reader = readers[0]
    return {
        "layer_bytes": layer.size,
        "uncompressed_bytes": raw_bytes,
        "entries": len(df),
        "entries_expected": entries,
        "digest_verified": bool(reader.verified and reader.bytes_read == layer.size),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "mb_per_s_compressed": round(layer.size / seconds / 1e6, 1),
        "mb_per_s_uncompressed": round(raw_bytes / seconds / 1e6, 1),
        "raw_verified_read_mb_per_s": round(layer.size / raw_seconds / 1e6, 1),
        "rss_before_mib": round(before / MIB, 1),
        "peak_rss_growth_mib": round(growth / MIB, 1),
        "peak_measured_by": "VmHWM after clear_refs" if reset else "ru_maxrss",
        "dataframe_mib": round(df.memory_usage(deep=True).sum() / MIB, 1),
    }


def _cpu() -> float:
    """CPU seconds of this process, every thread (the index pass runs zran on a second one)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_listing(host: str, entries: int) -> dict:
    """The plain verified listing stream (`layers.iter_layer`: blob -> gunzip -> tar walk, digest checked at the
    end, no index, no per-file digests) of the same layer: what frames.files() cost before the index and its
    per-file sha256 were recorded in the same pass (benchmarks case 4 compares the two)."""
    import registry_explorer as rx
    from registry_explorer.layers import iter_layer

    client = rx.Client(docker_config={}, cache=False)
    ref = f"{host}/{REPO}:v1"
    layer = client.image(ref).layers[0]
    _warm_up()
    with client.open_blob(ref, layer) as r:  # the same connection warm-up as child() makes
        while r.read(1 << 20):
            pass
    cpu = _cpu()
    t = time.perf_counter()
    n = sum(1 for _ in iter_layer(client, ref, layer))
    seconds = time.perf_counter() - t
    return {"entries": n, "entries_expected": entries, "seconds": round(seconds, 3),
            "cpu_seconds": round(_cpu() - cpu, 3)}


def _warm_up() -> None:
    """Run the whole listing path once on a tiny in-memory layer, so lazy imports are not measured."""
    from registry_explorer import layers as layerfs
    from registry_explorer.frames.files import entries_frame

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    entries_frame(layerfs.iter_entries(io.BytesIO(gzip.compress(buf.getvalue())), OCI_LAYER_GZIP))


# --- main ----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("HOST", "ENTRIES", "RAW_BYTES"), help=argparse.SUPPRESS)
    ap.add_argument("--size-mib", type=int, default=TARGET_LAYER_BYTES // MIB, help="compressed layer size")
    args = ap.parse_args(argv)
    if args.child:
        host, entries, raw_bytes = args.child
        print(json.dumps(child(host, int(entries), int(raw_bytes))))
        return 0

    from registry_explorer.sandbox.registry import start_registry

    with tempfile.TemporaryDirectory(prefix="rx-bench-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        layer = build_layer(tmp / "layer.tar.gz", args.size_mib * MIB)
        build_s = time.perf_counter() - t
        reg = start_registry("open", tmp / "registry")
        try:
            t = time.perf_counter()
            push_image(reg.url, tmp / "layer.tar.gz", layer)
            push_s = time.perf_counter() - t
            (tmp / "layer.tar.gz").unlink()
            env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
            env["NO_PROXY"] = "127.0.0.1,localhost"
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.files_rss", "--child", reg.host, str(layer["entries"]),
                 str(layer["raw_bytes"])],
                capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
            )
        finally:
            reg.stop()
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        return proc.returncode
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update({
        "build_seconds": round(build_s, 1),
        "push_seconds": round(push_s, 1),
        "target_rss_growth_mib": TARGET_RSS_GROWTH // MIB,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
    })
    res["pass"] = bool(res["peak_rss_growth_mib"] < res["target_rss_growth_mib"]
                       and res["entries"] == res["entries_expected"] and res["digest_verified"])
    RESULT.write_text(json.dumps(res, indent=2) + "\n")
    width = max(map(len, res))
    print(f"frames.files() on a {res['layer_bytes'] / MIB:.0f} MiB gzip layer ({res['entries']} entries)")
    for k, v in res.items():
        print(f"  {k:<{width}}  {v}")
    print(f"wrote {RESULT.relative_to(ROOT)}")
    return 0 if res["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
