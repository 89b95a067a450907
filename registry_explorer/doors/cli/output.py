"""How `rx` shows a verb's result: JSON, a table or CSV on stdout; raw bytes as they are.

Rendering only: the data comes from `verbs.plain()`, so `rx --output json` prints exactly what
the library call returns, made JSON-ready.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import Any

FORMATS = ("json", "table", "csv")


def emit(data: Any, fmt: str, *, columns: list[str] | None = None) -> None:
    """Write JSON-ready `data` to stdout as `fmt`; `columns` picks and orders table/CSV columns."""
    out = sys.stdout
    if fmt == "json":
        out.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    rows = _rows(data)
    cols = columns or list(dict.fromkeys(k for r in rows for k in r))
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _cell(r.get(k)) for k in cols})
        return
    cells = [[_cell(r.get(k)) for k in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def _rows(data: Any) -> list[dict[str, Any]]:
    """Rows for a table: a list of dicts as is, a list of scalars as one column, a dict as key/value."""
    if isinstance(data, list):
        return [r if isinstance(r, dict) else {"value": r} for r in data]
    if isinstance(data, dict):
        return [{"key": k, "value": v} for k, v in data.items()]
    return [{"value": data}]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def write_bytes(data: bytes) -> None:
    """Raw bytes to stdout (a file's or a blob's content)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
