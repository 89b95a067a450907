"""The verbs of the front doors (`rx` and `%rx`), as library calls returning normal Python objects.

The command line and the IPython magic only parse arguments and show what these return; the same
call from Python gives the same answer. Verb names follow crane where crane has them (digest,
manifest, config, ls, catalog, blob, export). `plain()` turns any result into JSON-ready data,
which is what `rx --output json` prints.

Adding a verb: add a function here and register it in `VERBS`; the CLI
and the magic pick up every entry of `VERBS` that has a command in `cli/commands.py`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import frames
from ..census_engine.run import census as run_census
from ..core.errors import InvalidReference
from ..core.models import Descriptor, ImageConfig, Index, Manifest
from ..frames.census_tables import TABLES
from ..http.trace import Exchange
from ..imagefs.filesystem import ImageFS
from ..sources.protocol import Source


def digest(source: Source, ref: Any) -> Descriptor:
    """The descriptor `ref` resolves to (its `.digest` is what `crane digest` prints)."""
    return source.resolve(ref)


def manifest(source: Source, ref: Any, platform: Any = None) -> Manifest | Index:
    """The manifest or index `ref` names; with `platform`, the image manifest for it."""
    return source.image(ref, platform) if platform else source.manifest(ref)


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


def export(source: Source, ref: Any, dest: str | os.PathLike, platform: Any = None,
           progress: Callable | None = None) -> Any:
    """Copy the image (the whole index without `platform`) into an OCI layout at `dest`."""
    return source.save_layout(ref, dest, platform, progress=progress)


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
    "export": export, "cat": cat, "files": files, "trace": trace, "census": census,
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
