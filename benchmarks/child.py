"""Measurements that need a fresh interpreter (peak RSS): `python -m benchmarks.child MODE ARGS...`.

Prints one JSON line. Modes:
- `fetch HOST REPO DIGEST SIZE WARM_DIGEST WARM_SIZE DEST`: Client.fetch_blobs of one blob, with the
  peak RSS growth during the fetch (VmHWM reset via /proc/self/clear_refs, then read back).
- `files HOST ENTRIES RAW_BYTES`: frames.files() on the benchmarks.files_rss layer (its child).
- `files-nodigests HOST ENTRIES RAW_BYTES`: the same with the per-file sha256 switched off (the pass before issue 25).
- `listing HOST ENTRIES`: the plain verified listing stream (layers.iter_layer) of the same layer.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

MIB = 1 << 20


def status(key: str) -> int:
    """A VmRSS/VmHWM figure from /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def fetch(host: str, repo: str, digest: str, size: str, warm_digest: str, warm_size: str, dest: str) -> dict:
    import registry_explorer as rx

    client = rx.Client(docker_config={}, cache=False)
    ref = f"{host}/{repo}"
    out = Path(dest)
    # Warm up: scheme discovery, connection pool, threads and lazy imports happen outside the measurement.
    warm = rx.Descriptor("application/octet-stream", warm_digest, int(warm_size))
    for p in client.fetch_blobs(ref, [warm], out):
        p.unlink()
    desc = rx.Descriptor("application/vnd.oci.image.layer.v1.tar", digest, int(size))
    reset = reset_peak()
    before = status("VmRSS")
    ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    paths = client.fetch_blobs(ref, [desc], out)
    seconds = time.perf_counter() - t
    peak = status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    growth = peak - (before if reset else ru_before)
    written = paths[0].stat().st_size
    paths[0].unlink()
    return {
        "bytes": written,
        "seconds": round(seconds, 3),
        "mb_per_s": round(int(size) / seconds / 1e6, 1),
        "rss_before_mib": round(before / MIB, 1),
        "peak_rss_growth_mib": round(growth / MIB, 1),
        "peak_measured_by": "VmHWM after clear_refs" if reset else "ru_maxrss",
    }


def main(argv: list[str]) -> int:
    mode, args = argv[0], argv[1:]
    if mode == "fetch":
        res = fetch(*args)
    elif mode == "files":
        from benchmarks import files_rss

        res = files_rss.child(args[0], int(args[1]), int(args[2]))
    elif mode == "files-nodigests":
        from benchmarks import files_rss

        res = files_rss.child(args[0], int(args[1]), int(args[2]), digests=False)
    elif mode == "listing":
        from benchmarks import files_rss

        res = files_rss.child_listing(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
