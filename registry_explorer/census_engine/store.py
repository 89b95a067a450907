"""Where census rows go: memory, or a Parquet dataset per table that a re-run resumes.

`out="dir/"` gives `dir/<table>/<key>/part-<n>.parquet`, one directory per repository whose name
is a short key (`journal.partition_dir`: a readable prefix and a hash) because repository names
are the registry's to choose and may be longer than a file name can be; the exact name is the
`repository` column of every file. `pd.read_parquet("dir/layers")` reads a table, and rows are
flushed in chunks, so memory holds one chunk whatever the registry's size.

Resuming: a chunk's files are written under a dot-name and renamed, then one line naming the
chunk's tags and files is appended to `dir/_census/journal.jsonl` and synced. A run that is
killed leaves at worst files that no journal line names (deleted when the next run opens the
directory) and a torn last line (ignored): the next run redoes exactly the tags no line lists,
so the finished tables hold every row once. What the journal may name, and what happens to a
line someone edited, is `journal.py`'s business.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..core.extras import require
from ..frames.census_tables import _BOOLS, _INTS, _TIMES, CENSUS_COLUMNS, census_frame, normalize
from .journal import JOURNAL, META, Journal, part_path

__all__ = ["JOURNAL", "META", "MemorySink", "ParquetSink"]


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


def _arrow_schema(pa, table: str):
    types = []
    for col in CENSUS_COLUMNS[table]:
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
        self.journal = Journal(self.root, meta)

    @property
    def done(self) -> set:
        """(repository, tag) pairs whose rows are written."""
        return self.journal.done

    @property
    def listed(self) -> set:
        """Repositories whose listing row (tag count, or the error listing them) is written."""
        return self.journal.listed

    def write(self, repository: str | None, tags: list[str], rows: dict[str, list[dict]], listed: bool) -> None:
        """Write one chunk (a file per table that has rows), then journal it."""
        pq = require("pyarrow.parquet", "census", "census(out=...) to Parquet")
        self.journal.seq += 1
        seq = self.journal.seq
        written = []
        for table, rs in rows.items():
            if not rs:
                continue
            df = census_frame(table, rs)
            rel = part_path(table, repository, seq)
            path = self.journal.directory(table, repository) / Path(rel).name
            tmp = path.with_name("." + path.name)  # dot-names are invisible to Parquet readers
            pq.write_table(self.pa.Table.from_pandas(df, schema=_arrow_schema(self.pa, table), preserve_index=False),
                           tmp)
            os.replace(tmp, path)
            written.append(rel)
        self.journal.append({"seq": seq, "repository": repository, "tags": tags, "listed": listed,
                             "files": written})
        for rel in written:
            self.journal.files[rel.split("/", 1)[0]].append(self.root / rel)

    def read(self, table: str) -> pd.DataFrame:
        """A whole table, read back from the files the journal lists."""
        files = self.journal.files.get(table, [])
        if not files:
            return census_frame(table, [])
        ds = require("pyarrow.dataset", "census", "census(out=...) to Parquet")
        data = ds.dataset([str(p) for p in files], format="parquet", schema=_arrow_schema(self.pa, table))
        return ordered(normalize(table, data.to_table().to_pandas()))


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
