"""Soak: 50 blobs through a proxy that drops 20% of blob connections mid-stream."""

from __future__ import annotations

import gc
import hashlib
import os
import random
import threading
import time

import pytest
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.sandbox.push import _Client
from registry_explorer.sandbox.samples import Blob

pytestmark = [pytest.mark.integration, pytest.mark.slow]
N_BLOBS = 50


def _sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


@pytest.fixture(scope="module")
def soak_blobs(open_registry):
    rng = random.Random(50)
    blobs = [Blob("application/octet-stream", rng.randbytes(rng.randint(200_000, 1_500_000))) for _ in range(N_BLOBS)]
    pusher = _Client(open_registry.url, "test/soak", auth=None, verify=True, session=None)
    for b in blobs:
        pusher.upload_blob(b)
    return blobs


def test_soak_fifty_blobs_with_drops(open_registry, soak_blobs, tmp_path):
    before_threads = {t.ident for t in threading.enumerate()}
    with FaultProxy(open_registry.url) as proxy:
        proxy.drop_rate = 0.2
        before_sockets = _sockets()
        client = rx.Client(docker_config={}, retries=5)
        client.transport.sleep = lambda s: time.sleep(min(s, 0.05))  # keep backoff short in a soak
        descs = [rx.Descriptor(b.media_type, b.digest, b.size) for b in soak_blobs]
        paths = client.fetch_blobs(f"{proxy.host}/test/soak", descs, tmp_path)
        client.transport.session.close()
        drops = proxy.drops
    assert drops >= 5, f"the proxy really dropped connections ({drops})"
    assert len(paths) == N_BLOBS
    for p, d in zip(paths, descs):
        assert "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest() == d.digest
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths), "no partial file left"
    resumed = [ex for ex in client.trace if ex.request_headers.get("Range")]
    assert resumed, "some downloads were resumed with Range"
    time.sleep(0.2)
    leftover = [t for t in threading.enumerate() if t.ident not in before_threads and t.is_alive()
                and t.name.startswith(("rx-", "ThreadPoolExecutor"))]
    assert leftover == [], f"threads still alive: {leftover}"
    # The proxy's handler threads close their upstream connections as they finish, a moment after
    # ours closed: wait for that (bounded); a socket that is really leaked stays open past it.
    deadline = time.monotonic() + 5
    while _sockets() > before_sockets and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert _sockets() <= before_sockets, "no leaked socket"
