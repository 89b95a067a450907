"""DataFrames of what a registry describes: platforms, layers, history, tags, referrers, comparisons, trace.

Pure functions over the models (except `tags`, `referrers` and `compare`, which fetch through
a client first). Column names are stable snake_case; an empty input gives an empty frame with
the same columns, so notebook code can rely on them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from .. import mediatypes as mt
from ..errors import RegistryExplorerError
from ..models import ImageConfig, Index, Manifest
from ..reference import parse_reference
from ..units import human_size

PLATFORM_COLUMNS = ["os", "architecture", "variant", "os_version", "media_type", "digest", "size",
                    "artifact_type", "annotations", "is_attestation"]
LAYER_COLUMNS = ["index", "digest", "media_type", "compression", "size", "size_human", "urls", "annotations"]
HISTORY_COLUMNS = ["created", "created_by", "empty_layer", "comment", "layer_digest", "diff_id"]
TAG_COLUMNS = ["tag", "digest", "media_type", "size"]
REFERRER_COLUMNS = ["digest", "artifact_type", "media_type", "size", "created", "annotations"]
COMPARE_COLUMNS = ["kind", "key", "a", "b", "status", "size"]
TRACE_COLUMNS = ["seq", "started", "method", "url", "status", "purpose", "bytes", "elapsed_ms", "auth", "error",
                 "attempt", "retry_wait_ms", "rate_limit_remaining", "request_headers", "response_headers"]
# HEADing thousands of tags one by one is slow; too many at once trips registry rate limits.
TAG_WORKERS = 8


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def platforms(index: Index | Manifest) -> pd.DataFrame:
    """One row per descriptor of an index (a single manifest gives one row for itself)."""
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
    hist = config.history
    diff_ids = config.diff_ids
    layer_digests = [d.digest for d in manifest.layers] if manifest is not None else None
    producing = [h for h in hist if not h.empty_layer]
    direct = len(producing) != len(diff_ids) and len(hist) == len(diff_ids)
    rows, k = [], 0
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
            "created": pd.to_datetime(h.created, utc=True, errors="coerce") if h.created else pd.NaT,
            "created_by": h.created_by,
            "empty_layer": h.empty_layer,
            "comment": h.comment,
            "layer_digest": (layer_digests[idx] if layer_digests and idx is not None and idx < len(layer_digests)
                             else None),
            "diff_id": diff_ids[idx] if idx is not None and idx < len(diff_ids) else None,
        })
    return _frame(rows, HISTORY_COLUMNS)


def tags(client, repo, *, workers: int = TAG_WORKERS) -> pd.DataFrame:
    """One row per tag with the digest, media type and size its manifest resolves to (HEADs, concurrent)."""
    ref = client.parse(repo) if hasattr(client, "parse") else parse_reference(repo)
    names = client.tags(ref)

    def head(tag: str) -> dict[str, Any]:
        try:
            d = client.resolve(ref.with_tag(tag))
            return {"tag": tag, "digest": d.digest, "media_type": d.media_type, "size": d.size}
        except RegistryExplorerError:
            return {"tag": tag, "digest": None, "media_type": None, "size": None}

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names) or 1)), thread_name_prefix="rx-tags") as pool:
        rows = list(pool.map(head, names))
    df = _frame(rows, TAG_COLUMNS)
    df["size"] = df["size"].astype("Int64")
    return df


def referrers(client, ref, *, artifact_type: str | None = None) -> pd.DataFrame:
    """One row per referrer of `ref` (manifests whose subject it is)."""
    rows = []
    for d in client.referrers(ref, artifact_type=artifact_type):
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


def _env_map(env: list[str]) -> dict[str, str]:
    out = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def compare_images(manifest_a: Manifest, config_a: ImageConfig, manifest_b: Manifest,
                   config_b: ImageConfig) -> pd.DataFrame:
    """Pure core of `compare`: layer rows (shared/only_a/only_b) then config rows (same/changed/only_*)."""
    rows: list[dict[str, Any]] = []
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
    lay = df[df["kind"] == "layer"]
    df.attrs.update({
        "shared_bytes": int(lay.loc[lay["status"] == "shared", "size"].sum()),
        "only_a_bytes": int(lay.loc[lay["status"] == "only_a", "size"].sum()),
        "only_b_bytes": int(lay.loc[lay["status"] == "only_b", "size"].sum()),
    })
    return df


def compare(client, ref_a, ref_b, *, platform=None) -> pd.DataFrame:
    """Shared versus unique layers of two images, with sizes, and their config differences.

    `df.attrs` holds `shared_bytes`, `only_a_bytes` and `only_b_bytes`.
    """
    ma, mb = client.image(ref_a, platform), client.image(ref_b, platform)
    return compare_images(ma, client.config(ma), mb, client.config(mb))


def trace(client_or_trace) -> pd.DataFrame:
    """The HTTP exchanges a client made (already redacted), one row each, oldest first."""
    tr = getattr(client_or_trace, "trace", client_or_trace)
    df = _frame([ex.to_row() for ex in tr], TRACE_COLUMNS)
    for col in ("status", "bytes", "rate_limit_remaining"):  # missing values must not make them floats
        df[col] = df[col].astype("Int64")
    return df
