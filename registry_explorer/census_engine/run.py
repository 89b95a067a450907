"""`rx.census()`: a whole registry (or a chosen part of it) as tables, on threads, processes or a Dask cluster.

The driver lists repositories and tags; every (repository, tag) is one unit of work
(`census_engine.unit.run_unit`) handed to an executor. With the default thread pool the units share
this process's Client; with a process pool or a Dask cluster they carry `SourceSettings`
instead, and each worker builds its own Client (no credentials in the task graph). Results
stream into a sink (memory, or Parquet with a resume journal: `census_engine.store`), a bounded
number of units in flight, so memory stays flat however many tags there are.
"""

from __future__ import annotations

import fnmatch
import html
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, ThreadPoolExecutor, wait
from typing import Any

import pandas as pd

from ..core.errors import RegistryExplorerError
from ..frames.census_tables import ALL_TABLES, TABLES, census_frame
from .store import MemorySink, ParquetSink
from .unit import SourceSettings, error_row, run_unit, settings_for

__all__ = ["Census", "census", "DEFAULT_INCLUDE"]

DEFAULT_INCLUDE = TABLES  # and include=("packages",) for what is installed (frames.census_tables.OPTIONAL_TABLES)
# Threads for the default executor: registries answer many small requests at once well; more
# than this mostly queues behind the registry's own CPU and trips rate limits.
DEFAULT_WORKERS = 16
# Units whose rows are held before they are written: the bound on the driver's memory.
FLUSH_UNITS = 128
LIST_WORKERS = 8


