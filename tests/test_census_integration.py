"""rx.census against a real distribution 2.8 registry seeded with the census sample (issue 13).

The oracle is `helpers.census.walk_tables`: the same tables built with tags()/image()/config()
one call at a time. Executors are real: a thread pool, a ProcessPoolExecutor (spawn), and a
dask.distributed LocalCluster with two worker processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from helpers.census import assert_same_tables, census_registry, client, read_parquet_tables, walk_tables
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.census_engine.journal import partition_dir
from registry_explorer.frames.census_tables import TABLES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    with census_registry(tmp_path_factory.mktemp("census-reg")) as (running, sample):
        yield running, sample


def test_census_equals_the_tables_walked_one_call_at_a_time(reg, tmp_path):
    running, sample = reg
    cl = client(running, tmp_path)
    got = rx.census(cl, running.host, progress=False)
    assert got.errors.empty, got.errors
    assert sorted(got.repositories["repository"]) == sorted(sample.repositories)
    assert len(got.tags) == sample.tag_count
    expected = walk_tables(client(running, tmp_path), running.host, sample.repositories)
    assert_same_tables(got.tables, expected)
    # The nested index is walked to its images, each manifest recorded with its parent.
    nested = got.manifests[got.manifests["repository"] == sample.nested]
    assert nested["depth"].max() == 2
    assert set(nested[nested["depth"] == 2]["parent_digest"]) <= set(nested[nested["depth"] == 1]["manifest_digest"])
    assert len(got.referrers) == len(sample.subjects)


def test_threads_processes_and_a_dask_cluster_write_the_same_parquet(reg, tmp_path):
    distributed = pytest.importorskip("distributed")
    running, sample = reg
    cl = client(running, tmp_path)
    cfg = str(tmp_path / "docker-config.json")
    threads = rx.census(cl, running.host, out=tmp_path / "threads", progress=False)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        rx.census(cl, running.host, out=tmp_path / "procs", executor=pool, progress=False, docker_config=cfg)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as lc, \
            distributed.Client(lc) as dask_client:
        on_dask = rx.census(cl, running.host, out=tmp_path / "dask", executor=dask_client, progress=False,
                            docker_config=cfg)
        # the units really ran on the cluster's worker processes, not in this one
        assert sum(len(v) for v in dask_client.run(lambda: list(
            __import__("registry_explorer.sources.rebuild", fromlist=["_SOURCES"])._SOURCES)).values()) >= 1
    assert len(on_dask.tags) == sample.tag_count
    a = read_parquet_tables(tmp_path / "threads", TABLES)
    assert_same_tables(a, threads.tables)
    assert_same_tables(a, read_parquet_tables(tmp_path / "procs", TABLES))
    assert_same_tables(a, read_parquet_tables(tmp_path / "dask", TABLES))
    # partitioned by repository: one directory per repository, named by a short key (the name is a column)
    parts = sorted(p.name for p in (tmp_path / "threads" / "layers").iterdir())
    assert parts == sorted(partition_dir(r) for r in sample.repositories)


_KILLED_CHILD = textwrap.dedent("""
    import sys, time
    import registry_explorer as rx
    import registry_explorer.census_engine.run as census_run
    census_run.FLUSH_UNITS = 3  # small chunks, so a kill lands between journal lines
    host, out, cfg = sys.argv[1:4]
    def slow(n):
        time.sleep(0.05)  # slow enough for the parent to kill us mid-way
    rx.census(rx.Client(insecure=(host,), docker_config=cfg), host, out=out, progress=slow, workers=2)
