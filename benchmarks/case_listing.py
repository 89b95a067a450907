"""Case 4: frames.files() on a gzip layer against `curl -s URL | tar -tz | wc -l`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from . import files_rss
from .common import MB, MIB, CaseResult, Run, child_env, median, rotated, run_child

TARGET_VS_TAR = 0.8
TARGET_RSS_MIB = files_rss.TARGET_RSS_GROWTH // MIB

# The tar pipeline, timed inside a small Python parent so its children's peak RSS can be read back.
_PIPELINE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(["bash", "-o", "pipefail", "-c", sys.argv[1]], capture_output=True, text=True, check=True)
s = time.perf_counter() - t
print(json.dumps({"seconds": s, "lines": int(p.stdout.strip()),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run(run: Run) -> CaseResult:
    if run.smoke:
        target, big_file, small = 2 * MIB, MIB, 200
    else:
        target, big_file, small = 256 * MIB, files_rss.BIG_FILE, files_rss.SMALL_FILES
    reg = run.registry("open")
    path = run.tmp / "case4-layer.tar.gz"
    run.log(f"case 4: building a ~{target // MIB} MiB gzip layer (files_rss.build_layer)")
    t = time.perf_counter()
    layer = files_rss.build_layer(path, target, big_file=big_file, small_files=small)
    build_s = time.perf_counter() - t
    files_rss.push_image(reg.url, path, layer)
    path.unlink()
    size = layer["size"]
    res = CaseResult("4", "layer_listing",
                     f"frames.files() on a {size / MIB:.0f} MiB gzip layer ({layer['entries']} entries) "
                     "against curl | tar -tz | wc -l",
                     params={"layer_bytes": size, "uncompressed_bytes": layer["raw_bytes"],
                             "entries": layer["entries"], "build_seconds": round(build_s, 1)})
    url = f"{reg.url}/v2/{files_rss.REPO}/blobs/{layer['digest']}"

    def ours() -> dict:
        r = run_child(["files", reg.host, str(layer["entries"]), str(layer["raw_bytes"])])
        assert r["entries"] == r["entries_expected"] and r["digest_verified"], r
        return r

    def tar() -> dict:
        p = subprocess.run([sys.executable, "-c", _PIPELINE, f"curl -sS '{url}' | tar -tz | wc -l"],
                           capture_output=True, text=True, env=child_env(), check=True)
        r = json.loads(p.stdout)
        assert r["lines"] == layer["entries"], (r, layer["entries"])
        return r

    methods = {"ours frames.files() (child process)": ours, "curl | tar -tz | wc -l": tar}
    reps = run.repeats(3, 1)
    runs: dict[str, list[dict]] = {k: [] for k in methods}
    run.log(f"case 4: {len(methods)} methods x {reps} rounds, alternating")
    for i in range(reps):
        for name in rotated(list(methods), i):
            runs[name].append(methods[name]())
    ours_name, tar_name = list(methods)
    mbps = {k: [size / r["seconds"] / MB for r in v] for k, v in runs.items()}
    for k in methods:
        res.figure(f"{k}, compressed", median(mbps[k]), "MB/s", runs=mbps[k],
                   seconds=round(median([r["seconds"] for r in runs[k]]), 3))
    ours_runs = runs[ours_name]
    res.figure("ours verified raw read of the same blob (open_blob, no gunzip)",
               median([r["raw_verified_read_mb_per_s"] for r in ours_runs]), "MB/s")
    growth = max(r["peak_rss_growth_mib"] for r in ours_runs)
    res.figure("ours peak RSS growth during frames.files() (worst run)", growth, "MiB",
               dataframe_mib=ours_runs[0]["dataframe_mib"], rss_before_mib=ours_runs[0]["rss_before_mib"])
    res.figure("tar pipeline peak RSS (largest of curl, tar, gzip, wc)",
               max(r["peak_rss_mib"] for r in runs[tar_name]), "MiB")
    ratio = median(mbps[ours_name]) / median(mbps[tar_name])
    res.ratio("ours / tar pipeline throughput", ratio)
    res.target(f"frames.files() >= {TARGET_VS_TAR}x the tar pipeline's throughput", ratio, f">= {TARGET_VS_TAR}",
               ratio >= TARGET_VS_TAR)
    res.target(f"peak RSS growth <= {TARGET_RSS_MIB} MiB (bounded, whatever the layer size)", growth,
               f"<= {TARGET_RSS_MIB} MiB", growth <= TARGET_RSS_MIB)
    return res
