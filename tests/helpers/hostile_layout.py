"""Hostile OCI layouts on disk (issue 10, class 3), and a memory-capped child to read them in.

Some of these layouts hang today's code (a FIFO) or make it read without end (/dev/zero), so
the reads run in a child process with an address-space cap, killed by its PID after a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def write_layout(root, blobs: dict[str, bytes], entries: list[dict]) -> None:
    """An OCI layout at `root`: the blobs under their digests and index.json listing `entries`."""
    root = Path(root)
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for digest, data in blobs.items():
        (root / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))


_ISOLATED = r'''
import json, resource, sys, time
import registry_explorer as rx
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
# Address-space cap: a read of /dev/zero or a 4 GiB file ends in MemoryError here, not in the test run.
resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + (768 << 20), resource.RLIM_INFINITY))
open("/proc/self/clear_refs", "w").write("5")
before, start = status("VmRSS"), time.monotonic()
path = sys.argv[1]
try:
    exec(sys.argv[2])
    out = {"type": None}
except BaseException as exc:
    out = {"type": type(exc).__name__, "rx": isinstance(exc, rx.RegistryExplorerError), "msg": str(exc)[:300]}
out["elapsed"] = time.monotonic() - start
out["rss_growth"] = status("VmHWM") - before
print(json.dumps(out))
'''


def run_isolated(code: str, path, timeout: float = 4.0) -> dict:
    """Run `code` (with `path` and `rx` defined) in a child with a memory cap; its outcome as a dict.

    For cases that hang or eat memory on today's code (FIFOs, /dev/zero): the child is killed
    by its PID after `timeout` and the outcome is {"type": "hang"}.
    """
    proc = subprocess.Popen([sys.executable, "-c", _ISOLATED, str(path), code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=os.getcwd())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"type": "hang", "rx": False, "msg": f"no answer within {timeout}s", "rss_growth": 0}
    if proc.returncode != 0 or not out.strip():
        return {"type": "crash", "rx": False, "msg": err.decode()[-500:], "rss_growth": 0}
    return json.loads(out.decode().strip().splitlines()[-1])
