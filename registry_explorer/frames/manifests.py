"""DataFrames of what a registry describes: platforms, layers, history, tags, referrers, comparisons, trace.

Pure builders over the models and rows: `tags_frame`, `referrers_frame`, `compare_frame` and
the rest. `tags`, `referrers` and `compare` are conveniences that fetch through a `Source`
(via `sources/batch.py` and `imagefs/listing.py`) and hand the result to their `*_frame`. Column names are
stable snake_case; an empty input gives an empty frame with the same columns, so notebook code
can rely on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..core import mediatypes as mt
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..core.units import human_size
from ..sources.batch import TAG_WORKERS, image_pair, tag_rows
from ..sources.protocol import Source

PLATFORM_COLUMNS = ["os", "architecture", "variant", "os_version", "media_type", "digest", "size",
                    "artifact_type", "annotations", "is_attestation"]
LAYER_COLUMNS = ["index", "digest", "media_type", "compression", "size", "size_human", "urls", "annotations"]
HISTORY_COLUMNS = ["created", "created_by", "empty_layer", "comment", "layer_digest", "diff_id"]
TAG_COLUMNS = ["tag", "digest", "media_type", "size"]
REFERRER_COLUMNS = ["digest", "artifact_type", "media_type", "size", "created", "annotations"]
COMPARE_COLUMNS = ["kind", "key", "a", "b", "status", "size"]
TRACE_COLUMNS = ["seq", "started", "method", "url", "status", "purpose", "bytes", "elapsed_ms", "auth", "error",
                 "attempt", "retry_wait_ms", "rate_limit_remaining", "request_headers", "response_headers"]


def _frame(rows: list[dict[str, Any]], columns: list[str], nullable_ints: Iterable[str] = ()) -> pd.DataFrame:
    """A frame with exactly `columns`; `nullable_ints` become Int64 so missing values do not make them floats."""
    df = pd.DataFrame(rows, columns=columns)
    for col in nullable_ints:
        df[col] = df[col].astype("Int64")
    return df


def platforms(index: Index | Manifest) -> pd.DataFrame:
    """One row per descriptor of an index (a single manifest gives one row for itself)."""
    # A plain manifest is one platform: the same columns keep notebook code branch-free.
    descs = index.manifests if isinstance(index, Index) else [index.descriptor]
    rows = []
    for d in descs:
        p = d.platform
        rows.append({
            "os": p.os if p else None,
            "architecture": p.architecture if p else None,
            "variant": p.variant if p else None,
            "os_version": p.os_version if p else None,
            "media_type": d.media_type,
            "digest": d.digest,
            "size": d.size,
            "artifact_type": d.artifact_type,
            "annotations": dict(d.annotations),
            "is_attestation": d.is_attestation,
        })
    return _frame(rows, PLATFORM_COLUMNS)


def align_history(config: ImageConfig, n_layers: int) -> list[Any]:
    """For each layer, the history entry that produced it (None where it cannot be told).

    History interleaves `empty_layer` entries (ENV, CMD, LABEL...) that made no layer; skipping
    them pairs the rest with layers in order, as docker history and dive do. Windows images mark
    nothing empty: if the history has exactly one entry per layer, pair them directly.
    """
    hist = config.history
    producing = [h for h in hist if not h.empty_layer]
    if len(producing) == n_layers:
        return producing
    if len(hist) == n_layers:
        return list(hist)
    # Base layers from another builder may lack history: align from the end, newest first.
    tail = producing[-n_layers:] if n_layers else []
    return [None] * (n_layers - len(tail)) + tail


def layers(manifest: Manifest, config: ImageConfig | None = None) -> pd.DataFrame:
    """One row per layer; with a config, adds `diff_id` and the `created_by` that made it."""
    descs = manifest.layers
    rows = []
    for i, d in enumerate(descs):
        rows.append({
            "index": i,
            "digest": d.digest,
            "media_type": d.media_type,
            "compression": mt.compression(d.media_type),
            "size": d.size,
            "size_human": human_size(d.size),
            "urls": list(d.urls),
            "annotations": dict(d.annotations),
        })
    columns = list(LAYER_COLUMNS)
    if config is not None:
        columns += ["diff_id", "created_by"]
        diff_ids = config.diff_ids
        hist = align_history(config, len(descs))
        for i, row in enumerate(rows):
            row["diff_id"] = diff_ids[i] if i < len(diff_ids) else None
            row["created_by"] = hist[i].created_by if hist[i] is not None else None
    return _frame(rows, columns)


def history(config: ImageConfig, manifest: Manifest | None = None) -> pd.DataFrame:
    """One row per history entry; `layer_digest` is the layer it produced (None for empty_layer)."""
    rows = history_rows(config, manifest)
    for row in rows:
        row["created"] = pd.to_datetime(row["created"], utc=True, errors="coerce", format="ISO8601") \
            if row["created"] else pd.NaT  # ISO 8601 only: a server's free text is NaT, not a dateutil guess
    return _frame(rows, HISTORY_COLUMNS)


def history_rows(config: ImageConfig, manifest: Manifest | None = None) -> list[dict[str, Any]]:
    """The rows of `history` as dicts, `created` still the config's text (the census parses a column at once)."""
    hist = config.history
    diff_ids = config.diff_ids
    layer_digests = [d.digest for d in manifest.layers] if manifest is not None else None
    producing = [h for h in hist if not h.empty_layer]
    # Same pairing as align_history: Windows images mark nothing empty, so when the history has
    # one entry per layer, every entry made a layer ("direct").
    direct = len(producing) != len(diff_ids) and len(hist) == len(diff_ids)
    rows, k = [], 0
    # More producing entries than layers: align from the end (the newest entry with the top
    # layer), as align_history does, so pairing starts `offset` entries in.
    offset = max(0, len(producing) - len(diff_ids)) if not direct else 0
    seen_producing = 0
    for h in hist:
        produced = direct or not h.empty_layer
        idx = None
        if produced:
            if seen_producing >= offset:
                idx = k
                k += 1
            seen_producing += 1
        rows.append({
            "created": h.created,
            "created_by": h.created_by,
            "empty_layer": h.empty_layer,
            "comment": h.comment,
            "layer_digest": (layer_digests[idx] if layer_digests and idx is not None and idx < len(layer_digests)
                             else None),
            "diff_id": diff_ids[idx] if idx is not None and idx < len(diff_ids) else None,
        })
    return rows


