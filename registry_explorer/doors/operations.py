"""The verbs of the front doors (`rx` and `%rx`), as library calls returning normal Python objects.

The command line and the IPython magic only parse arguments and show what these return; the same
call from Python gives the same answer. Verb names mean what they mean in crane (digest, manifest,
config, ls, catalog, blob, export, pull, validate): `export` is the image's merged filesystem as
a tar stream, `pull` the copy into an OCI layout. `plain()` turns any result into JSON-ready data,
which is what `rx --output json` prints.

Adding a verb: add a function here and register it in `VERBS`; the CLI
and the magic pick up every entry of `VERBS` that has a command in `cli/commands.py`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from .. import frames
from ..census_engine.run import census as run_census
from ..core.errors import InvalidReference, RegistryExplorerError
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..frames.census_tables import TABLES
from ..http.trace import Exchange
from ..imagefs.filesystem import ImageFS
from ..sources.common import CHUNK, walk
from ..sources.protocol import Source
from .tarball import write_image_tar


def digest(source: Source, ref: Any) -> Descriptor:
    """The descriptor `ref` resolves to (its `.digest` is what `crane digest` prints)."""
    return source.resolve(ref)


def manifest(source: Source, ref: Any, platform: Any = None) -> Manifest | Index:
    """The manifest or index `ref` names; with `platform`, the image manifest for it."""
    return source.image(ref, platform) if platform else source.manifest(ref)


def descriptors(doc: Manifest | Index) -> list[dict[str, Any]]:
    """One row per descriptor a manifest or index names (config, layers, subject; or its manifests)."""
    named: list[tuple[str, Descriptor]] = []
    if isinstance(doc, Index):
        named += [("manifest", d) for d in doc.manifests]
    else:
        named += [("config", doc.config)] if doc.config is not None else []
        named += [("layer", d) for d in doc.layers]
    if doc.subject is not None:
        named.append(("subject", doc.subject))
    return [{"role": role, "media_type": d.media_type, "digest": d.digest, "size": d.size,
             "platform": str(d.platform) if d.platform else None, "artifact_type": d.artifact_type}
            for role, d in named]


def config(source: Source, ref: Any, platform: Any = None) -> ImageConfig:
    """The image config (for `platform` when `ref` is an index)."""
    return source.config(ref, platform)


def ls(source: Source, repo: Any) -> list[str]:
    """The tags of a repository, sorted."""
    return sorted(source.tags(repo))


def catalog(source: Source, registry: str) -> list[str]:
    """The repositories a registry lists."""
    return list(source.catalog(registry))


def blob(source: Source, ref: Any, dest: str | os.PathLike, progress: Callable | None = None) -> Path:
    """Download the blob `repo@sha256:...` names to `dest` (a directory), verified; its path."""
    parsed = source.parse(ref)
    if not parsed.digest:
        raise InvalidReference(str(ref), "name the blob by digest: repo@sha256:<hex>")
    desc = Descriptor("application/octet-stream", parsed.digest, -1)
    (path,) = source.fetch_blobs(parsed, [desc], dest, progress=progress)
    return path


def export(source: Source, ref: Any, out: BinaryIO, platform: Any = None) -> int:
    """Write the image's merged filesystem to `out` as a tar stream (`crane export`); the entries written.

    Whiteouts applied, directories, symlinks, hard links, devices, modes, owners and times kept;
    every file's bytes read verified through `imagefs.ImageFS` (see doors/tarball.py).
    """
    return write_image_tar(ImageFS(source, ref, platform), out)


def pull(source: Source, ref: Any, dest: str | os.PathLike, platform: Any = None,
         progress: Callable | None = None) -> Any:
    """Copy the image (the whole index without `platform`) into an OCI layout at `dest` (`crane pull --format oci`)."""
    return source.save_layout(ref, dest, platform, progress=progress)


def validate(source: Source, ref: Any, platform: Any = None) -> list[dict[str, Any]]:
    """Fetch and verify every manifest and blob of the image (of every platform without `platform`).

    `crane validate`: one row per object (kind, digest, media type, size, `ok`, `error`). Manifests
    are verified as they are fetched (a walk fails at the first that does not verify); every blob
    is then streamed to its end and checked against its digest and size, several at once. Nothing
    comes from the disk cache, so a pass means the registry holds those exact bytes.
    """
    root = source.image(ref, platform) if platform else source.manifest(ref)
    pinned = root.reference or source.parse(ref)
    docs, blobs = walk(source, pinned, root)
    rows = [{"kind": "index" if isinstance(d, Index) else "manifest", "digest": d.digest,
             "media_type": d.media_type, "size": len(d.raw), "ok": True, "error": None} for d in docs]
    configs = {d.config.digest for d in docs if isinstance(d, Manifest) and d.config is not None}

    def check(desc: Descriptor) -> dict[str, Any]:
        row = {"kind": "config" if desc.digest in configs else "layer", "digest": desc.digest,
               "media_type": desc.media_type, "size": desc.size, "ok": True, "error": None}
        try:
            with source.open_blob(pinned, desc) as reader:
                while reader.read(CHUNK):
                    pass
        except RegistryExplorerError as exc:
            row.update(ok=False, error=str(exc))
        return row

    with ThreadPoolExecutor(max_workers=max(1, min(source.workers, len(blobs) or 1))) as pool:
        rows += list(pool.map(check, blobs.values()))
    return rows


def cat(source: Source, ref: Any, path: str, platform: Any = None) -> bytes:
    """The bytes of one file of the image's merged filesystem (ranged where the source can)."""
    return ImageFS(source, ref, platform).read_file(path)


