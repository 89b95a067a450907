"""The census's unit of work: one (repository, tag) walked to rows, runnable in any process.

A unit needs only the reference and `SourceSettings`, a small picklable record of how to build
the source (registry flags, a docker config path or a named credential provider, never a
secret), so a thread, a `ProcessPoolExecutor` worker or a Dask worker can run it. Each worker
process builds its Client once and reuses it (connections, tokens, the manifest cache).

A partial registry (a mirror that copied some platforms, a garbage-collected attestation or config)
is common: a child of an index, or a config, that cannot be read is one `errors` row naming it,
and the rest of the tag's rows stand (the index's own rows - its platforms - included).

Fetching order is what makes a second census cheap: the tag is resolved by HEAD, and everything
below it (manifests, indexes, configs) is fetched BY DIGEST, which is what the content-addressed
cache (`Client(cache=...)`) can serve without asking the registry again.
"""

from __future__ import annotations

from typing import Any

from ..core import mediatypes as mt
from ..core.errors import InvalidManifest, RegistryExplorerError
from ..core.limits import MAX_INDEX_DEPTH, MAX_WALK_MANIFESTS
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..core.platform import Platform
from ..core.units import human_size
from ..frames.census_tables import to_json
from ..frames.inventory_tables import census_package_rows
from ..frames.manifests import align_history, history_rows
from ..sources.protocol import SourceSettings
from ..sources.rebuild import shared_source

__all__ = ["SourceSettings", "run_unit", "settings_for", "source_for", "walk_tag"]


def settings_for(source, *, docker_config=None, credential_provider: str | None = None) -> SourceSettings:
    """The settings that rebuild `source` in a worker (`Source.settings`; no secret in them)."""
    return source.settings(docker_config=docker_config, credential_provider=credential_provider)


def source_for(settings: SourceSettings):
    """The source these settings describe, built once per process and shared by its threads."""
    return shared_source(settings)


def reference(source, repository: str, tag: str, registry: str | None):
    """The reference of `repository:tag` in this source (a registry host, or a layout)."""
    return source.locate(registry, repository, tag)


def run_unit(source_or_settings, registry: str | None, repository: str, tag: str,
             include: tuple[str, ...], platforms: tuple[str, ...] | None = None) -> dict[str, list[dict]]:
    """Walk one tag (only `platforms` of its indexes, when given); rows per table, or a single `errors` row (one bad tag never stops a census)."""
    source = source_for(source_or_settings) if isinstance(source_or_settings, SourceSettings) else source_or_settings
    before = source.rate_limit
    try:
        ref = reference(source, repository, tag, registry)
        rows = walk_tag(source, ref, repository, tag, include, platforms)
    except RegistryExplorerError as exc:
        return {"errors": [error_row(repository, tag, exc)]}
    rate = source.rate_limit
    if rate and rate is not before:  # a fresh RateLimit header (each one is a new dict), not a stale one
        rows["_rate_limit"] = [dict(rate)]  # the driver decides whether to stop (the floor is its setting)
    return rows


def error_row(repository: str | None, tag: str | None, exc: BaseException, what: str | None = None) -> dict[str, Any]:
    """The `errors` row for a failure: where (and of `what`, below the tag), the error class, its message."""
    return {"repository": repository, "tag": tag, "error": type(exc).__name__,
            "message": f"{what}: {exc}" if what else str(exc)}