def tags_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per tag from `queries.tag_rows` (pure); columns TAG_COLUMNS, `size` nullable Int64."""
    return _frame(list(rows), TAG_COLUMNS, ("size",))


def tags(client: Source, repo, *, workers: int = TAG_WORKERS) -> pd.DataFrame:
    """One row per tag with the digest, media type and size its manifest resolves to (HEADs, concurrent).

    Convenience for `tags_frame(tag_rows(client, repo, workers=workers))`.
    """
    return tags_frame(tag_rows(client, repo, workers=workers))


def referrers_frame(descriptors: Iterable[Descriptor]) -> pd.DataFrame:
    """One row per referrer descriptor (pure); `created` from the OCI `image.created` annotation."""
    rows = []
    for d in descriptors:
        created = d.annotations.get("org.opencontainers.image.created")
        rows.append({
            "digest": d.digest,
            "artifact_type": d.artifact_type,
            "media_type": d.media_type,
            "size": d.size,
            "created": pd.to_datetime(created, utc=True, errors="coerce") if created else pd.NaT,
            "annotations": dict(d.annotations),
        })
    return _frame(rows, REFERRER_COLUMNS)


def referrers(client: Source, ref, *, artifact_type: str | None = None) -> pd.DataFrame:
    """One row per referrer of `ref` (manifests whose subject it is).

    Convenience for `referrers_frame(client.referrers(ref, artifact_type=artifact_type))`.
    """
    return referrers_frame(client.referrers(ref, artifact_type=artifact_type))


def _env_map(env: list[str]) -> dict[str, str]:
    # Config `Env` is a list of "KEY=value" (image-spec config.md); a later duplicate wins.
    out = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def compare_frame(manifest_a: Manifest, config_a: ImageConfig, manifest_b: Manifest,
                  config_b: ImageConfig) -> pd.DataFrame:
    """Pure core of `compare`: layer rows (shared/only_a/only_b) then config rows (same/changed/only_*)."""
    rows: list[dict[str, Any]] = []
    # Layers are content-addressed: the same digest in both images is the same blob, stored once.
    pos_a = {d.digest: i for i, d in enumerate(manifest_a.layers)}
    pos_b = {d.digest: i for i, d in enumerate(manifest_b.layers)}
    sizes = {d.digest: d.size for d in manifest_a.layers + manifest_b.layers}
    order = list(pos_a) + [d for d in pos_b if d not in pos_a]
    for digest in order:
        a, b = pos_a.get(digest), pos_b.get(digest)
        status = "shared" if a is not None and b is not None else ("only_a" if b is None else "only_b")
        rows.append({"kind": "layer", "key": digest, "a": a, "b": b, "status": status, "size": sizes[digest]})

    def diff(kind: str, va: dict, vb: dict) -> None:
        for key in sorted(set(va) | set(vb)):
            x, y = va.get(key), vb.get(key)
            status = ("same" if x == y else "changed") if key in va and key in vb else (
                "only_a" if key in va else "only_b")
            rows.append({"kind": kind, "key": key, "a": x, "b": y, "status": status, "size": None})

    diff("env", _env_map(config_a.env), _env_map(config_b.env))
    diff("labels", config_a.labels, config_b.labels)
    for kind in ("entrypoint", "cmd", "working_dir", "user"):
        x, y = getattr(config_a, kind), getattr(config_b, kind)
        rows.append({"kind": kind, "key": kind, "a": x, "b": y, "status": "same" if x == y else "changed",
                     "size": None})
    df = _frame(rows, COMPARE_COLUMNS)
    # Byte totals in attrs, not rows: they summarise the layer rows and would break the row schema.
    lay = df[df["kind"] == "layer"]
    df.attrs.update({
        "shared_bytes": int(lay.loc[lay["status"] == "shared", "size"].sum()),
        "only_a_bytes": int(lay.loc[lay["status"] == "only_a", "size"].sum()),
        "only_b_bytes": int(lay.loc[lay["status"] == "only_b", "size"].sum()),
    })
    return df


compare_images = compare_frame
"""The former name of `compare_frame` (kept: it is public)."""


def compare(client: Source, ref_a, ref_b, *, platform=None) -> pd.DataFrame:
    """Shared versus unique layers of two images, with sizes, and their config differences.

    Convenience for `compare_frame(*image_pair(client, ref_a, ref_b, platform=platform))`;
    `df.attrs` holds `shared_bytes`, `only_a_bytes` and `only_b_bytes`.
    """
    return compare_frame(*image_pair(client, ref_a, ref_b, platform=platform))


def trace(client_or_trace) -> pd.DataFrame:
    """The HTTP exchanges a client made (already redacted), one row each, oldest first."""
    tr = getattr(client_or_trace, "trace", client_or_trace)  # a Client, or its Trace (or any list of exchanges)
    return _frame([ex.to_row() for ex in tr], TRACE_COLUMNS, ("status", "bytes", "rate_limit_remaining"))
