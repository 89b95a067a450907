"""How `rx` shows a verb's result: crane's bare forms by default, JSON/table/CSV on request, bytes as they are.

Rendering only: the data comes from `verbs.plain()`, so `rx --output json` prints exactly what
the library call returns, made JSON-ready. The forms, and what each guarantees:
- bare lines (`digest`, `ls`, `catalog`, `validate`): one value a line, no header, for `$(...)`,
  `xargs` and `grep`;
- exact bytes (`manifest`, `config`, `blob`, `cat`, `export`): what the registry stores, so
  `rx manifest REF | sha256sum` is the digest;
- `-o table` and `-o csv`: a header, then rows (modes as `tar -tv` shows them);
- `-o json`: exact JSON (the encoder escapes control characters itself).
Server-chosen text reaches a terminal only through `core.terminal.visible` (bare lines, tables,
CSV, the error line): a tag named `evil\\x1b]0;pwned\\x07` is shown, never obeyed.
"""

from __future__ import annotations

import csv
import json
import stat
import sys
from collections.abc import Iterable
from typing import Any

from ...core.terminal import shown_line, visible

FORMATS = ("json", "table", "csv")
# `tar -tv`'s first letter for each entry type (GNU tar shows a hard link as 'h').
_TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "char": stat.S_IFCHR,
              "block": stat.S_IFBLK, "fifo": stat.S_IFIFO, "hardlink": stat.S_IFREG}


def tar_mode(kind: Any, mode: Any) -> str:
    """`drwxr-xr-x`, `-rw-r--r--`, `lrwxrwxrwx`, `hrw-r--r--`: an entry's type and mode as `tar -tv` prints them."""
    if isinstance(mode, bool) or not isinstance(mode, (int, float)) or mode != mode:
        return ""
    text = stat.filemode(_TYPE_BITS.get(str(kind), 0) | (int(mode) & 0o7777))
    if kind == "hardlink":
        return "h" + text[1:]
    return text if kind in _TYPE_BITS else "?" + text[1:]


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


def emit_lines(values: Iterable[Any]) -> None:
    """One bare value a line (crane's `ls`, `catalog`, `digest`): no header, controls made visible."""
    sys.stdout.write("".join(visible(v) + "\n" for v in values))


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
        return json.dumps(value, default=str)  # ASCII JSON: its control characters are escaped already
    return visible(value)


def write_bytes(data: bytes) -> None:
    """Raw bytes to stdout (a file's or a blob's content, a manifest as stored)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def error_line(message: Any) -> str:
    """`rx: error: ...` on one line: secrets redacted, control characters visible (CLI and %rx alike)."""
    return f"rx: error: {shown_line(message)}"
