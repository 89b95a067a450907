"""The declared against the real: an image's SBOM next to the packages its databases list.

`find_sbom` looks for an SBOM attached to the image the way `frames.supply_chain` finds attached objects
(BuildKit index attestations, OCI referrers or the referrers tag schema, cosign's ``.sbom`` tag) and
decodes the first one whose subject is the image itself (else one attached to its index): SPDX 2.3 or
CycloneDX 1.4-1.6, bare or in an in-toto statement (`supply.sbom`).

`compare` pairs the SBOM's packages with the installed ones by ecosystem and name (the purl's type
says the ecosystem: deb, rpm, apk, pypi, npm, maven; a package without a purl is matched by name when
one ecosystem installed that name) and says, per pair: ``same`` (same version), ``version differs``,
``only installed`` or ``only in SBOM``. Versions are compared as the package managers spell them: an
rpm purl's ``epoch`` qualifier becomes ``E:`` and epoch 0 is no epoch; Python names compare as PEP 503
normalises them. Entries that describe the image itself (purl type ``oci`` or ``docker``) are not
packages of it and are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..core.errors import RegistryExplorerError
from ..supply.chain import supply_chain_rows
from ..supply.documents import open_row
from ..supply.sbom import Package, Sbom
from .python_dists import canonical_name

__all__ = ["STATUSES", "Declared", "compare", "declared_packages", "find_sbom"]

STATUSES = ("same", "version differs", "only installed", "only in SBOM")
# purl types (github.com/package-url/purl-spec, PURL-TYPES) -> our ecosystems.
PURL_TYPES = {"deb": "deb", "rpm": "rpm", "apk": "apk", "pypi": "python", "npm": "npm", "maven": "java"}
# The image describing itself: not a package installed in it.
_SELF_TYPES = frozenset({"oci", "docker"})


@dataclass(frozen=True)
class Declared:
    """One package as an SBOM declares it: ecosystem (None when it cannot be told), name, version, purl."""

    ecosystem: str | None
    name: str
    version: str
    purl: str


def find_sbom(source: Any, image_digest: str, ref: Any, errors: list[dict[str, Any]]) -> tuple[Sbom, dict] | None:
    """(decoded SBOM, its supply-chain row) attached to the image `image_digest` (or to `ref`'s index), or None.

    Objects that cannot be read or decoded are appended to `errors` (dicts as `Installed.errors`).
    """
    pinned = source.parse(ref)
    root = source.resolve(pinned).digest
    # The image's own SBOM first, then one of the index it was picked from; another platform's is not this image's.
    rows = [r for r in supply_chain_rows(source, pinned)
            if r.get("kind") == "SBOM" and r.get("digest") and r.get("subject") in (image_digest, root)]
    rows.sort(key=lambda r: r.get("subject") != image_digest)
    for row in rows:
        try:
            doc = open_row(source, pinned, row)
        except RegistryExplorerError as exc:
            errors.append({"database": row["digest"], "layer": None, "ecosystem": None, "error": type(exc).__name__,
                           "format": "sbom", "message": f"SBOM {row['digest']} ({row.get('found')}): {exc}"})
            continue
        if isinstance(doc, Sbom):
            return doc, row
    return None


def _purl(purl: str) -> tuple[str | None, str | None, str | None, dict[str, str]]:
    """(type, name as the package manager spells it, version, qualifiers) of a purl; Nones if it is not one."""
    if not purl.startswith("pkg:"):
        return None, None, None, {}
    body, _, _subpath = purl[4:].partition("#")
    body, _, query = body.partition("?")
    body, _, version = body.partition("@")
    parts = [unquote(p) for p in body.strip("/").split("/")]
    if len(parts) < 2:
        return None, None, None, {}
    kind, namespace, name = parts[0].lower(), parts[1:-1], parts[-1]
    qualifiers = dict(unquote(q).partition("=")[::2] for q in query.split("&") if q)
    if kind == "maven" and namespace:
        name = f"{'.'.join(namespace)}:{name}"
    elif kind == "npm" and namespace:
        name = f"{namespace[-1]}/{name}"
    return kind, name, unquote(version) or None, qualifiers


def declared_packages(sbom: Sbom) -> list[Declared]:
    """The SBOM's packages with their ecosystem, as this module compares them."""
    out = []
    for p in sbom.packages:
        out_p = _declared(p)
        if out_p is not None:
            out.append(out_p)
    return out


def _declared(p: Package) -> Declared | None:
    kind, name, version, qualifiers = _purl(p.purl or "")
    if kind in _SELF_TYPES:
        return None
    version = p.version or version or ""
    ecosystem = PURL_TYPES.get(kind) if kind else None
    if ecosystem == "rpm" and qualifiers.get("epoch") and ":" not in version:
        version = f"{qualifiers['epoch']}:{version}"
    return Declared(ecosystem, name or p.name, version, p.purl or "")


def _key(ecosystem: str | None, name: str) -> tuple[str | None, str]:
    return ecosystem, canonical_name(name) if ecosystem == "python" else name


def _version(ecosystem: str | None, version: str | None) -> str:
    v = version or ""
    return v[2:] if ecosystem == "rpm" and v.startswith("0:") else v


def compare(found: list[Any], declared: list[Declared]) -> list[tuple[Any | None, Declared | None, str]]:
    """(installed item or None, declared package or None, status) pairs; `found` items have `.record`."""
    by_key: dict[tuple, list[Any]] = defaultdict(list)
    for f in found:
        by_key[_key(f.record.ecosystem, f.record.name)].append(f)
    names: dict[str, set[str]] = defaultdict(set)
    for eco, name in by_key:
        names[name].add(eco)
    wanted: dict[tuple, list[Declared]] = defaultdict(list)
    for d in declared:
        eco = d.ecosystem
        if eco is None and len(names.get(d.name, ())) == 1:  # no purl: the one ecosystem that has the name
            eco = next(iter(names[d.name]))
        wanted[_key(eco, d.name)].append(d)
    out: list[tuple[Any | None, Declared | None, str]] = []
    for key in list(by_key) + [k for k in wanted if k not in by_key]:
        mine, theirs = list(by_key.get(key, ())), list(wanted.get(key, ()))
        for f in list(mine):  # same version first, so a kernel installed twice pairs each version right
            hit = next((d for d in theirs if _version(key[0], d.version) == _version(key[0], f.record.version)), None)
            if hit is not None:
                out.append((f, hit, "same"))
                mine.remove(f)
                theirs.remove(hit)
        for f, d in zip(mine, theirs):
            out.append((f, d, "version differs"))
        out += [(f, None, "only installed") for f in mine[len(theirs):]]
        out += [(None, d, "only in SBOM") for d in theirs[len(mine):]]
    return out