def walk_tag(source, ref, repository: str, tag: str, include: tuple[str, ...],
             platforms: tuple[str, ...] | None = None) -> dict[str, list[dict]]:
    """Resolve `ref` (one HEAD), then walk every manifest below it by digest, parents first."""
    out: dict[str, list[dict]] = {t: [] for t in include}
    where = {"repository": repository, "tag": tag}
    root = source.resolve(ref)
    if mt.is_schema1(root.media_type):
        raise InvalidManifest(f"{ref}: schema1 manifest ({root.media_type}); the census reads schema2 and OCI only")
    if "tags" in out:
        out["tags"].append({**where, "digest": root.digest, "media_type": root.media_type, "size": root.size})
    queue: list[tuple[Descriptor, str | None, int, str | None]] = [(root, None, 0, None)]
    seen: set[str] = set()
    while queue:
        desc, parent, depth, platform = queue.pop(0)
        if desc.digest in seen:
            continue
        seen.add(desc.digest)
        if len(seen) > MAX_WALK_MANIFESTS:
            raise InvalidManifest(f"{ref}: more than {MAX_WALK_MANIFESTS} manifests under one tag")
        if parent is None:
            doc = source.manifest(ref, descriptor=desc)  # the tag itself: its failure is the unit's
        else:
            try:
                doc = source.manifest(ref, descriptor=desc)
            except RegistryExplorerError as exc:
                what = f"{desc.digest} ({platform or 'no platform'}), a child of index {parent}"
                out.setdefault("errors", []).append(error_row(repository, tag, exc, what))
                continue
        if mt.is_schema1(doc.media_type):
            raise InvalidManifest(f"{ref}: schema1 manifest {doc.digest}; the census reads schema2 and OCI only")
        row = {**where, "manifest_digest": doc.digest}
        if "manifests" in out:
            subject = doc.subject
            out["manifests"].append({**row, "parent_digest": parent, "depth": depth, "media_type": doc.media_type,
                                     "size": doc.descriptor.size, "artifact_type": doc.artifact_type,
                                     "subject": subject.digest if subject else None})
        if isinstance(doc, Index):
            if depth >= MAX_INDEX_DEPTH:
                raise InvalidManifest(f"{ref}: indexes nest deeper than {MAX_INDEX_DEPTH} levels")
            if "platforms" in out:
                out["platforms"].extend({**row, **_platform_row(d)} for d in doc.manifests)
            # An entry without a platform that is an index stands for its children (OCI image-index).
            queue.extend((d, doc.digest, depth + 1, str(d.platform) if d.platform else platform)
                         for d in doc.manifests if _wanted(d, platforms))
            continue
        _image_rows(source, doc, row, platform, out)
    return out


def _wanted(d: Descriptor, platforms: tuple[str, ...] | None) -> bool:
    if platforms is None or (d.platform is None and mt.is_index(d.media_type)):
        return True
    return d.platform is not None and any(Platform.parse(p).matches(d.platform) for p in platforms)


def _platform_row(d: Descriptor) -> dict[str, Any]:
    p = d.platform
    return {"os": p.os if p else None, "architecture": p.architecture if p else None,
            "variant": p.variant if p else None, "os_version": p.os_version if p else None,
            "media_type": d.media_type, "digest": d.digest, "size": d.size, "artifact_type": d.artifact_type,
            "annotations": to_json(d.annotations), "is_attestation": d.is_attestation}


def _image_rows(source, m: Manifest, row: dict, platform: str | None, out: dict[str, list[dict]]) -> None:
    """Rows of one image manifest: its layers, config, history; a referrer row when it has a subject."""
    if m.subject is not None and "referrers" in out:
        created = m.annotations.get("org.opencontainers.image.created")
        out["referrers"].append({**row, "manifest_digest": m.subject.digest, "digest": m.digest,
                                 "artifact_type": m.artifact_type, "media_type": m.media_type,
                                 "size": m.descriptor.size, "created": created,
                                 "annotations": to_json(m.annotations)})
    config = None
    wants_config = {"configs", "history", "layers"} & set(out)
    if wants_config and m.config is not None and mt.is_config(m.config.media_type):
        try:
            config = source.config(m)  # by digest: the cache can serve it
        except RegistryExplorerError as exc:  # garbage-collected or unreadable: the manifest's own rows stand
            what = f"config {m.config.digest} of {m.digest}"
            out.setdefault("errors", []).append(error_row(row["repository"], row["tag"], exc, what))
    if "layers" in out:
        hist = align_history(config, len(m.layers)) if config is not None else [None] * len(m.layers)
        diff_ids = config.diff_ids if config is not None else []
        for i, d in enumerate(m.layers):
            out["layers"].append({**row, "platform": platform, "index": i, "digest": d.digest,
                                  "media_type": d.media_type, "compression": mt.compression(d.media_type),
                                  "size": d.size, "size_human": human_size(d.size), "urls": to_json(d.urls),
                                  "annotations": to_json(d.annotations),
                                  "diff_id": diff_ids[i] if i < len(diff_ids) else None,
                                  "created_by": hist[i].created_by if hist[i] is not None else None})
    if "packages" in out:
        census_package_rows(source, m, row, platform, out)
    if config is None:
        return
    if "configs" in out:
        out["configs"].append(_config_row(row, config))
    if "history" in out:
        out["history"].extend({**row, **h} for h in history_rows(config, m))


def _config_row(row: dict, c: ImageConfig) -> dict[str, Any]:
    p = c.platform
    return {**row, "digest": c.descriptor.digest, "created": c.created,
            "os": p.os if p else None, "architecture": p.architecture if p else None,
            "variant": p.variant if p else None, "entrypoint": to_json(c.entrypoint), "cmd": to_json(c.cmd),
            "user": c.user, "working_dir": c.working_dir, "env": to_json(c.env), "labels": to_json(c.labels)}
