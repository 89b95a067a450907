"""What is installed in an image, as a DataFrame: one row per package, with the layer (and build step) that put it there.

`packages_frame` is pure (an `inventory.image.Installed` in, a frame out); `packages` (`rx.packages`)
reads the image's package databases first (`inventory.image.installed`: through the image filesystem,
from the layer indexes, without pulling) and, with `compare_sbom=True`, puts the image's SBOM next to
them (`inventory.declared`).

What the call cost and what could not be read travel with the frame in `df.attrs` (plain values, so
they survive pandas operations and compare with ``==``):

* ``requests``, ``bytes_moved``: everything the call moved on the wire, as a proxy counts it;
* ``pull_bytes``: the compressed size of the image's layers, what a pull would have moved;
* ``image`` (the reference pinned by digest), ``digest``, ``layers`` (the layer count);
* ``errors``: a list of dicts (database, layer, ecosystem, error, format, message), one per database
  that could not be read (rpm's Berkeley DB and ndb say so here) - `errors_frame(df)` tabulates it;
* ``databases``: a list of dicts (path, ecosystem, layers_read, packages), one per database read;
* with ``compare_sbom``: ``sbom`` (digest, format, found, subject) or None when the image has none.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..core import mediatypes as mt
from ..core.errors import RegistryExplorerError
from ..core.models import Manifest
from ..http.trace import metered
from ..inventory.declared import compare, declared_packages, find_sbom
from ..inventory.image import Installed, installed
from .manifests import align_history

__all__ = ["COMPARE_COLUMNS", "ERROR_COLUMNS", "PACKAGE_COLUMNS", "census_package_rows", "errors_frame", "packages", "packages_frame",
           "sbom_compare_frame"]

PACKAGE_COLUMNS = ["ecosystem", "name", "version", "architecture", "source_package", "license", "database", "layer",
                   "created_by"]
SBOM_COLUMNS = ["sbom_version", "sbom_purl", "status"]
COMPARE_COLUMNS = PACKAGE_COLUMNS + SBOM_COLUMNS
ERROR_COLUMNS = ["database", "layer", "ecosystem", "error", "format", "message"]


def created_by_of(result: Installed) -> list[str | None]:
    """The `created_by` of each layer's history step (None where the history cannot tell)."""
    n = len(result.manifest.layers)
    if result.config is None:
        return [None] * n
    return [h.created_by if h is not None else None for h in align_history(result.config, n)]


def _rows(result: Installed) -> list[dict[str, Any]]:
    steps = created_by_of(result)
    rows = []
    for f in result.found:
        r = f.record
        rows.append({"ecosystem": r.ecosystem, "name": r.name, "version": r.version, "architecture": r.architecture,
                     "source_package": r.source_package, "license": r.license, "database": r.database,
                     "layer": f.layer, "created_by": steps[f.layer] if f.layer is not None else None})
    rows.sort(key=lambda r: (r["ecosystem"], r["name"], r["version"], r["database"]))
    return rows


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Exactly `columns`: `layer` nullable Int64, the rest objects (None stays None, also when empty)."""
    data = {c: pd.array([r[c] for r in rows], dtype="Int64") if c == "layer"
            else pd.Series([r[c] for r in rows], dtype="object") for c in columns}
    return pd.DataFrame(data, columns=columns)


def _attrs(df: pd.DataFrame, result: Installed) -> pd.DataFrame:
    df.attrs.update({
        "image": result.reference, "digest": result.digest, "layers": len(result.manifest.layers),
        "requests": result.requests, "bytes_moved": result.bytes_moved, "pull_bytes": result.pull_bytes,
        "errors": [dict(e) for e in result.errors], "databases": [dict(d) for d in result.databases],
    })
    return df


def packages_frame(result: Installed) -> pd.DataFrame:
    """One row per installed package (columns PACKAGE_COLUMNS), sorted; cost and errors in `.attrs`."""
    return _attrs(_frame(_rows(result), PACKAGE_COLUMNS), result)


def sbom_compare_frame(result: Installed, pairs: list[tuple[Any, Any, str]]) -> pd.DataFrame:
    """The installed packages next to the SBOM's (columns COMPARE_COLUMNS): one row per pair from `declared.compare`."""
    steps = created_by_of(result)
    rows = []
    for f, d, status in pairs:
        row = dict.fromkeys(COMPARE_COLUMNS)
        if f is not None:
            r = f.record
            row.update(ecosystem=r.ecosystem, name=r.name, version=r.version, architecture=r.architecture,
                       source_package=r.source_package, license=r.license, database=r.database, layer=f.layer,
                       created_by=steps[f.layer] if f.layer is not None else None)
        else:
            row.update(ecosystem=d.ecosystem, name=d.name)
        if d is not None:
            row.update(sbom_version=d.version, sbom_purl=d.purl or None)
        row["status"] = status
        rows.append(row)
    rows.sort(key=lambda r: (str(r["ecosystem"]), r["name"], str(r["version"]), str(r["sbom_version"])))
    return _attrs(_frame(rows, COMPARE_COLUMNS), result)


