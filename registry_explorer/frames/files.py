"""DataFrames of what is inside layers: one layer's tar listing, the merged image filesystem, wasted space.

The fetching functions stream each layer once through `layerfs.iter_layer` (verified, memory
bounded); the `*_frame` helpers are pure and work from already-listed entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from .. import mediatypes as mt
from ..errors import InvalidManifest
from ..layerfs import Entry, Placed, efficiency, iter_layer, merge_layers
from ..reference import parse_reference

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


def entries_frame(entries: Iterable[Entry]) -> pd.DataFrame:
    """One row per tar entry (pure); columns FILE_COLUMNS."""
    cols: dict[str, list[Any]] = {c: [] for c in FILE_COLUMNS}
    for e in entries:
        for c in FILE_COLUMNS:
            cols[c].append(getattr(e, c))
    return _frame(cols)


def merged_frame(placed: Iterable[Placed]) -> pd.DataFrame:
    """One row per path of a merged filesystem (pure); columns IMAGE_FILE_COLUMNS."""
    cols: dict[str, list[Any]] = {c: [] for c in IMAGE_FILE_COLUMNS}
    for p in placed:
        for c in IMAGE_FILE_COLUMNS[:8]:
            cols[c].append(getattr(p.entry, c))
        cols["layer_index"].append(p.layer_index)
        cols["layer_digest"].append(p.layer_digest)
    return _frame(cols)


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


def files(client, ref, layer_descriptor, **limits) -> pd.DataFrame:
    """One row per tar entry of one layer blob, streamed and verified; columns FILE_COLUMNS.

    `limits` (max_entries, max_path, max_bytes) are passed to layerfs.iter_layer.
    """
    return entries_frame(iter_layer(client, ref, layer_descriptor, **limits))


def _list_layers(client, ref, platform, limits) -> list[tuple[int, str, list[Entry]]]:
    """Every layer of the image listed, in order; layers stream in parallel, one pass each."""
    manifest = client.image(ref, platform)
    pinned = manifest.reference or parse_reference(ref)
    descs = manifest.layers
    for i, d in enumerate(descs):
        if d.media_type and not mt.is_layer(d.media_type):
            raise InvalidManifest(f"{pinned}: layer {i} is {d.media_type}, not a filesystem layer")
    if not descs:
        return []
    workers = max(1, min(getattr(client, "workers", 1), len(descs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rx-layerfs") as pool:
        listed = list(pool.map(lambda d: list(iter_layer(client, pinned, d, **limits)), descs))
    return [(i, d.digest, entries) for i, (d, entries) in enumerate(zip(descs, listed))]


def image_files(client, ref, platform=None, **limits) -> pd.DataFrame:
    """The merged filesystem of an image (whiteouts applied), with the layer that last wrote each path."""
    return merged_frame(merge_layers(_list_layers(client, ref, platform, limits)))


def wasted(client, ref, platform=None, **limits) -> pd.DataFrame:
    """Paths written more than once or removed later, and dive's efficiency score (see wasted_frame)."""
    return wasted_frame([entries for _, _, entries in _list_layers(client, ref, platform, limits)])
