"""Workloads that `benchmarks.profiling` runs under py-spy: `python -m benchmarks.profiled MODE ARGS...`.

Each mode warms up (imports, scheme discovery, connection pools), then runs its measured rounds
inside `_measured`, so the profile can keep only the samples taken there, and prints one JSON
line: wall seconds and this process's CPU seconds for the measured rounds. Modes:
- `fetch-ours HOST REPO DIGEST SIZE DEST ROUNDS`: Client.fetch_blobs of one blob.
- `fetch-requests URL DIGEST DEST ROUNDS`: requests iter_content(1 MiB) + hashlib, the usual peer.
- `tags-ours HOST REPO ROUNDS`: Client.tags through the paginating proxy.
- `proxy UPSTREAM PAGE`: the paginating FaultProxy itself; prints its host, serves until stdin closes.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _measured(rounds: int, once: Callable[[], None]) -> dict:
    """Run `once` `rounds` times; py-spy samples inside this frame are the ones reported."""
    c, t = _cpu(), time.perf_counter()
    for _ in range(rounds):
        once()
    return {"seconds": round(time.perf_counter() - t, 4), "cpu_seconds": round(_cpu() - c, 4), "rounds": rounds}


def fetch_ours(host: str, repo: str, digest: str, size: str, dest: str, rounds: str) -> dict:
    import registry_explorer as rx

    client = rx.Client(docker_config={}, cache=False)
    ref = f"{host}/{repo}"
    desc = rx.Descriptor("application/vnd.oci.image.layer.v1.tar", digest, int(size))
    out = Path(dest)

    warm_threads: set[int] = set()

    def once(progress=None) -> None:
        (p,) = client.fetch_blobs(ref, [desc], out, progress=progress)
        p.unlink()

    # Warm-up; the pool threads it used are listed so that their samples (TLS context, connect) are dropped.
    once(lambda *_: warm_threads.add(threading.get_native_id()))
    res = _measured(int(rounds), once)
    res["exclude_threads"] = sorted(warm_threads)
    return res


def fetch_requests(url: str, digest: str, dest: str, rounds: str) -> dict:
    import requests

    from .common import requests_download

    session = requests.Session()
    session.trust_env = False
    target = Path(dest) / "requests.bin"

    def once() -> None:
        requests_download(session, url, target, digest)
        target.unlink()

    once()
    return _measured(int(rounds), once)


def tags_ours(host: str, repo: str, rounds: str) -> dict:
    import registry_explorer as rx

    client = rx.Client(docker_config={}, cache=False)
    ref = f"{host}/{repo}"
    n = len(client.tags(ref))
    out = _measured(int(rounds), lambda: client.tags(ref))
    out["tags"] = n
    return out


def proxy(upstream: str, page: str) -> dict:

    from tests.helpers.proxy import FaultProxy

    with FaultProxy(upstream, upstream_verify=True) as p:
        p._server.RequestHandlerClass.disable_nagle_algorithm = True  # as in case 5
        p.paginate_tags = int(page)
        print(json.dumps({"host": p.host}), flush=True)
        c = _cpu()
        sys.stdin.read()  # serve until the parent closes our stdin
        return {"cpu_seconds": round(_cpu() - c, 4)}


MODES = {"fetch-ours": fetch_ours, "fetch-requests": fetch_requests, "tags-ours": tags_ours, "proxy": proxy}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODES:
        raise SystemExit(f"usage: python -m benchmarks.profiled {{{','.join(MODES)}}} ARGS...")
    print(json.dumps(MODES[argv[0]](*argv[1:])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