class Census:
    """The census tables (`census.layers`, `census.tags`, ...) and `census.errors`."""
    def __init__(self, include: Iterable[str], read: Callable[[str], pd.DataFrame], *, extra_errors=(), out=None,
                 stats=None):
        self.include = tuple(include)
        self.out = out
        self.stats = dict(stats or {})
        self._read = read  # with out=, tables are read from Parquet when first asked for, not held
        self._loaded: dict[str, pd.DataFrame] = {}
        self._extra_errors = list(extra_errors)

    def table(self, name: str) -> pd.DataFrame:
        """One table by name (read once, then kept)."""
        if name not in self.include and name != "errors":
            raise AttributeError(f"the census did not include {name!r} (pass include=...)")
        if name not in self._loaded:
            df = self._read(name)
            if name == "errors" and self._extra_errors:
                df = pd.concat([df, census_frame("errors", self._extra_errors)], ignore_index=True)
            self._loaded[name] = df
        return self._loaded[name]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every included table, by name (reads them all)."""
        return {t: self.table(t) for t in self.include}

    @property
    def errors(self) -> pd.DataFrame:
        """A row per repository or tag that failed (error class and message), and why a run stopped early."""
        return self.table("errors")

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in ALL_TABLES:
            raise AttributeError(name)
        return self.table(name)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.tables.items())
        return f"Census({sizes}, errors={len(self.errors)})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{len(v)}</td></tr>" for k, v in self.tables.items())
        return f"<div><b>census</b><table>{rows}<tr><td>errors</td><td>{len(self.errors)}</td></tr></table></div>"


def _natural(tag: str) -> list:
    # v1.10 sorts after v1.9: digits compare as numbers, so "newest N by tag order" means something.
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", tag)]


def _pick_tags(names: list[str], tags) -> list[str]:
    ordered = sorted(names, key=_natural)
    if tags is None:
        return ordered
    if isinstance(tags, bool) or not (isinstance(tags, int) or callable(tags)):
        raise ValueError("tags must be None, an int (the newest N by tag order) or a callable filter")
    if isinstance(tags, int):
        if tags < 0:
            raise ValueError("tags must be >= 0")
        return ordered[-tags:] if tags else []  # more than there are: all of them
    return [t for t in ordered if tags(t)]


def _is_glob(name: str) -> bool:
    return bool(set(name) & set("*?["))


def _repositories(source, registry, repositories, errors: list[dict]) -> list[str]:
    """Names as given, globs expanded against the catalog (asked for only when needed)."""
    patterns = None if repositories is None else (
        [repositories] if isinstance(repositories, str) else list(repositories))
    named = list(dict.fromkeys(p for p in patterns or () if not _is_glob(p)))
    if patterns is not None and len(named) == len(set(patterns)):
        return named
    try:
        catalog = source.catalog(registry)
    except RegistryExplorerError as exc:
        errors.append(error_row(None, None, exc))
        return named
    if patterns is None:
        return sorted(catalog)
    globs = [p for p in patterns if _is_glob(p)]
    matched = sorted({r for r in catalog for p in globs if fnmatch.fnmatchcase(r, p)})
    return list(dict.fromkeys(named + matched))


def _executor(executor, source, settings: SourceSettings | None, workers: int):
    """(executor to submit to, what units receive, whether we own the executor)."""
    if executor is None:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rx-census"), source, True
    if isinstance(executor, ThreadPoolExecutor):
        return executor, source, False  # same process: share the live client
    if hasattr(executor, "get_executor") and type(executor).__module__.startswith("distributed"):
        return executor.get_executor(pure=False), settings, False  # a dask.distributed.Client
    if isinstance(executor, Executor):
        return executor, settings, False
    raise ValueError(f"executor must be None, a concurrent.futures.Executor or a dask.distributed.Client, "
                     f"not {type(executor).__name__}")


def _progress(progress, total_hint: int):
    if not progress:
        return None
    if callable(progress) and not isinstance(progress, bool):
        return progress
    try:
        from tqdm.auto import tqdm  # optional extra (census): tqdm draws the bar
    except ImportError:  # tqdm is optional: the census runs silently without it
        return None
    return tqdm(total=total_hint, desc="census", unit="tag")


def census(source, registry: str | None = None, repositories: str | Iterable[str] | None = None, *,
           tags: int | Callable[[str], bool] | None = None, platforms: str | Iterable[str] = "all",
           include: Iterable[str] = DEFAULT_INCLUDE, executor=None, out=None, progress=True,
           workers: int = DEFAULT_WORKERS, rate_limit_floor: int | None = None, docker_config=None,
           credential_provider: str | None = None) -> Census:
    """A census of `registry` through `source` (a Client, or a Layout with no registry): one table per `include`.

    `repositories`: names, a glob (`"team/*"`) or None for the catalog; `tags`: None, the newest N,
    or a filter. `out="dir/"` streams to Parquet and resumes an interrupted run. Workers in other
    processes read credentials from `docker_config` (a path) or `credential_provider`
    ("module:function"), never from this process. `rate_limit_floor`: stop before the
    registry's RateLimit-Remaining goes below it (the rest is left for a re-run).
    """
    include = tuple(include)
    bad = [t for t in include if t not in ALL_TABLES]
    if bad:
        raise ValueError(f"unknown census tables {bad}; choose from {list(ALL_TABLES)}")
    plats = None if platforms == "all" else ((platforms,) if isinstance(platforms, str) else tuple(platforms))
    run_errors: list[dict] = []
    repos = _repositories(source, registry, repositories, run_errors)
    meta = {"registry": registry, "include": list(include), "platforms": list(plats) if plats else "all"}
    sink = ParquetSink(out, include, meta) if out is not None else MemorySink(include)
    if run_errors and None not in sink.listed:
        sink.write(None, [], {"errors": run_errors}, listed=True)
    needs_settings = executor is not None and not isinstance(executor, ThreadPoolExecutor)
    settings = settings_for(source, docker_config=docker_config, credential_provider=credential_provider) \
        if needs_settings else None
    pool, target, owned = _executor(executor, source, settings, workers)
    bar = _progress(progress, 0)
    stats = {"units": 0, "skipped": 0, "repositories": len(repos)}
    try:
        _run(source, registry, repos, tags, include, plats, sink, pool, target, bar, stats, rate_limit_floor,
             run_errors, workers)
    finally:
        if owned:
            pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None and hasattr(bar, "close"):
            bar.close()
    stopped = [e for e in run_errors if e["error"] == "RateLimitFloor"]  # not journaled: a re-run goes on
    return Census(include, sink.read, extra_errors=stopped, out=out, stats=stats)


def _list_tags(source, registry, repository):
    try:
        return repository, source.tags(source.locate(registry, repository)), None
    except RegistryExplorerError as exc:
        return repository, None, exc


def _run(source, registry, repos, tags, include, plats, sink, pool, target, bar, stats, floor, run_errors,
         workers) -> None:
    window = max(4, 4 * workers)
    pending: dict[Any, tuple[str, str]] = {}
    buffered: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    n_buffered = 0
    stop = False

    def flush() -> None:
        nonlocal n_buffered
        for repo, units in buffered.items():
            rows: dict[str, list[dict]] = defaultdict(list)
            for _tag, r in units:
                for table, rs in r.items():
                    if not table.startswith("_"):
                        rows[table].extend(rs)
            sink.write(repo, [t for t, _ in units], rows, listed=False)
        buffered.clear()
        n_buffered = 0

    def collect(block: bool) -> None:
        nonlocal n_buffered, stop
        if not pending:
            return
        done, _ = wait(list(pending), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for fut in done:
            repo, tag = pending.pop(fut)
            try:
                rows = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker crash is this tag's error row, not the census's end
                rows = {"errors": [error_row(repo, tag, exc)]}
            rate = (rows.get("_rate_limit") or [None])[0]
            if floor is not None and rate and rate.get("remaining") is not None and rate["remaining"] <= floor \
                    and not stop:
                stop = True
                run_errors.append({"repository": None, "tag": None, "error": "RateLimitFloor", "message": (
                    f"stopped: RateLimit-Remaining is {rate['remaining']}, at the floor of {floor}; the tags not "
                    "walked are left for a re-run with the same out=")})
            buffered[repo].append((tag, rows))
            n_buffered += 1
            stats["units"] += 1
            if bar is not None:
                bar.update(1) if hasattr(bar, "update") else bar(stats["units"])
        if n_buffered >= FLUSH_UNITS:
            flush()

    with ThreadPoolExecutor(max_workers=LIST_WORKERS, thread_name_prefix="rx-census-list") as lister:
        listings = lister.map(lambda r: _list_tags(source, registry, r), repos)
        for repo, names, exc in listings:
            if stop:
                break
            if repo not in sink.listed:
                row = ({"errors": [error_row(repo, None, exc)]} if exc is not None
                       else {"repositories": [{"repository": repo, "tag_count": len(names)}]})
                sink.write(repo, [], {k: v for k, v in row.items() if k in include or k == "errors"}, listed=True)
            if exc is not None:
                continue
            chosen = [t for t in _pick_tags(names, tags) if (repo, t) not in sink.done]
            stats["skipped"] += len(_pick_tags(names, tags)) - len(chosen)
            if bar is not None and hasattr(bar, "total"):
                bar.total = (bar.total or 0) + len(chosen)
                bar.refresh()
            for tag in chosen:
                while len(pending) >= window:
                    collect(block=True)
                if stop:
                    break
                fut = pool.submit(run_unit, target, registry, repo, tag, include, plats)
                pending[fut] = (repo, tag)
        while pending:
            if stop:
                for fut in list(pending):
                    if fut.cancel():
                        pending.pop(fut)
            collect(block=True)
    flush()
