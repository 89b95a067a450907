"""Case 8: rx.census over 20 ms of added latency vs the sequential walk; peak RSS of a census to Parquet.

Speed: the same tags walked one after another (`census_engine.unit.run_unit` in a loop: one HEAD, then
manifests and configs by digest, exactly the census's requests) against `rx.census` with its
default thread pool, both through `netproxy.BenchProxy(latency=0.020)`.

Memory: a fresh interpreter runs `rx.census(out=...)` for ~250 and for ~1,000 tags; the figure is
its peak RSS growth (VmHWM reset after imports, then read back), which must stay under 150 MiB and
not grow with the number of tags (rows are streamed to Parquet in chunks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from .common import CaseResult, Run, child_env
from .netproxy import BenchProxy

LATENCY = 0.020
MIB = 1 << 20


def _child(host: str, out: str, repos: list[str]) -> dict:
    """In a fresh interpreter: peak RSS growth of one census to `out`."""
    import registry_explorer as rx

    from .child import reset_peak, status

    rx.census  # noqa: B018 - import the census and pyarrow before the baseline
    import pyarrow.parquet  # noqa: F401

    base = status("VmRSS")
    reset_peak()
    started = time.perf_counter()
    got = rx.census(rx.Client(insecure=(host,), docker_config={}, cache=False), host, repos, out=out, progress=False)
    return {"seconds": time.perf_counter() - started, "tags": len(got.tags), "errors": len(got.errors),
            "peak_growth": status("VmHWM") - base}


def _rss(run: Run, host: str, repos: list[str], name: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "benchmarks.case_census", "child", host, str(run.tmp / name), *repos],
                       capture_output=True, text=True, env=child_env(), timeout=600)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def run(run: Run) -> CaseResult:
    from registry_explorer.sandbox.samples_census import seed_census_on_disk

    seed = {"teams": ("web",), "repos_per_team": 3, "versions": 4} if run.smoke else {}
    res = CaseResult("8", "census", "rx.census with 20 ms added latency vs the sequential walk; peak RSS of a "
                     "census streamed to Parquet (~250 vs ~1,000 tags)", params={"latency_s": LATENCY, **seed})
    reg = run.registry("open")
    run.log("case 8: seeding the census sample on disk")
    sample = seed_census_on_disk(reg.storage, **seed)
    repos = sample.repositories
    speed_repos = repos[: 2 if run.smoke else 12]
    import registry_explorer as rx
    from registry_explorer.census_engine.unit import run_unit
    from registry_explorer.frames.census_tables import TABLES

    with BenchProxy(reg.url, latency=LATENCY) as proxy:
        units = [(r, t) for r in speed_repos for t in sample.tags[r]]
        cl = rx.Client(insecure=(proxy.host,), docker_config={}, cache=False)
        run.log(f"case 8: sequential walk of {len(units)} tags")
        started = time.perf_counter()
        for r in speed_repos:
            cl.tags(f"{proxy.host}/{r}")
        for r, t in units:
            run_unit(cl, proxy.host, r, t, TABLES)
        sequential = time.perf_counter() - started
        run.log(f"case 8: census of {len(units)} tags")
        cl = rx.Client(insecure=(proxy.host,), docker_config={}, cache=False)  # nothing cached from the walk
        started = time.perf_counter()
        got = rx.census(cl, proxy.host, speed_repos, progress=False)
        parallel = time.perf_counter() - started
    if len(got.tags) != len(units) or not got.errors.empty:
        raise RuntimeError(f"census walked {len(got.tags)} of {len(units)} tags, errors: {got.errors}")
    res.figure("sequential walk", sequential, "s", detail=f"{len(units)} tags")
    res.figure("rx.census (default thread pool)", parallel, "s", detail=f"{len(units)} tags")
    speedup = sequential / parallel
    res.ratio("census speed-up over the sequential walk", speedup)
    res.target("census >= 8x faster than the sequential walk (20 ms latency)", round(speedup, 2), ">= 8",
               speedup >= 8)

    small, large = (repos[:1], repos) if run.smoke else (repos[:10], repos[:40])
    run.log(f"case 8: peak RSS of a census to Parquet ({len(small)} and {len(large)} repositories)")
    a, b = _rss(run, reg.host, small, "rss-small"), _rss(run, reg.host, large, "rss-large")
    for r in (a, b):
        res.figure(f"peak RSS growth, census of {r['tags']} tags to out", r["peak_growth"] / MIB, "MiB",
                   detail=f"{r['seconds']:.1f} s")
    res.target("peak RSS growth of the larger census < 150 MiB", round(b["peak_growth"] / MIB, 1), "< 150",
               b["peak_growth"] < 150 * MIB)
    flat = b["peak_growth"] <= a["peak_growth"] * 1.25 + 8 * MIB
    res.target(f"RSS flat in tags ({a['tags']} -> {b['tags']}: at most +25% + 8 MiB)",
               round((b["peak_growth"] - a["peak_growth"]) / MIB, 1), "<= 25% + 8 MiB", flat)
    return res


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    print(json.dumps(_child(sys.argv[2], sys.argv[3], sys.argv[4:])))
