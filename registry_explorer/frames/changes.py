"""What changed between two images, as DataFrames: one row per changed path, and a summary per top-level directory.

`changes_frame` and `diff_summary` are pure; `diff` (`rx.diff`) reads both images' merged filesystems from
their layer indexes first (`inventory.diff`: no file bytes, and no blob request at all once the layers
are indexed). `df.attrs` carries ``a`` and ``b`` (the references pinned by digest), ``requests`` and
``bytes_moved`` (what the call moved on the wire, as a proxy counts it) and ``pull_bytes`` (the
compressed size of both images' distinct layers, what pulling them would move).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..http.trace import metered
from ..inventory.diff import CHANGES, FileState, ImageState, changes, image_state

__all__ = ["DIFF_COLUMNS", "SUMMARY_COLUMNS", "changes_frame", "diff", "diff_summary"]

_SIDES = ("type", "size", "mode", "uid", "gid", "link", "digest", "mtime", "layer")
DIFF_COLUMNS = ["path", "change"] + [f"{f}_{s}" for f in _SIDES for s in ("a", "b")]
SUMMARY_COLUMNS = ["top", "change", "paths", "bytes_a", "bytes_b", "bytes_delta"]
_INTS = ("size", "mode", "uid", "gid", "layer")


def _side(state: FileState | None, field: str) -> Any:
    if state is None:
        return None
    return state.linkname or None if field == "link" else getattr(state, field)


def changes_frame(rows: list[tuple[str, str, FileState | None, FileState | None]]) -> pd.DataFrame:
    """One row per changed path (columns DIFF_COLUMNS); sizes, modes, owners and layers nullable Int64, UTC mtimes."""
    data: dict[str, Any] = {"path": pd.Series([r[0] for r in rows], dtype="object"),
                            "change": pd.Series([r[1] for r in rows], dtype="object")}
    for field in _SIDES:
        for i, s in ((2, "a"), (3, "b")):
            values = [_side(r[i], field) for r in rows]
            if field in _INTS:
                data[f"{field}_{s}"] = pd.array(values, dtype="Int64")
            elif field == "mtime":
                # errors="coerce": a hostile mtime beyond pandas' range (year 2262) becomes NaT.
                data[f"{field}_{s}"] = pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True,
                                                      errors="coerce")
            else:
                data[f"{field}_{s}"] = pd.Series(values, dtype="object")
    return pd.DataFrame(data, columns=DIFF_COLUMNS)


def _top(path: str) -> str:
    return path.partition("/")[0]


def diff_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Counts and bytes per (top-level directory, change), then one ``(all)`` row per change.

    `top` is a path's first component (a file directly in the root is its own). `bytes_a`/`bytes_b` sum
    the regular files' sizes on each side; `bytes_delta` is b - a.
    """
    rows = []
    frame = df.assign(top=[_top(p) for p in df["path"]], sa=df["size_a"].fillna(0), sb=df["size_b"].fillna(0))
    frame["sa"] = frame["sa"].where(frame["type_a"] == "file", 0)
    frame["sb"] = frame["sb"].where(frame["type_b"] == "file", 0)
    for top in sorted(frame["top"].unique()) + ["(all)"]:
        part = frame if top == "(all)" else frame[frame["top"] == top]
        for change in CHANGES:
            sel = part[part["change"] == change]
            if len(sel):
                a, b = int(sel["sa"].sum()), int(sel["sb"].sum())
                rows.append({"top": top, "change": change, "paths": len(sel), "bytes_a": a, "bytes_b": b,
                             "bytes_delta": b - a})
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for col in SUMMARY_COLUMNS[2:]:
        out[col] = out[col].astype("int64")
    return out


def _platforms(platform: Any) -> tuple[Any, Any]:
    if isinstance(platform, (tuple, list)):
        if len(platform) != 2:
            raise ValueError("platform= is one platform, or a pair (platform of a, platform of b)")
        return platform[0], platform[1]
    return platform, platform


def diff(source: Any, a: Any, b: Any, *, platform: Any = None) -> pd.DataFrame:
    """`rx.diff`: every path that differs between images `a` and `b` (two tags, two digests, or two platforms).

    `platform` is one platform for both, or a pair: ``rx.diff(c, ref, ref, platform=("linux/amd64",
    "linux/arm64"))`` compares two platforms of one index. Read from the layer indexes only (see
    `inventory.diff`); `diff_summary(df)` counts the rows per top-level directory.
    """
    pa, pb = _platforms(platform)
    with metered() as cost:
        left: ImageState = image_state(source, a, pa)
        right: ImageState = image_state(source, b, pb)
    df = changes_frame(changes(left, right))
    df.attrs.update({"a": left.reference, "b": right.reference, "requests": cost.requests,
                     "bytes_moved": cost.bytes_moved,
                     "pull_bytes": sum(max(d.size, 0) for d in {d.digest: d for s in (left, right)
                                                                for d in s.manifest.layers}.values())})
    return df
