"""Open one row of the supply-chain table: fetch the document it names and decode it by what it is.

The Explorer's "Supply chain" tab and the notebook call `open_row`; it fetches through a Source
(digests verified there), so what it decodes is what the registry holds under that digest.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidAttestation
from ..core.models import Descriptor, Manifest
from ._doc import STATEMENT_LIMIT
from .cosign import SIMPLE_SIGNING, decode_simple_signing
from .dsse import decode_statement
from .sbom import decode_sbom
from .slsa import PROVENANCE_V02, PROVENANCE_V1, provenance_from

__all__ = ["decode_document", "open_row"]


def decode_document(raw: bytes, media_type: str, type_hint: str = "") -> Any:
    """Decode bytes by media type and predicate/artifact type: provenance, statement, SBOM or signature payload."""
    hint = f"{media_type} {type_hint}".lower()
    if media_type == SIMPLE_SIGNING:
        return decode_simple_signing(raw)
    if "spdx" in hint or "cyclonedx" in hint:
        return decode_sbom(raw)
    if "in-toto" in hint or "dsse" in hint or type_hint.startswith("https://"):
        st = decode_statement(raw)
        if st.predicate_type in (PROVENANCE_V02, PROVENANCE_V1):
            return provenance_from(st)
        if "spdx" in st.predicate_type.lower() or "cyclonedx" in st.predicate_type.lower():
            return decode_sbom(raw)
        return st
    raise InvalidAttestation(f"no decoder for media type {media_type!r}", what="supply-chain document")


def open_row(client, ref: Any, row: Any) -> Any:
    """The decoded document of a supply_chain row (a dict or a DataFrame row)."""
    get = row.get if hasattr(row, "get") else (lambda k: row[k])
    ref = client.parse(ref)
    digest, media_type, type_hint = get("digest"), get("media_type") or "", get("type") or ""
    if not isinstance(digest, str) or not digest:
        # An error row (a document the registry no longer has), or a descriptor without a digest.
        raise InvalidAttestation(f"this row names no document to open ({get('error') or 'no digest'})",
                                 what="supply-chain row")
    if str(get("found") or "").startswith("referrers"):
        doc = client.manifest(ref.with_digest(digest))
        if not isinstance(doc, Manifest) or not doc.layers:
            return doc
        layer = doc.layers[0]
        raw = client.blob(ref, layer, limit=STATEMENT_LIMIT)
        return decode_document(raw, layer.media_type, f"{type_hint} {doc.artifact_type or ''}".strip())
    size = get("size")
    raw = client.blob(ref, Descriptor(media_type, digest, int(size) if size is not None else -1), limit=STATEMENT_LIMIT)
    return decode_document(raw, media_type, type_hint)
