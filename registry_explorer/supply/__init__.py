"""Supply-chain documents decoded: DSSE/in-toto, SLSA provenance, BuildKit attestations, SBOMs, cosign.

Every decoder is a pure function from bytes to a model that keeps `.raw` and offers `.frame()`
(a DataFrame); each refuses input over a named limit (`_doc`), and raises only
rx.InvalidAttestation or rx.TooLarge. Fetching lives in `chain` (supply_chain rows) and `verify`
(rx.verify_cosign).
"""

from __future__ import annotations

from ._doc import (
    CERTIFICATE_LIMIT,
    MANIFEST_DOC_LIMIT,
    ROWS_LIMIT,
    SBOM_LIMIT,
    SIMPLE_SIGNING_LIMIT,
    STATEMENT_LIMIT,
)
from .buildkit import decode_attestation_manifest, decode_index_attestations, kind_of_predicate
from .cosign import certificate_info, decode_signature_manifest, decode_simple_signing, tag_for
from .dsse import decode_envelope, decode_statement, pae
from .sbom import decode_sbom
from .slsa import decode_provenance

__all__ = [
    "CERTIFICATE_LIMIT", "MANIFEST_DOC_LIMIT", "ROWS_LIMIT", "SBOM_LIMIT", "SIMPLE_SIGNING_LIMIT", "STATEMENT_LIMIT",
    "certificate_info", "decode_attestation_manifest", "decode_envelope", "decode_index_attestations",
    "decode_provenance", "decode_sbom", "decode_signature_manifest", "decode_simple_signing", "decode_statement",
    "kind_of_predicate", "pae", "tag_for",
]
