"""The verification status of each signature row of the Supply chain tab, as `rx.verify_cosign` decides.

A signature row says one of three things, never just "signature":
- verified with key <key id> (verify_cosign accepted this very signature layer with the key given);
- not verified, and why (no public key given, another key or a changed payload, a valid signature of
  another digest, unreadable data);
- keyless: the Fulcio certificate and Rekor entry are shown, not verified offline (that needs the
  Sigstore trust roots and the network).
No ipywidgets here: the state computes the sentences, the view only shows them.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import RegistryExplorerError, SignatureError
from ..core.models import Manifest
from ..supply.cosign import decode_signature_manifest
from .labels import digest12

__all__ = ["KEYLESS", "NO_KEY", "signature_statuses"]

NO_KEY = "not verified: no public key given (rx.Explorer(client, ref, public_key=open('cosign.pub').read()))"
KEYLESS = "keyless: certificate and transparency-log entry shown, not verified offline"
# SignatureError.reason (supply/verify.py) in a student's words.
_REASONS = {
    "signature": "the signature does not match this key and payload (signed by another key, or the payload was "
                 "changed)",
    "digest": "a valid signature, but of another image digest",
    "malformed": "the signature data could not be decoded",
    "missing": "no signature found for this image",
    "key": "the public key is not an ECDSA P-256 key",
}


def _layer_index(client, pinned, manifest_digest: str, layer_digest: str) -> tuple[int | None, bool]:
    """(index of the payload layer in its signature manifest, whether it is keyless)."""
    try:
        doc = client.manifest(pinned.with_digest(manifest_digest))
        if not isinstance(doc, Manifest):
            return None, False
        layers = decode_signature_manifest(doc.raw).layers
    except RegistryExplorerError:
        return None, False
    for layer in layers:
        if layer.digest == layer_digest or manifest_digest == layer_digest:
            return layer.index, layer.certificate is not None
    return None, False


def _why(error: SignatureError, manifest_digest: str, index: int | None) -> str:
    """The part of verify_cosign's message about this layer, else its reason in words."""
    if index is not None:
        label = f"{manifest_digest} layer {index}: "
        for part in str(error).split("; "):
            at = part.find(label)
            if at >= 0:
                return part[at + len(label):]
    return _REASONS.get(getattr(error, "reason", ""), str(error))


def signature_statuses(client, pinned: Any, rows: list[dict], public_key: Any = None) -> None:
    """Add `verification` (a sentence) and `verified` to each signature row of `rows`, in place.

    `pinned` is the reference (by digest) whose supply chain the rows are. One verify_cosign call
    decides for every row, as `rx.verify_cosign(client, ref, key)` would.
    """
    signatures = [r for r in rows if r.get("kind") == "signature"]
    if not signatures:
        return
    verified, error = None, None
    if public_key is not None:
        from ..supply.verify import verify_cosign  # optional extra (verify): cosign verification needs cryptography

        try:
            verified = verify_cosign(client, pinned, public_key)
        except SignatureError as exc:
            error = exc
    for row in signatures:
        manifest, digest = row.get("manifest") or "", row.get("digest") or ""
        index, keyless = _layer_index(client, pinned, manifest, digest)
        row["verified"] = False
        if verified is not None and verified.signature_manifest == manifest and (
                verified.payload_digest == digest or manifest == digest):
            row["verified"] = True
            row["verification"] = f"verified with key {digest12(verified.key_id)} (signature manifest {digest12(manifest)})"
        elif keyless:
            row["verification"] = KEYLESS
        elif public_key is None:
            row["verification"] = NO_KEY
        elif verified is not None:
            row["verification"] = "not verified: another signature of this image verified with the key, not this one"
        else:
            row["verification"] = "not verified: " + _why(error, manifest, index)
