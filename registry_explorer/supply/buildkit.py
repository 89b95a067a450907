"""BuildKit attestations as Docker Hub serves them: index entries linked to their images, layers by predicate.

BuildKit (docs.docker.com/build/metadata/attestations/attestation-storage/) adds to the image index
one manifest per platform with platform unknown/unknown and the annotations
`vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest: <image digest>`.
Its layers are in-toto statements (application/vnd.in-toto+json) annotated `in-toto.io/predicate-type`.
This is why Docker Hub users see `unknown/unknown` rows; the link annotation is what makes sense of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidAttestation
from ._doc import MANIFEST_DOC_LIMIT, items, load_json, obj, text
from ._doc import frame as _frame

__all__ = [
    "PREDICATE_ANNOTATION", "REFERENCE_DIGEST", "REFERENCE_TYPE", "AttestationLayer", "AttestationLink",
    "AttestationManifest", "IndexAttestations", "decode_attestation_manifest", "decode_index_attestations",
    "kind_of_predicate",
]

REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
LINK_COLUMNS = ["attestation_digest", "attestation_size", "reference_type", "subject_digest", "subject_platform",
                "linked"]
LAYER_COLUMNS = ["index", "kind", "predicate_type", "media_type", "digest", "size"]


def kind_of_predicate(predicate_type: str | None) -> str:
    """'provenance', 'sbom', 'vex', 'signature' or 'attestation', from an in-toto predicate type URI."""
    p = (predicate_type or "").lower()
    if "slsa.dev/provenance" in p:
        return "provenance"
    if "spdx" in p or "cyclonedx" in p:
        return "sbom"
    if "openvex" in p or "/vex" in p:
        return "vex"
    if "cosign/sign" in p or "signature" in p:
        return "signature"
    return "attestation"


@dataclass(frozen=True)
class AttestationLink:
    """An attestation entry of an index and the image it is about (`linked` when that image is in the index)."""
    attestation_digest: str
    attestation_size: int
    reference_type: str
    subject_digest: str
    subject_platform: str
    linked: bool


@dataclass(frozen=True)
class _Decoded:
    """Rows decoded from one document, kept with its exact bytes (`.raw`); `frame()` has one row per row."""
    raw: bytes = field(repr=False)
    COLUMNS = ()  # a class attribute, not a field: the frame's columns, in order

    def rows(self) -> tuple:
        raise NotImplementedError

    def frame(self):
        """One row per entry, in COLUMNS order."""
        return _frame([row.__dict__ for row in self.rows()], self.COLUMNS)


@dataclass(frozen=True)
class IndexAttestations(_Decoded):
    """The attestation entries of one index, each linked to its image; `.raw` is the index bytes."""
    links: tuple[AttestationLink, ...]
    COLUMNS = LINK_COLUMNS

    def rows(self) -> tuple[AttestationLink, ...]:
        return self.links

    def subject_of(self, attestation_digest: str) -> str | None:
        """The image digest an attestation manifest describes, or None."""
        return next((lk.subject_digest for lk in self.links if lk.attestation_digest == attestation_digest), None)


@dataclass(frozen=True)
class AttestationLayer:
    """One layer of an attestation manifest: a statement identified by its predicate type."""
    index: int
    kind: str
    predicate_type: str
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class AttestationManifest(_Decoded):
    """An attestation manifest's layers by predicate type (index, kind, predicate_type, media_type, digest,
    size); `.raw` is the manifest bytes."""
    layers: tuple[AttestationLayer, ...]
    COLUMNS = LAYER_COLUMNS

    def rows(self) -> tuple[AttestationLayer, ...]:
        return self.layers

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from .cards import frame_html  # display hook: supply/cards.py imports the decoders (a cycle at import time)

        return frame_html("Attestation manifest", self.frame())


def _platform(p: Any) -> str:
    p = obj(p)
    parts = [text(p.get("os")), text(p.get("architecture")), text(p.get("variant"))]
    return "/".join(x for x in parts if x)


def _size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else -1


def decode_index_attestations(raw: Any, *, limit: int = MANIFEST_DOC_LIMIT) -> IndexAttestations:
    """Every attestation entry of an image index, linked through vnd.docker.reference.digest to its image."""
    data, doc = load_json(raw, limit, "image index")
    entries = [m for m in items(doc.get("manifests"), "index manifests") if isinstance(m, dict)]
    platforms = {text(m.get("digest")): _platform(m.get("platform")) for m in entries if text(m.get("digest"))}
    links = []
    for m in entries:
        ann = {str(k): v for k, v in obj(m.get("annotations")).items()}
        ref_type = text(ann.get(REFERENCE_TYPE)) or ""
        # Only attestation manifests: `builder` reference entries (regctl/buildx) point at builders, not images.
        if ref_type != "attestation-manifest":
            continue
        subject = text(ann.get(REFERENCE_DIGEST)) or ""
        links.append(AttestationLink(
            attestation_digest=text(m.get("digest")) or "", attestation_size=_size(m.get("size")),
            reference_type=ref_type, subject_digest=subject, subject_platform=platforms.get(subject, ""),
            linked=bool(subject) and subject in platforms))
    return IndexAttestations(raw=data, links=tuple(links))


def decode_attestation_manifest(raw: Any, *, limit: int = MANIFEST_DOC_LIMIT) -> AttestationManifest:
    """An attestation manifest's layers, each identified by its in-toto.io/predicate-type annotation."""
    what = "attestation manifest"
    data, doc = load_json(raw, limit, what)
    if "layers" not in doc:
        raise InvalidAttestation("has no layers", what=what)
    layers = []
    for i, layer in enumerate(items(doc.get("layers"), what + " layers")):
        if not isinstance(layer, dict):
            raise InvalidAttestation(f"layers[{i}] is not an object", what=what)
        pt = text(obj(layer.get("annotations")).get(PREDICATE_ANNOTATION)) or ""
        layers.append(AttestationLayer(index=i, kind=kind_of_predicate(pt), predicate_type=pt,
                                       media_type=text(layer.get("mediaType")) or "",
                                       digest=text(layer.get("digest")) or "", size=_size(layer.get("size"))))
    return AttestationManifest(raw=data, layers=tuple(layers))
