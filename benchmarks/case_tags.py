"""Case 5: listing 10,000 tags through pagination (ours, dxf, oras); frames.tags() digests, concurrent vs sequential."""

from __future__ import annotations

import time

from .common import CaseResult, Run, comparator, median, push_blob, push_image_of_blobs, rotated

REPO = "bench/tags"
REPO_DIGESTS = "bench/tagdigests"


def _seed(reg, repo: str, n: int) -> list[str]:
    from registry_explorer.sandbox.push import seed_tags_on_disk

    layer = f"layer of {repo}\n".encode()
    import hashlib

    ld = "sha256:" + hashlib.sha256(layer).hexdigest()
    push_blob(reg.url, repo, ld, layer, len(layer))
    digest = push_image_of_blobs(reg.url, repo, "t00000", [(ld, len(layer))])
    tags = [f"t{i:05d}" for i in range(n)]
    seed_tags_on_disk(reg.storage, repo, digest, tags[1:])
    return tags


def run(run: Run) -> CaseResult:
    n_tags, page = (100, 10) if run.smoke else (10_000, 1000)
    n_digests = 20 if run.smoke else 1000
    res = CaseResult("5", "tags",
                     f"Listing {n_tags} tags through a paginating proxy ({page} per page); "
                     f"frames.tags() with digests for {n_digests} tags",
                     params={"tags": n_tags, "page_size": page, "digest_tags": n_digests})
    reg = run.registry("open")
    run.log(f"case 5: seeding {n_tags} + {n_digests} tags on disk")
    tags = _seed(reg, REPO, n_tags)
    _seed(reg, REPO_DIGESTS, n_digests)
    import registry_explorer as rx
    from registry_explorer import frames
    from tests.helpers.proxy import FaultProxy

    want = set(tags)
    with FaultProxy(reg.url, upstream_verify=True) as proxy:
        # Like Go's net/http (the registry), answer with TCP_NODELAY: FaultProxy writes headers and
        # body separately, and on a kept-alive connection Nagle + delayed ACK then stall each page
        # by 40 ms for clients that reuse connections (ours, oras) but not for dxf (one per request).
        proxy._server.RequestHandlerClass.disable_nagle_algorithm = True
        proxy.paginate_tags = page
        host = proxy.host

        # One client per lister, made once: the timed rounds measure listing, not set-up. The first
        # listing of each new client (ours includes its https probe of a loopback registry) is
        # reported separately.
        listers = {"ours Client.tags": lambda: rx.Client(docker_config={}, cache=False).tags}
        if comparator(res, "dxf"):
            from dxf import DXF

            listers["dxf list_aliases"] = lambda: DXF(host, REPO, insecure=True, tlsverify=True,
                                                      timeout=60).list_aliases
        if comparator(res, "oras"):
            import logging

            import oras.provider

            logging.getLogger("oras").setLevel(logging.WARNING)
            listers["oras get_tags"] = lambda: oras.provider.Registry(hostname=host, insecure=True).get_tags
        args = {"ours Client.tags": (f"{host}/{REPO}",), "dxf list_aliases": (), "oras get_tags": (f"{host}/{REPO}",)}

        methods = {}
        first: dict[str, float] = {}
        for name, make in listers.items():
            t = time.perf_counter()
            fn = make()
            got = fn(*args[name])
            first[name] = time.perf_counter() - t
            assert set(got) == want and len(got) == n_tags, (name, len(got))
            methods[name] = (fn, args[name])

        reps = run.repeats(7, 1)
        times: dict[str, list[float]] = {k: [] for k in methods}
        pages: dict[str, int] = {}
        run.log(f"case 5: {len(methods)} listers x {reps} rounds, alternating")
        for i in range(reps):
            for name in rotated(list(methods), i):
                proxy.reset()
                proxy.paginate_tags = page
                fn, a = methods[name]
                t = time.perf_counter()
                got = fn(*a)
                times[name].append(time.perf_counter() - t)
                assert set(got) == want and len(got) == n_tags, (name, len(got))
                pages[name] = sum(1 for r in proxy.requests if r["path"].split("?")[0].endswith("/tags/list"))
    for k in methods:
        res.figure(f"list {n_tags} tags: {k} ({pages[k]} pages)", median(times[k]), "s", runs=times[k])
    for k in methods:
        res.figure(f"first listing with a new client: {k}", first[k], "s")
    ours_t = median(times["ours Client.tags"])
    others = {k: median(v) for k, v in times.items() if k != "ours Client.tags"}
    for k, v in others.items():
        res.ratio(f"{k} time / ours (> 1: ours faster)", v / ours_t)
    if others:
        best = min(others, key=others.get)
        r = others[best] / ours_t
        res.target(f"listing at least as fast as the best comparator ({best})", r, ">= 1.0", r >= 1.0)

    # frames.tags(): one HEAD per tag, concurrent (default) against one at a time.
    ref = f"{reg.host}/{REPO_DIGESTS}"
    frames.tags(rx.Client(docker_config={}, cache=False), ref)  # warm-up (registry's disk cache, lazy imports), not timed

    def tags_frame(workers: int | None):
        def go() -> float:
            c = rx.Client(docker_config={}, cache=False)
            t = time.perf_counter()
            df = frames.tags(c, ref) if workers is None else frames.tags(c, ref, workers=workers)
            s = time.perf_counter() - t
            assert len(df) == n_digests and df["digest"].notna().all()
            return s
        return go

    from registry_explorer.frames.manifests import TAG_WORKERS

    tmethods = {f"frames.tags() concurrent (default workers = {TAG_WORKERS})": tags_frame(None),
                "frames.tags() sequential (workers=1)": tags_frame(1)}
    treps = run.repeats(3, 1)
    ttimes: dict[str, list[float]] = {k: [] for k in tmethods}
    run.log(f"case 5: frames.tags() x {treps} rounds, alternating")
    for i in range(treps):
        for name in rotated(list(tmethods), i):
            ttimes[name].append(tmethods[name]())
    for k in tmethods:
        res.figure(f"{k}, {n_digests} tags", median(ttimes[k]), "s", runs=ttimes[k])
    conc, seq = list(tmethods)
    res.ratio("frames.tags() speed-up: sequential / concurrent", median(ttimes[seq]) / median(ttimes[conc]))
    return res
