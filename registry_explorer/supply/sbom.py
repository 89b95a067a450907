"""SBOMs: SPDX 2.3 JSON and CycloneDX 1.4-1.6 JSON, packages and relationships as rows.

SPDX 2.3: https://spdx.github.io/spdx-spec/v2.3/ (packages[].versionInfo, externalRefs purl,
licenseConcluded/licenseDeclared, supplier; relationships[]). CycloneDX: https://cyclonedx.org/docs/1.6/json/
(components[] nested, purl, licenses[].license.id|name or .expression, supplier.name; dependencies[]).
An SBOM may arrive bare, inside an in-toto statement (BuildKit, cosign attest) or inside DSSE too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidAttestation, TooLarge
from ._doc import NESTING_LIMIT, ROWS_LIMIT, SBOM_LIMIT, items, load_json, obj, text
from ._doc import frame as _frame
from .dsse import STATEMENT_TYPES, decode_statement

__all__ = ["CYCLONEDX_VERSIONS", "Package", "Relationship", "Sbom", "decode_sbom", "sbom_from_json"]

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = ("SPDX-2.3",)
PACKAGE_COLUMNS = ["id", "name", "version", "purl", "license", "supplier"]
RELATIONSHIP_COLUMNS = ["source", "type", "target"]


@dataclass(frozen=True)
class Package:
    """One package (SPDX) or component (CycloneDX)."""
    id: str
    name: str
    version: str
    purl: str
    license: str
    supplier: str


@dataclass(frozen=True)
class Relationship:
    """SPDX relationship or CycloneDX dependency edge: source TYPE target."""
    source: str
    type: str
    target: str


@dataclass(frozen=True)
class Sbom:
    """A decoded SBOM; `.raw` is the bytes given (statement or envelope included), `.json` the SBOM itself."""
    raw: bytes = field(repr=False)
    format: str
    spec_version: str
    name: str
    packages: tuple[Package, ...]
    relationships: tuple[Relationship, ...]
    json: dict = field(repr=False, compare=False, default_factory=dict)
    predicate_type: str | None = None

    def frame(self):
        """One row per package: id, name, version, purl, license, supplier."""
        return _frame([p.__dict__ for p in self.packages], PACKAGE_COLUMNS)

    def relationships_frame(self):
        """One row per relationship: source, type, target."""
        return _frame([r.__dict__ for r in self.relationships], RELATIONSHIP_COLUMNS)

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from .cards import sbom_html  # display hook: supply/cards.py imports the decoders (a cycle at import time)

        return sbom_html(self)


def _spdx_purl(pkg: dict) -> str:
    for ref in items(pkg.get("externalRefs"), "SPDX externalRefs"):
        if isinstance(ref, dict) and ref.get("referenceType") == "purl":
            return text(ref.get("referenceLocator")) or ""
    return ""


def _spdx_license(pkg: dict) -> str:
    # NOASSERTION is SPDX's "nobody said": prefer a declared licence that says something.
    for key in ("licenseConcluded", "licenseDeclared"):
        value = text(pkg.get(key))
        if value and value not in ("NOASSERTION", "NONE"):
            return value
    return text(pkg.get("licenseConcluded")) or text(pkg.get("licenseDeclared")) or ""


def _spdx(raw: bytes, doc: dict, predicate_type: str | None) -> Sbom:
    version = text(doc.get("spdxVersion")) or ""
    if version not in SPDX_VERSIONS:
        raise InvalidAttestation(f"spdxVersion {version!r} is not supported (only {', '.join(SPDX_VERSIONS)})",
                                 what="SPDX document")
    packages = tuple(
        Package(id=text(p.get("SPDXID")) or "", name=text(p.get("name")) or "", version=text(p.get("versionInfo")) or "",
                purl=_spdx_purl(p), license=_spdx_license(p), supplier=text(p.get("supplier")) or "")
        for p in items(doc.get("packages"), "SPDX packages") if isinstance(p, dict))
    rels = tuple(
        Relationship(source=text(r.get("spdxElementId")) or "", type=text(r.get("relationshipType")) or "",
                     target=text(r.get("relatedSpdxElement")) or "")
        for r in items(doc.get("relationships"), "SPDX relationships") if isinstance(r, dict))
    return Sbom(raw=raw, format="spdx", spec_version=version, name=text(doc.get("name")) or "",
                packages=packages, relationships=rels, json=doc, predicate_type=predicate_type)


def _cdx_license(comp: dict) -> str:
    out = []
    for entry in items(comp.get("licenses"), "CycloneDX licenses"):
        if not isinstance(entry, dict):
            continue
        if text(entry.get("expression")):
            out.append(entry["expression"])
        lic = obj(entry.get("license"))
        value = text(lic.get("id")) or text(lic.get("name"))
        if value:
            out.append(value)
    return " AND ".join(out)


def _cdx_components(value: Any, out: list[Package], depth: int) -> None:
    if depth > NESTING_LIMIT:
        raise InvalidAttestation(f"components nest deeper than {NESTING_LIMIT} levels", what="CycloneDX document")
    for comp in items(value, "CycloneDX components"):
        if not isinstance(comp, dict):
            continue
        if len(out) >= ROWS_LIMIT:
            raise TooLarge("CycloneDX components", ROWS_LIMIT, hint=" (counted in components)")
        supplier = text(obj(comp.get("supplier")).get("name")) or text(comp.get("publisher")) or ""
        out.append(Package(id=text(comp.get("bom-ref")) or "", name=text(comp.get("name")) or "",
                           version=text(comp.get("version")) or "", purl=text(comp.get("purl")) or "",
                           license=_cdx_license(comp), supplier=supplier))
        _cdx_components(comp.get("components"), out, depth + 1)


def _cyclonedx(raw: bytes, doc: dict, predicate_type: str | None) -> Sbom:
    version = text(doc.get("specVersion")) or ""
    if version not in CYCLONEDX_VERSIONS:
        raise InvalidAttestation(f"specVersion {version!r} is not supported ({', '.join(CYCLONEDX_VERSIONS)})",
                                 what="CycloneDX document")
    packages: list[Package] = []
    meta_component = obj(obj(doc.get("metadata")).get("component"))
    _cdx_components(doc.get("components"), packages, 0)
    rels = []
    for dep in items(doc.get("dependencies"), "CycloneDX dependencies"):
        if not isinstance(dep, dict):
            continue
        for target in items(dep.get("dependsOn"), "CycloneDX dependsOn"):
            if isinstance(target, str):
                rels.append(Relationship(source=text(dep.get("ref")) or "", type="DEPENDS_ON", target=target))
            if len(rels) > ROWS_LIMIT:
                raise TooLarge("CycloneDX dependencies", ROWS_LIMIT, hint=" (counted in edges)")
    return Sbom(raw=raw, format="cyclonedx", spec_version=version, name=text(meta_component.get("name")) or "",
                packages=tuple(packages), relationships=tuple(rels), json=doc, predicate_type=predicate_type)


def sbom_from_json(raw: bytes, doc: dict, predicate_type: str | None = None) -> Sbom:
    """An Sbom from an already-parsed SPDX or CycloneDX JSON object (`raw` kept as given)."""
    if "spdxVersion" in doc:
        return _spdx(raw, doc, predicate_type)
    if doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(raw, doc, predicate_type)
    raise InvalidAttestation("neither SPDX (spdxVersion) nor CycloneDX (bomFormat) JSON", what="SBOM")


def decode_sbom(raw: Any, *, limit: int = SBOM_LIMIT) -> Sbom:
    """An SBOM from bare SPDX/CycloneDX JSON, an in-toto statement whose predicate is one, or DSSE around that."""
    data, doc = load_json(raw, limit, "SBOM")
    if doc.get("_type") in STATEMENT_TYPES or ("payloadType" in doc and "_type" not in doc):
        st = decode_statement(data, limit=limit)
        if not isinstance(st.predicate, dict):
            raise InvalidAttestation("the statement's predicate is not an SBOM object", what="SBOM")
        return sbom_from_json(data, st.predicate, st.predicate_type)
    return sbom_from_json(data, doc)