""")


def test_killed_census_resumes_to_the_same_tables_without_duplicates(reg, tmp_path):
    running, sample = reg
    out = tmp_path / "out"
    journal = out / "_census" / "journal.jsonl"
    client(running, tmp_path)  # writes the docker config the child reads
    child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, running.host, str(out),
                              str(tmp_path / "docker-config.json")], cwd=Path(__file__).resolve().parent.parent,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if journal.exists() and sum(1 for line in journal.read_text().splitlines() if '"tags": ["' in line) >= 3:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the census finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    done_before = {t for line in journal.read_text().splitlines() if line.strip()
                   for t in json.loads(line)["tags"]}
    assert 0 < len(done_before)
    resumed = rx.census(client(running, tmp_path), running.host, out=out, progress=False)
    assert resumed.stats["skipped"] > 0  # the re-run did not redo what the killed one finished
    full = rx.census(client(running, tmp_path), running.host, progress=False)
    assert_same_tables(resumed.tables, full.tables)
    on_disk = read_parquet_tables(out, TABLES)
    assert_same_tables(on_disk, full.tables)
    assert not on_disk["tags"].duplicated(["repository", "tag"]).any()


def test_second_census_costs_one_head_per_tag(reg, tmp_path):
    running, sample = reg
    cache = tmp_path / "cache"
    with FaultProxy(running.url) as proxy:
        host = proxy.url.split("://", 1)[1]
        first = rx.census(rx.Client(insecure=(host,), docker_config={}, cache=cache), host, progress=False)
        assert first.errors.empty
        proxy.reset()
        second = rx.census(rx.Client(insecure=(host,), docker_config={}, cache=cache), host, progress=False)
        reqs = [(r["method"], r["path"]) for r in proxy.requests]
    assert_same_tables(first.tables, second.tables)
    heads = [p for m, p in reqs if m == "HEAD" and "/manifests/" in p]
    manifest_gets = [p for m, p in reqs if m == "GET" and "/manifests/" in p]
    blob_gets = [p for m, p in reqs if m == "GET" and "/blobs/" in p]
    listings = [p for m, p in reqs if m == "GET" and (p.startswith("/v2/_catalog") or "/tags/list" in p)]
    assert len(heads) == sample.tag_count
    assert manifest_gets == [] and blob_gets == []
    # beyond the HEADs: the API ping, the catalog and one tag list per repository
    assert len(reqs) - len(heads) - len(listings) <= 1, reqs
    assert len(listings) == len(sample.repositories) + 1


@pytest.mark.reaches("registry_explorer.census_engine.unit:run_unit#except RegistryExplorerError",
                     "registry_explorer.census_engine.unit:error_row")
def test_errors_become_rows_and_the_rest_completes(tmp_path):
    from registry_explorer.sandbox.samples import Blob
    from registry_explorer.sandbox.samples_census import _Store

    fixtures = Path(__file__).parent / "fixtures" / "real" / "schema1"
    with census_registry(tmp_path, teams=("web",), repos_per_team=2, versions=3) as (running, sample):
        store = _Store(running.storage)
        # schema1: a real signed Docker Hub manifest, stored as distribution stores it
        s1 = Blob("application/vnd.docker.distribution.manifest.v1+prettyjws",
                  (fixtures / "dockerhub-busybox-schema1-signed.json").read_bytes())
        store.blob("old/schema1", s1, manifest=True)
        store.tag("old/schema1", "1.0", s1.digest)
        # corrupt: a manifest whose stored bytes no longer hash to its digest (same length, still JSON)
        repo = sample.repositories[1]
        digest = sample.tags[repo]["v1.1"]
        data_path = store.v2 / "blobs" / "sha256" / digest[7:9] / digest[7:] / "data"
        data_path.write_bytes(data_path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 ', 1)[:-1]
                              + b"}")
        with FaultProxy(running.url) as proxy:
            proxy.inject = [{"status": 401, "path": "^/v2/locked/", "count": 10_000,
                             "headers": {"WWW-Authenticate": 'Basic realm="locked"'}}]
            host = proxy.url.split("://", 1)[1]
            cl = rx.Client(insecure=(host,), docker_config={}, cache=False)  # the registry's bytes, not an earlier census's
            repos = sample.repositories + ["old/schema1", "nope/missing", "locked/app"]
            got = rx.census(cl, host, repos, progress=False)
    errors = got.errors.sort_values("repository").reset_index(drop=True)
    assert len(errors) == 4, errors
    by_repo = dict(zip(errors["repository"], errors["error"]))
    assert by_repo == {"locked/app": "Unauthorized", "nope/missing": "NotFound", "old/schema1": "InvalidManifest",
                       repo: "DigestMismatch"}
    assert "schema1" in errors.loc[errors["repository"] == "old/schema1", "message"].iloc[0]
    assert set(errors.loc[errors["repository"].isin(["locked/app", "nope/missing"]), "tag"].isna()) == {True}
    # every other tag completed
    assert len(got.tags) == sample.tag_count - 1
    assert (repo, "v1.1") not in set(zip(got.tags["repository"], got.tags["tag"]))


def test_rate_limit_floor_stops_and_a_rerun_finishes(reg, tmp_path):
    running, sample = reg
    with FaultProxy(running.url) as proxy:
        proxy.extra_headers = {"RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "7;w=21600"}
        host = proxy.url.split("://", 1)[1]
        cl = rx.Client(insecure=(host,), docker_config={})
        out = tmp_path / "out"
        stopped = rx.census(cl, host, out=out, progress=False, rate_limit_floor=10)
        row = stopped.errors[stopped.errors["error"] == "RateLimitFloor"]
        assert len(row) == 1 and "7" in row["message"].iloc[0] and "10" in row["message"].iloc[0]
        assert len(stopped.tags) < sample.tag_count
        proxy.extra_headers = {}
        finished = rx.census(cl, host, out=out, progress=False, rate_limit_floor=10)
    assert finished.errors.empty
    assert len(finished.tags) == sample.tag_count
    assert not finished.tags.duplicated(["repository", "tag"]).any()


def test_image_walks_an_index_entry_that_is_an_index_without_platform(reg, tmp_path):
    running, sample = reg
    cl = client(running, tmp_path)
    ref = f"{running.host}/{sample.nested}:v1.2"
    top = cl.manifest(ref)
    assert isinstance(top, rx.Index) and top.manifests[0].platform is None
    inner = cl.manifest(ref, descriptor=top.manifests[0])
    arm = next(d for d in inner.manifests if d.platform.architecture == "arm64")
    assert cl.image(ref, "linux/arm64").digest == arm.digest
    assert cl.config(ref, "linux/arm64").platform.architecture == "arm64"
    with pytest.raises(rx.PlatformNotFound) as info:
        cl.image(ref, "linux/s390x")
    assert info.value.available == ["linux/amd64", "linux/arm64"]


def test_census_selects_repositories_tags_and_tables(reg, tmp_path):
    running, sample = reg
    cl = client(running, tmp_path)
    got = rx.census(cl, running.host, "data/*", tags=2, include=("tags", "configs"), progress=False)
    assert set(got.tables) == {"tags", "configs"}
    assert set(got.tags["repository"]) == {r for r in sample.repositories if r.startswith("data/")}
    # the newest two by tag order, digits compared as numbers ("latest" and "sha256-..." sort before "v")
    assert set(got.tags.groupby("repository")["tag"].apply(frozenset)) == {frozenset({"v1.4", "v1.5"})}
    with pytest.raises(AttributeError, match="did not include"):
        _ = got.layers
    amd = rx.census(cl, running.host, [sample.nested], platforms="linux/arm64", include=("configs",),
                    progress=False)
    assert set(amd.configs["architecture"]) == {"arm64"}
    with pytest.raises(ValueError):
        rx.census(cl, running.host, include=("nope",))
    with pytest.raises(ValueError):
        rx.census(cl)
    frame = pd.DataFrame(got.tags)
    assert list(frame.columns) == ["repository", "tag", "digest", "media_type", "size"]
