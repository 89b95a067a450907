"""rx.Cache: content-addressed, corruption-detecting, size-bounded, safe for two processes; and the
Client serving manifests and configs fetched by digest from it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.sources.cache import Cache, default_cache_dir


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_put_get_roundtrip_and_layout(tmp_path):
    c = Cache(tmp_path)
    d = _digest(b"layer")
    assert c.get("index", d) is None
    p = c.put("index", d, b"payload")
    assert p == tmp_path / "index" / "sha256" / d.split(":")[1]
    assert c.get("index", d) == b"payload"
    assert c.get("manifest", d) is None  # kinds are separate namespaces
    assert (c.hits, c.misses) == (1, 2)


def test_default_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "registry-explorer"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # invalid per the XDG spec: ignored
    assert default_cache_dir() == rx.Cache().path
    assert default_cache_dir().parent.name == ".cache"


@pytest.mark.parametrize("kind,digest", [("../x", "sha256:" + "a" * 64), ("index", "sha256:../../etc"),
                                          ("index", "md5:abc"), ("", "sha256:" + "a" * 64)])
def test_hostile_keys_refused(tmp_path, kind, digest):
    with pytest.raises(ValueError):
        Cache(tmp_path).put(kind, digest, b"x")


@pytest.mark.reaches("registry_explorer.sources.cache:Cache.get#self.rejected += 1")
@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty"])
def test_damaged_entry_is_a_miss_and_removed(tmp_path, damage):
    c = Cache(tmp_path)
    d = _digest(b"x")
    p = c.put("index", d, b"0123456789" * 100)
    raw = bytearray(p.read_bytes())
    if damage == "truncate":
        raw = raw[:-7]
    elif damage == "flip":
        raw[-3] ^= 1
    elif damage == "header":
        raw[0:4] = b"XXXX"
    else:
        raw = bytearray()
    p.write_bytes(bytes(raw))
    assert c.get("index", d) is None
    assert not p.exists() and c.rejected == 1
    c.put("index", d, b"rebuilt")
    assert c.get("index", d) == b"rebuilt"


def test_size_bound_evicts_least_recently_used(tmp_path):
    c = Cache(tmp_path, max_bytes=3000)
    keys = [_digest(bytes([i])) for i in range(3)]
    now = time.time()
    for i, k in enumerate(keys):
        p = c.put("blob", k, bytes(800))
        os.utime(p, (now - 100 + i, now - 100 + i))  # k0 oldest
    c.get("blob", keys[0])  # a hit makes k0 the most recently used
    c.put("blob", _digest(b"new"), bytes(800))
    assert c.size() <= 3000
    assert c.get("blob", keys[1]) is None  # the least recently used went
    assert c.get("blob", keys[0]) is not None and c.get("blob", keys[2]) is not None
    with pytest.raises(ValueError):
        c.put("blob", _digest(b"huge"), bytes(5000))
    with pytest.raises(ValueError):
        Cache(tmp_path, max_bytes=0)


_WORKER = textwrap.dedent("""
    import hashlib, sys
    from registry_explorer.sources.cache import Cache
    c = Cache(sys.argv[1], max_bytes=int(sys.argv[3]))
    seed = int(sys.argv[2])
    bad = 0
    for i in range(300):
        k = i % 7
        data = hashlib.sha256(b"%d" % k).digest() * (200 + 50 * k)  # the same bytes for a key in both processes
        d = "sha256:" + hashlib.sha256(b"k%d" % k).hexdigest()
        got = c.get("index", d)
        if got is not None and got != data:
            bad += 1
        if (i + seed) % 2 == 0:
            c.put("index", d, data)
    print(bad)
