"""DataFrames of what is inside layers: one layer's tar listing, the merged image filesystem, wasted space.

The `*_frame` builders are pure: they work from entries already listed (`layerfs.Entry`,
`layerfs.Placed`). `files`, `image_files` and `wasted` are conveniences that first fetch
through `imagefs/listing.py` (each layer's index, or one verified pass that builds it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from ..imagefs.listing import image_entries, image_layers, layer_entries
from ..layers import Entry, Placed, efficiency
from ..sources.protocol import Source

FILE_COLUMNS = ["path", "type", "size", "mode", "uid", "gid", "mtime", "linkname", "whiteout"]
IMAGE_FILE_COLUMNS = ["path", "type", "size", "mode", "uid", "gid", "mtime", "linkname", "layer_index", "layer_digest"]
WASTED_COLUMNS = ["path", "count", "total_size", "wasted_size", "layers"]
_INT_COLUMNS = ("size", "mode", "uid", "gid", "layer_index", "count", "total_size", "wasted_size")


def _frame(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A frame with stable dtypes, also when empty: int64 counts, UTC datetimes, objects."""
    data = {}
    for name, values in columns.items():
        if name in _INT_COLUMNS:
            data[name] = pd.Series(values, dtype="int64")
        elif name == "mtime":
            # errors="coerce": a hostile mtime beyond pandas' range (year 2262) becomes NaT.
            data[name] = pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True, errors="coerce")
        else:
            data[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(data)


def files_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """One row per tar entry (pure); columns FILE_COLUMNS."""
    cols: dict[str, list[Any]] = {c: [] for c in FILE_COLUMNS}
    for e in entries:
        for c in FILE_COLUMNS:
            cols[c].append(getattr(e, c))
    return _frame(cols)


def image_files_frame(placed: Iterable[Placed]) -> pd.DataFrame:
    """One row per path of a merged filesystem (pure); columns IMAGE_FILE_COLUMNS."""
    cols: dict[str, list[Any]] = {c: [] for c in IMAGE_FILE_COLUMNS}
    for p in placed:
        for c in IMAGE_FILE_COLUMNS[:8]:  # the Entry fields; the last two say which layer wrote the path
            cols[c].append(getattr(p.entry, c))
        cols["layer_index"].append(p.layer_index)
        cols["layer_digest"].append(p.layer_digest)
    return _frame(cols)


entries_frame = files_frame
"""The former name of `files_frame` (kept: it is public)."""
merged_frame = image_files_frame
"""The former name of `image_files_frame` (kept: it is public)."""


def wasted_frame(layers: Sequence[Iterable[Entry]]) -> pd.DataFrame:
    """dive's wasted space from layers already listed, base first (pure).

    Rows: paths with more than one version (written in several layers, or written then
    removed); `total_size` is dive's CumulativeSize, `wasted_size` = total_size - smallest
    version, sorted by wasted_size. `attrs`: efficiency (dive's score), wasted_bytes (dive's
    WastedBytes = sum of total_size), total_bytes (dive's SizeBytes), user_bytes and
    wasted_user_ratio (dive's UserSizeBytes and WastedUserPercent); see layerfs.efficiency.
    """
    eff = efficiency(layers)
    cols: dict[str, list[Any]] = {c: [] for c in WASTED_COLUMNS}
    for u in eff.inefficient:
        cols["path"].append(u.path)
        cols["count"].append(u.count)
        cols["total_size"].append(u.total_size)
        cols["wasted_size"].append(u.wasted_size)
        cols["layers"].append(list(u.layers))
    df = _frame(cols)
    df.attrs.update({
        "efficiency": eff.score,
        "wasted_bytes": eff.wasted_bytes,
        "total_bytes": eff.total_bytes,
        "user_bytes": eff.user_bytes,
        "wasted_user_ratio": eff.wasted_user_ratio,
    })
    return df


# -- conveniences: fetch through `queries`, then build the frame above ----------------------------


def files(client: Source, ref, layer_descriptor, **limits) -> pd.DataFrame:
    """One row per tar entry of one layer blob, streamed and verified; columns FILE_COLUMNS.

    Convenience for `files_frame(layer_entries(client, ref, layer_descriptor, **limits))`;
    `limits` (max_entries, max_path, max_bytes) are passed to layerfs.iter_layer.
    """
    return files_frame(layer_entries(client, ref, layer_descriptor, **limits))


def image_files(client: Source, ref, platform=None, **limits) -> pd.DataFrame:
    """The merged filesystem of an image (whiteouts applied), with the layer that last wrote each path.

    Convenience for `image_files_frame(image_entries(client, ref, platform, **limits))`.
    """
    return image_files_frame(image_entries(client, ref, platform, **limits))


def wasted(client: Source, ref, platform=None, **limits) -> pd.DataFrame:
    """Paths written more than once or removed later, and dive's efficiency score (see wasted_frame).

    Convenience for `wasted_frame([entries for _, _, entries in image_layers(client, ref, ...)])`.
    """
    return wasted_frame([entries for _, _, entries in image_layers(client, ref, platform, **limits)])
