"""The census tables as DataFrames, and the analyses over them (pure: rows or frames in, frames out).

Column names follow the single-image frames (`PLATFORM_COLUMNS`, `LAYER_COLUMNS`, ...), each
prefixed by where the row belongs: `repository`, `tag`, and `manifest_digest` (the manifest or
index the row describes). Nested values (labels, annotations, urls, entrypoint, env) are
canonical JSON text, so a table round-trips through Parquet unchanged and compares row for row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .inventory_tables import PACKAGE_COLUMNS
from .manifests import HISTORY_COLUMNS, LAYER_COLUMNS, PLATFORM_COLUMNS, REFERRER_COLUMNS, TAG_COLUMNS

__all__ = ["ALL_TABLES", "CENSUS_COLUMNS", "OPTIONAL_TABLES", "TABLES", "base_images", "census_frame", "layer_sharing", "tag_timeline", "to_json"]

_WHERE = ["repository", "tag", "manifest_digest"]
CENSUS_COLUMNS: dict[str, list[str]] = {
    "repositories": ["repository", "tag_count"],
    "tags": ["repository"] + TAG_COLUMNS,
    "manifests": _WHERE + ["parent_digest", "depth", "media_type", "size", "artifact_type", "subject"],
    "platforms": _WHERE + PLATFORM_COLUMNS,
    "layers": _WHERE + ["platform"] + LAYER_COLUMNS + ["diff_id", "created_by"],
    "configs": _WHERE + ["digest", "created", "os", "architecture", "variant", "entrypoint", "cmd", "user",
                         "working_dir", "env", "labels"],
    "history": _WHERE + HISTORY_COLUMNS,
    "referrers": _WHERE + REFERRER_COLUMNS,
    "packages": _WHERE + ["platform"] + PACKAGE_COLUMNS,
    "errors": ["repository", "tag", "error", "message"],
}
# Built only when asked for (include=): packages are read from layer contents (ranged reads; one verified
# pass per layer not indexed yet), far more than the manifests and configs the other tables need.
OPTIONAL_TABLES = ("packages",)
TABLES = tuple(t for t in CENSUS_COLUMNS if t not in ("errors", *OPTIONAL_TABLES))  # what a census builds by default
ALL_TABLES = TABLES + OPTIONAL_TABLES
_INTS = {"packages": ("layer",), "repositories": ("tag_count",), "tags": ("size",), "manifests": ("depth", "size"),
         "platforms": ("size",), "layers": ("index", "size"), "referrers": ("size",)}
_TIMES = {"configs": ("created",), "history": ("created",), "referrers": ("created",)}
_BOOLS = {"platforms": ("is_attestation",), "history": ("empty_layer",)}


def to_json(value: Any) -> str | None:
    """Canonical JSON text for a nested value (sorted keys), None stays None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = dict(value)
    elif isinstance(value, (tuple, list)):
        value = list(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def census_frame(table: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A census table from its rows: exactly CENSUS_COLUMNS[table], with stable dtypes."""
    if table not in CENSUS_COLUMNS:
        raise ValueError(f"unknown census table {table!r}; expected one of {sorted(CENSUS_COLUMNS)}")
    df = pd.DataFrame(list(rows), columns=CENSUS_COLUMNS[table])
    return normalize(table, df)


def normalize(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """The same dtypes whatever the source (rows, or Parquet read back): Int64, UTC datetimes, strings."""
    df = df[CENSUS_COLUMNS[table]].copy()
    for col in _INTS.get(table, ()):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    for col in _TIMES.get(table, ()):
        # ISO8601, not a format inferred from the first row: configs mix precisions.
        df[col] = pd.to_datetime(df[col], utc=True, errors="coerce", format="ISO8601").astype("datetime64[ns, UTC]")
    for col in _BOOLS.get(table, ()):
        df[col] = df[col].astype(bool)
    for col in df.columns:
        if col not in _INTS.get(table, ()) + _TIMES.get(table, ()) + _BOOLS.get(table, ()):
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df.reset_index(drop=True)


def _images(layers: pd.DataFrame) -> pd.DataFrame:
    # The same manifest under many tags is one image: its layers are stored once.
    return layers.drop_duplicates(["manifest_digest", "index"]).sort_values(["manifest_digest", "index"])


def layer_sharing(layers: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct layer: size, how many images, repositories and tags use it, bytes saved by sharing.

    `attrs` holds `total_bytes` (every image's layers counted separately), `unique_bytes` (each
    layer once, what the registry stores) and `shared_ratio` (unique / total).
    """
    cols = ["digest", "size", "media_type", "images", "repositories", "tags", "saved_bytes"]
    if layers.empty:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(total_bytes=0, unique_bytes=0, shared_ratio=1.0)
        return out
    imgs = _images(layers)
    g = imgs.groupby("digest", sort=True)
    out = pd.DataFrame({
        "size": g["size"].first().astype("Int64"),
        "media_type": g["media_type"].first(),
        "images": g["manifest_digest"].nunique(),
        "repositories": g["repository"].nunique(),
    })
    out["tags"] = layers.drop_duplicates(["repository", "tag", "digest"]).groupby("digest").size()
    out["saved_bytes"] = (out["size"] * (out["images"] - 1)).astype("Int64")
    out = out.reset_index().sort_values(["images", "size", "digest"], ascending=[False, False, True])
    total, unique = int(imgs["size"].sum()), int(out["size"].sum())
    out.attrs.update(total_bytes=total, unique_bytes=unique, shared_ratio=(unique / total) if total else 1.0)
    return out[cols].reset_index(drop=True)


def base_images(layers: pd.DataFrame, *, min_repositories: int = 2) -> pd.DataFrame:
    """Images grouped by their longest layer prefix shared by at least `min_repositories` repositories.

    A prefix of layers that several repositories start from is a base image (layers are
    content-addressed, so the same bytes mean the same digest). `base` is the top layer of the
    prefix (None for images that share no prefix); one row per base.
    """
    cols = ["base", "base_layers", "base_size", "images", "repositories", "repository_names"]
    if layers.empty:
        return pd.DataFrame(columns=cols)
    imgs = _images(layers)
    chains: dict[str, tuple[tuple[str, ...], tuple[int, ...], str]] = {}
    for digest, g in imgs.groupby("manifest_digest", sort=True):
        chains[digest] = (tuple(g["digest"]), tuple(int(s) for s in g["size"]), g["repository"].iloc[0])
    prefix_repos: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for chain, _, repo in chains.values():
        for k in range(1, len(chain) + 1):
            prefix_repos[chain[:k]].add(repo)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for chain, sizes, repo in chains.values():
        k = next((k for k in range(len(chain), 0, -1) if len(prefix_repos[chain[:k]]) >= min_repositories), 0)
        g = groups.setdefault(chain[:k], {"size": sum(sizes[:k]), "images": 0, "repos": set()})
        g["images"] += 1
        g["repos"].add(repo)
    rows = [{"base": p[-1] if p else None, "base_layers": len(p), "base_size": g["size"], "images": g["images"],
             "repositories": len(g["repos"]), "repository_names": ", ".join(sorted(g["repos"]))}
            for p, g in groups.items()]
    out = pd.DataFrame(rows, columns=cols).sort_values(["images", "base_layers"], ascending=[False, False])
    return out.reset_index(drop=True)


def tag_timeline(tags: pd.DataFrame, configs: pd.DataFrame) -> pd.DataFrame:
    """Per repository, its tags in order of their image's creation, and whether the digest changed.

    `created` is the earliest config `created` under the tag (attestations, os `unknown`, are
    not images); `digest_changed` compares with the previous tag of the same repository.
    """
    cols = ["repository", "tag", "digest", "created", "previous_tag", "digest_changed", "days_since_previous"]
    real = configs[configs["os"].fillna("") != "unknown"] if not configs.empty else configs
    created = real.groupby(["repository", "tag"])["created"].min() if not real.empty else pd.Series(dtype=object)
    df = tags[["repository", "tag", "digest"]].copy()
    df["created"] = [created.get((r, t), pd.NaT) for r, t in zip(df["repository"], df["tag"])]
    df["created"] = pd.to_datetime(df["created"], utc=True)
    df = df.sort_values(["repository", "created", "tag"], kind="stable").reset_index(drop=True)
    prev = df.groupby("repository")
    df["previous_tag"] = prev["tag"].shift(1)
    prev_digest = prev["digest"].shift(1)
    df["digest_changed"] = prev_digest.notna() & (df["digest"] != prev_digest)
    df["days_since_previous"] = (df["created"] - prev["created"].shift(1)).dt.total_seconds() / 86400
    df["previous_tag"] = df["previous_tag"].astype(object).where(df["previous_tag"].notna(), None)
    return df[cols]