""")


def test_two_processes_share_a_cache(tmp_path):
    root = tmp_path / "cache"
    # A small bound forces evictions while the other process reads and writes.
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(root), str(s), "200000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.getcwd())
             for s in (0, 1)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()
        assert out.strip() == b"0"  # no process ever read a partial or wrong entry
    c = Cache(root, max_bytes=200000)
    assert c.size() <= 200000
    assert not [e for e in root.rglob(".tmp-*")]  # no temporary file left behind
    assert c.rejected == 0 and all(c.get("index", "sha256:" + p.name) is not None for p, _, _ in c.entries())


def test_as_cache_arguments(tmp_path):
    assert rx.Client(cache=False).cache is None
    assert rx.Client().cache.path == default_cache_dir()  # default: the XDG cache (the suite's own, conftest)
    assert rx.Client(cache=tmp_path).cache.path == tmp_path
    c = Cache(tmp_path)
    assert rx.Client(cache=c).cache is c
    assert rx.Layout.__init__.__kwdefaults__["cache"] is None
    with pytest.raises(ValueError):
        rx.Client(cache=3.5)


@pytest.mark.integration
def test_client_serves_documents_by_digest_from_cache(open_registry, tmp_path):
    ref = f"{open_registry.host}/test/single:v1"
    first = client_for(open_registry, cache=tmp_path)
    m = first.image(ref)
    cfg = first.config(m)
    pinned = f"{open_registry.host}/test/single@{m.digest}"

    second = client_for(open_registry, cache=tmp_path)
    m2 = second.manifest(pinned)
    cfg2 = second.config(m2)
    assert m2.raw == m.raw and cfg2.raw == cfg.raw
    assert [x for x in second.trace if x.origin != "cache"] == []  # no request at all...
    # ...and the trace says where the answers came from (a cache hit is not the registry's answer).
    assert [(x.method, x.purpose, x.url) for x in second.trace] == [("CACHE", "manifest", m.digest),
                                                                    ("CACHE", "config", m.config.digest)]

    # A damaged manifest entry is never used: it is fetched again.
    p = first.cache.path_for("manifest", m.digest)
    p.write_bytes(p.read_bytes()[:-5])
    third = client_for(open_registry, cache=tmp_path)
    assert third.manifest(pinned).raw == m.raw
    assert [x.purpose for x in third.trace if x.origin != "cache"].count("manifest") == 1


@pytest.mark.integration
def test_cached_entry_must_satisfy_descriptor(open_registry, tmp_path):
    """A well-formed entry whose bytes are not what the digest names is refused and refetched."""
    ref = f"{open_registry.host}/test/single:v1"
    client = client_for(open_registry, cache=tmp_path)
    m = client.image(ref)
    cfg_desc = m.config
    client.cache.put("blob", cfg_desc.digest, b'{"architecture": "forged"}')
    client.cache.put("manifest", m.digest, b"application/vnd.oci.image.manifest.v1+json\n{}")
    fresh = client_for(open_registry, cache=tmp_path)
    m2 = fresh.manifest(f"{open_registry.host}/test/single@{m.digest}")
    assert m2.raw == m.raw
    cfg = fresh.config(m2)
    assert b"forged" not in cfg.raw
    assert [x.purpose for x in fresh.trace].count("config") == 1


def test_default_cache_is_the_sessions_not_the_users(monkeypatch, tmp_path):
    """tests/conftest.py points XDG_CACHE_HOME at a temporary directory: the suite never touches ~/.cache."""
    assert not str(rx.Client().cache.path).startswith(str(Path.home() / ".cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rx.Client().cache.path == tmp_path / "registry-explorer"  # read when the Client is made


def test_sandbox_client_caches_in_its_own_workdir(tmp_path):
    """A sandbox's clients share a cache inside its workdir (fresh per run: notebook traces stay the same)."""
    from registry_explorer.sandbox import Sandbox

    sb = Sandbox(host="127.0.0.1:1", url="http://127.0.0.1:1", references={}, _workdir=tmp_path)
    assert sb.client().cache.path == tmp_path / "cache"
    assert sb.client(cache=False).cache is None
    assert sb.client(cache=tmp_path / "x").cache.path == tmp_path / "x"
