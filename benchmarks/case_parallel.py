"""Case 2: an image's layers fetched concurrently (default workers) against sequentially, over a slow link."""

from __future__ import annotations

import time

from .common import MB, MIB, CaseResult, Run, median, push_file, push_image_of_blobs, rotated, write_random_file
from .netproxy import BenchProxy

REPO = "bench/layers"
LATENCY = 0.020  # seconds added to every request
RATE = 50e6  # bytes per second, per connection
TARGET_SPEEDUP = 3.0


def run(run: Run) -> CaseResult:
    n_layers = 8
    layer = MIB if run.smoke else 32 * MIB
    total = n_layers * layer
    res = CaseResult("2", "parallel_layers",
                     f"Fetching {n_layers} x {layer // MIB} MiB layers through a proxy adding "
                     f"{LATENCY * 1000:.0f} ms per request and capping each connection at {RATE / MB:.0f} MB/s",
                     params={"layers": n_layers, "layer_bytes": layer, "latency_s": LATENCY, "rate_bytes_per_s": RATE})
    reg = run.registry("open")
    work = run.tmp / "case2"
    work.mkdir()
    run.log(f"case 2: pushing {n_layers} x {layer // MIB} MiB layers")
    layers = []
    for i in range(n_layers):
        p = work / f"layer{i}.bin"
        d = write_random_file(p, layer, seed=100 + i)
        push_file(reg.url, REPO, p, d)
        p.unlink()
        layers.append((d, layer))
    push_image_of_blobs(reg.url, REPO, "v1", layers)

    import registry_explorer as rx
    from registry_explorer.sources.common import DEFAULT_WORKERS

    with BenchProxy(reg.url, latency=LATENCY, rate=RATE) as proxy:
        client = rx.Client(docker_config={}, cache=False)
        ref = f"{proxy.host}/{REPO}:v1"
        manifest = client.image(ref)  # scheme discovery and the manifest, not timed
        dest = work / "dl"

        def fetch(workers: int | None):
            def go() -> float:
                t = time.perf_counter()
                paths = client.fetch_blobs(ref, manifest.layers, dest, workers=workers)
                s = time.perf_counter() - t
                assert len(paths) == n_layers and all(p.stat().st_size == layer for p in paths)
                for p in paths:
                    p.unlink()
                return s
            return go

        methods = {f"concurrent (default workers = {DEFAULT_WORKERS})": fetch(None), "sequential (workers=1)": fetch(1)}
        reps = run.repeats(3, 1)
        times: dict[str, list[float]] = {k: [] for k in methods}
        run.log(f"case 2: {len(methods)} methods x {reps} rounds, alternating")
        for i in range(reps):
            for name in rotated(list(methods), i):
                times[name].append(methods[name]())
        proxy.reset()
    conc, seq = list(methods)
    for k in methods:
        res.figure(k, median(times[k]), "s", runs=times[k], mb_per_s=round(total / median(times[k]) / MB, 1))
    floor = n_layers * (layer / RATE + LATENCY)
    res.figure("sequential floor: layers x (size / cap + latency)", floor, "s")
    speedup = median(times[seq]) / median(times[conc])
    res.ratio("speed-up: sequential / concurrent", speedup)
    res.target(f"concurrent >= {TARGET_SPEEDUP:g}x faster than sequential", speedup, f">= {TARGET_SPEEDUP:g}",
               speedup >= TARGET_SPEEDUP)
    return res