def files(source: Source, ref: Any, layer: int | None = None, platform: Any = None):
    """The merged file frame of the image, or the entries of layer `layer` (0 = base)."""
    if layer is None:
        return frames.image_files(source, ref, platform)
    image = source.image(ref, platform)
    if not -len(image.layers) <= layer < len(image.layers):
        raise ValueError(f"layer {layer} does not exist: the image has {len(image.layers)} layers")
    return frames.files(source, image.reference or ref, image.layers[layer])


def trace(source: Source, ref: Any, platform: Any = None, progress: Callable | None = None) -> list:
    """Every HTTP exchange of a pull (manifest, config, layers to a scratch directory), redacted.

    Each `Exchange.as_curl()` replays its request, with `$TOKEN` in place of a bearer token.
    """
    source.trace.clear()
    image = source.image(ref, platform)
    source.config(image)
    with tempfile.TemporaryDirectory(prefix="rx-trace-") as tmp:
        source.fetch_blobs(image.reference or ref, image.layers, tmp, progress=progress)
    return list(source.trace)


def census(source: Source, registry: str, repositories: list[str] | None = None, *, tags: int | None = None,
           table: str = "tags", out: str | None = None, progress: bool = False) -> tuple[Any, Any]:
    """(one census table, the errors table) for `registry`: `repositories` are names or globs (all: the catalog)."""
    if table not in TABLES:
        raise ValueError(f"unknown census table {table!r}; choose from {', '.join(TABLES)}")
    repos: Any = None
    if repositories:
        repos = repositories[0] if len(repositories) == 1 and any(c in repositories[0] for c in "*?[") \
            else list(repositories)
    result = run_census(source, registry, repos, tags=tags, out=out, progress=progress)
    return result.table(table), result.errors


VERBS: dict[str, Callable[..., Any]] = {
    "digest": digest, "manifest": manifest, "config": config, "ls": ls, "catalog": catalog, "blob": blob,
    "export": export, "pull": pull, "validate": validate, "cat": cat, "files": files, "trace": trace,
    "census": census,
}


def plain(value: Any) -> Any:
    """JSON-ready data for a verb's result: documents as their JSON, frames as records, exchanges as rows."""
    import pandas as pd  # import time: `rx digest` never loads pandas (0.5 s)


    if isinstance(value, (Manifest, Index, ImageConfig)):
        return value.json
    if isinstance(value, Descriptor):
        return {"digest": value.digest, "media_type": value.media_type, "size": value.size}
    if isinstance(value, Exchange):
        return {"seq": value.seq, "method": value.method, "url": value.url, "status": value.status,
                "purpose": value.purpose, "bytes": value.bytes, "error": value.error, "curl": value.as_curl()}
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso"))
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
