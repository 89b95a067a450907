"""The fetching half of frames.supply_chain: every object attached to an image, and how it was found.

Three places hold them (each row says which):
- "index attestation": BuildKit attestation manifests in the image index, one row per statement layer;
- "referrers API" / "referrers tag schema": OCI 1.1 referrers of the image (or of each platform image of
  an index), from the API or, where the registry lacks it (distribution 2.8), the `sha256-<hex>` index;
- "cosign tag": cosign's `sha256-<hex>.sig` / `.att` / `.sbom` tags, one row per layer.
`verified` is True only for a signature layer that verify_cosign accepted with the given key.

Registries are often partial: a mirror copies some platforms, a garbage collector removes an
attestation. One attached document that cannot be read is one row with `error` set (the error
class and message), typed and tied from what the index itself says (its kind, the image its
`vnd.docker.reference.digest` names, its size); the rest of the table stands, as in the census.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import NotFound, RegistryExplorerError, SignatureError
from ..core.models import Index, Manifest
from .buildkit import decode_attestation_manifest, decode_index_attestations
from .cosign import TAG_SUFFIXES, tag_for

__all__ = ["SUPPLY_COLUMNS", "error_text", "kind_of", "supply_chain_rows"]

SUPPLY_COLUMNS = ["kind", "type", "found", "subject", "digest", "size", "media_type", "manifest", "verified", "error"]
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"


def kind_of(artifact_type: str | None, predicate_type: str | None = None) -> str:
    """'signature', 'attestation', 'SBOM' or 'other artifact', from an artifact or predicate type."""
    t = f"{artifact_type or ''} {predicate_type or ''}".lower()
    if "spdx" in t or "cyclonedx" in t or "syft" in t:
        return "SBOM"
    if "signature" in t or "cosign.artifact.sig" in t or "notary" in t or "simplesigning" in t:
        return "signature"
    if "in-toto" in t or "dsse" in t or "provenance" in t or "attestation" in t or "slsa" in t or "vex" in t:
        return "attestation"
    return "other artifact"


def _row(**kw: Any) -> dict[str, Any]:
    row = dict.fromkeys(SUPPLY_COLUMNS, None)
    row.update(kw)
    row.setdefault("verified", False)
    row["verified"] = bool(row["verified"])
    return row


def _referrer_rows(client, ref, digest: str) -> list[dict]:
    found = "referrers API" if client.has_referrers_api(ref, digest) else "referrers tag schema"
    rows = []
    for d in client.referrers(ref.with_digest(digest)):
        pt = d.annotations.get(PREDICATE_ANNOTATION)
        rows.append(_row(kind=kind_of(d.artifact_type, pt), type=pt or d.artifact_type or d.media_type, found=found,
                         subject=digest, digest=d.digest, size=d.size, media_type=d.media_type, manifest=d.digest))
    return rows


def _cosign_rows(client, ref, digest: str, verified_layers: set[str]) -> list[dict]:
    rows = []
    for suffix, kind in TAG_SUFFIXES.items():
        try:
            doc = client.manifest(ref.with_tag(tag_for(digest, suffix)))
        except NotFound:
            continue
        if not isinstance(doc, Manifest):
            continue
        for layer in doc.layers:
            pt = layer.annotations.get("predicateType") or layer.annotations.get(PREDICATE_ANNOTATION)
            rows.append(_row(kind={"signature": "signature", "attestation": "attestation", "sbom": "SBOM"}[kind],
                             type=pt or layer.media_type, found=f"cosign tag .{suffix}", subject=digest,
                             digest=layer.digest, size=layer.size, media_type=layer.media_type, manifest=doc.digest,
                             verified=suffix == "sig" and f"{doc.digest} {layer.digest}" in verified_layers))
    return rows


def error_text(exc: BaseException) -> str:
    """How a row says what could not be read: the error class, then its message."""
    return f"{type(exc).__name__}: {exc}"


def _attestation_rows(client, ref, index: Index) -> list[dict]:
    rows = []
    for link in decode_index_attestations(index.raw).links:
        desc = next((d for d in index.manifests if d.digest == link.attestation_digest), None)
        try:
            att = client.manifest(ref.with_digest(link.attestation_digest), descriptor=desc)
            layers = decode_attestation_manifest(att.raw).layers
        except RegistryExplorerError as exc:
            # Gone (a partial mirror, a garbage collector) or unreadable: the index still says what it was.
            rows.append(_row(kind="attestation", type=link.reference_type, found="index attestation",
                             subject=link.subject_digest, size=link.attestation_size,
                             media_type=desc.media_type if desc is not None else None,
                             manifest=link.attestation_digest, error=error_text(exc)))
            continue
        for layer in layers:
            rows.append(_row(kind=kind_of(None, layer.predicate_type), type=layer.predicate_type or layer.media_type,
                             found="index attestation", subject=link.subject_digest, digest=layer.digest,
                             size=layer.size, media_type=layer.media_type, manifest=att.digest))
    return rows


def supply_chain_rows(client, ref: Any, *, public_key: Any = None) -> list[dict[str, Any]]:
    """One dict per attached object of `ref` (and of each platform image when `ref` is an index)."""
    ref = client.parse(ref)
    root = client.manifest(ref)
    pinned = ref.with_digest(root.digest)
    verified: set[str] = set()
    if public_key is not None:
        from .verify import verify_cosign  # optional extra (verify): cosign verification needs cryptography

        try:
            v = verify_cosign(client, pinned, public_key)
            verified.add(f"{v.signature_manifest} {v.payload_digest}")
        except SignatureError:
            pass  # the row stays unverified; verify_cosign itself says why
    subjects = [root.digest]
    rows: list[dict] = []
    if isinstance(root, Index):
        rows += _attestation_rows(client, pinned, root)
        subjects += [d.digest for d in root.manifests if not d.is_attestation]
    for digest in dict.fromkeys(subjects):
        try:
            rows += _referrer_rows(client, pinned, digest)
        except RegistryExplorerError as exc:
            rows.append(_row(kind="other artifact", type=f"referrers not readable: {exc}", found="referrers",
                             subject=digest, error=error_text(exc)))
        rows += _cosign_rows(client, pinned, digest, verified if digest == root.digest else set())
    return rows
