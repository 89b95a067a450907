"""Where census rows go: memory, or a Parquet dataset per table that a re-run resumes.

`out="dir/"` gives `dir/<table>/repository=<name>/part-<n>.parquet` (hive partitioning, the
name percent-encoded because repository names contain '/'), so `pd.read_parquet("dir/layers")`
reads a table and a reader can select one repository without opening the others. Rows are
flushed in chunks, so memory holds one chunk whatever the registry's size.

Resuming: a chunk's files are written under a dot-name and renamed, then one line naming the
chunk's tags and files is appended to `dir/_census/journal.jsonl` and synced. A run that is
killed leaves at worst files that no journal line names (deleted when the next run opens the
directory) and a torn last line (ignored): the next run redoes exactly the tags no line lists,
so the finished tables hold every row once.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ..core.extras import require
from ..frames.census_tables import _BOOLS, _INTS, _TIMES, CENSUS_COLUMNS, census_frame, normalize

__all__ = ["MemorySink", "ParquetSink"]

JOURNAL = Path("_census") / "journal.jsonl"
META = Path("_census") / "meta.json"


class MemorySink:
    """Rows kept in lists (no `out`): the tables are built once at the end."""

    def __init__(self, tables):
        self.tables = tuple(tables) + ("errors",)
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.done: set[tuple[str, str]] = set()
        self.listed: set[str] = set()

    def write(self, repository: str | None, tags: list[str], rows: dict[str, list[dict]], listed: bool) -> None:
        """Keep one chunk's rows."""
        for table, rs in rows.items():
            self.rows[table].extend(rs)

    def read(self, table: str) -> pd.DataFrame:
        """A whole table."""
        return ordered(census_frame(table, self.rows.get(table, [])))


def _arrow_schema(pa, table: str, *, with_repository: bool):
    types = []
    for col in CENSUS_COLUMNS[table]:
        if col == "repository" and not with_repository:
            continue  # the partition directory holds it
        if col in _INTS.get(table, ()):
            t = pa.int64()
        elif col in _TIMES.get(table, ()):
            t = pa.timestamp("ns", tz="UTC")
        elif col in _BOOLS.get(table, ()):
            t = pa.bool_()
        else:
            t = pa.string()
        types.append(pa.field(col, t))
    return pa.schema(types)


class ParquetSink:
    """Rows streamed to `out/<table>/` Parquet datasets, with a journal that makes a re-run resume."""

    def __init__(self, out, tables, meta: dict):
        self.pa = require("pyarrow", "census", "census(out=...) to Parquet")
        require("pyarrow.parquet", "census", "census(out=...) to Parquet")
        self.root = Path(out)
        self.tables = tuple(tables) + ("errors",)
        self.done: set[tuple[str, str]] = set()
        self.listed: set[str] = set()
        self.files: dict[str, list[Path]] = defaultdict(list)
        self._seq = 0
        (self.root / JOURNAL).parent.mkdir(parents=True, exist_ok=True)
        meta_path = self.root / META
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old != meta:
                raise ValueError(f"{self.root} holds a census with other settings ({old}); use another out=")
        else:
            meta_path.write_text(json.dumps(meta, sort_keys=True))
        self._load()

    def _load(self) -> None:
        journal = self.root / JOURNAL
        lines = journal.read_bytes().split(b"\n") if journal.exists() else []
        kept = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill: its chunk is redone
            kept.append(line)
            repo = entry["repository"]
            self.done.update((repo, t) for t in entry["tags"])
            if entry.get("listed"):
                self.listed.add(repo)
            for rel in entry["files"]:
                table = rel.split("/", 1)[0]
                self.files[table].append(self.root / rel)
            self._seq = max(self._seq, entry.get("seq", 0))
        if journal.exists():
            journal.write_bytes(b"".join(x + b"\n" for x in kept))
        known = {p for ps in self.files.values() for p in ps}
        for table in CENSUS_COLUMNS:
            for p in (self.root / table).rglob("*") if (self.root / table).is_dir() else ():
                if p.is_file() and p not in known:
                    p.unlink()  # written by a run killed before its journal line

    def write(self, repository: str | None, tags: list[str], rows: dict[str, list[dict]], listed: bool) -> None:
        """Write one chunk (a file per table that has rows), then journal it."""
        pq = require("pyarrow.parquet", "census", "census(out=...) to Parquet")
        self._seq += 1
        part = quote(repository or "", safe="") or "%00"
        written = []
        for table, rs in rows.items():
            if not rs:
                continue
            df = census_frame(table, rs).drop(columns=["repository"])
            rel = f"{table}/repository={part}/part-{self._seq:06d}.parquet"
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("." + path.name)  # dot-names are invisible to Parquet readers
            pq.write_table(self.pa.Table.from_pandas(df, schema=_arrow_schema(self.pa, table, with_repository=False),
                                                     preserve_index=False), tmp)
            os.replace(tmp, path)
            written.append(rel)
        entry = {"seq": self._seq, "repository": repository, "tags": tags, "listed": listed, "files": written}
        with open(self.root / JOURNAL, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.update((repository, t) for t in tags)
        if listed:
            self.listed.add(repository)
        for rel in written:
            self.files[rel.split("/", 1)[0]].append(self.root / rel)

    def read(self, table: str) -> pd.DataFrame:
        """A whole table, read back from the files the journal lists."""
        files = self.files.get(table, [])
        if not files:
            return census_frame(table, [])
        ds = require("pyarrow.dataset", "census", "census(out=...) to Parquet")
        part = ds.HivePartitioning(self.pa.schema([("repository", self.pa.string())]), segment_encoding="uri")
        data = ds.dataset([str(p) for p in files], format="parquet", partitioning=part,
                          partition_base_dir=str(self.root / table),
                          schema=_arrow_schema(self.pa, table, with_repository=True))
        df = data.to_table().to_pandas()
        df["repository"] = df["repository"].where(df["repository"] != "\x00", None)
        return ordered(normalize(table, df))


def ordered(df: pd.DataFrame) -> pd.DataFrame:
    """Rows by repository then tag, each unit's rows in walk order: the same on every run.

    Units finish in whatever order the executor runs them; a stable sort on where the rows
    belong makes a census print the same twice (and notebooks comparable).
    """
    keys = [c for c in ("repository", "tag") if c in df.columns]
    return df.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)


def remove(out) -> None:
    """Delete a census directory (tests and `fresh=True`)."""
    shutil.rmtree(out, ignore_errors=True)