def errors_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The databases a `packages` frame could not read (its `attrs["errors"]`), as a frame of ERROR_COLUMNS."""
    return pd.DataFrame(df.attrs.get("errors", []), columns=ERROR_COLUMNS)


def packages(source: Any, ref: Any, *, platform: Any = None, compare_sbom: bool = False,
             ecosystems: Any = None) -> pd.DataFrame:
    """`rx.packages`: one row per installed package of an image, with the layer and build step that installed it.

    Read from the image's own package databases (dpkg, rpm's rpmdb.sqlite, apk, Python, npm, Maven jars)
    without pulling the image: each database through the image filesystem, ranged reads once the layers are
    indexed (see `inventory.image`). `ecosystems` (e.g. ``("deb", "python")``) limits what is read. With
    `compare_sbom=True` the rows are the installed packages next to the image's SBOM (columns
    COMPARE_COLUMNS, `status` one of `inventory.declared.STATUSES`). Cost and errors: see the module docstring.
    """
    result = installed(source, ref, platform, ecosystems=ecosystems)
    if not compare_sbom:
        return packages_frame(result)
    with metered() as cost:
        found = find_sbom(source, result.digest, ref, result.errors)
    result.requests += cost.requests
    result.bytes_moved += cost.bytes_moved
    declared = declared_packages(found[0]) if found is not None else []
    df = sbom_compare_frame(result, compare(result.found, declared))
    df.attrs["sbom"] = None if found is None else {
        "digest": found[1].get("digest"), "format": found[0].format, "found": found[1].get("found"),
        "subject": found[1].get("subject"), "packages": len(declared)}
    return df


def census_package_rows(source: Any, manifest: Manifest, where: dict[str, Any], platform: str | None,
                        out: dict[str, list[dict]]) -> None:
    """The census's `packages` rows of one image manifest (`where`: repository, tag, manifest_digest).

    Artifacts (SBOMs, signatures, attestations) have no filesystem and no rows. A database that cannot be
    read, or an image whose layers cannot be, becomes a row of `out["errors"]`; the unit's other tables stay.
    """
    if not manifest.layers or not all(mt.is_layer(d.media_type or mt.OCI_LAYER_GZIP) for d in manifest.layers) \
            or manifest.config is None or not mt.is_config(manifest.config.media_type):
        return
    errors = out.setdefault("errors", [])
    try:
        result = installed(source, manifest.reference)
    except RegistryExplorerError as exc:
        errors.append({"repository": where["repository"], "tag": where["tag"], "error": type(exc).__name__,
                       "message": f"packages of {manifest.digest}: {exc}"})
        return
    out["packages"].extend({**where, "platform": platform, **r} for r in _rows(result))
    errors.extend({"repository": where["repository"], "tag": where["tag"], "error": e["error"],
                   "message": f"packages of {manifest.digest}: {e['database']} (layer {e['layer']}): {e['message']}"}
                  for e in result.errors)
