"""rx.verify_cosign: check a key-based cosign signature offline (ECDSA P-256 over the simple signing payload).

What cosign's `verify --key` checks, minus the transparency log: the signature (base64 in the layer's
`dev.cosignproject.cosign/signature` annotation) is ECDSA-SHA256 by the key over the payload blob's exact
bytes, and the payload's `critical.image.docker-manifest-digest` is the digest the reference resolves to
(otherwise a valid signature of some other image would pass). Keyless signatures (Fulcio certificate,
Rekor bundle) need the Sigstore roots and the internet: they are shown by `supply_chain`, never reported
as verified here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidAttestation, NotFound, RegistryExplorerError, SignatureError
from ..core.extras import require
from ..core.models import Descriptor, Manifest
from ._doc import SIMPLE_SIGNING_LIMIT
from .cosign import SIGNATURE_ARTIFACT_TYPE, SimpleSigning, decode_signature_manifest, decode_simple_signing, tag_for

__all__ = ["KEYLESS_NOTE", "VerifiedSignature", "find_signatures", "load_public_key", "verify_cosign", "verify_payload"]

KEYLESS_NOTE = ("keyless signature (Fulcio certificate / Rekor entry): shown, NOT verified offline; "
                "verifying it needs the Sigstore trust roots and the internet (cosign verify --certificate-identity ...)")


@dataclass(frozen=True)
class VerifiedSignature:
    """What verify_cosign checked: which image digest, which signature layer, which key, how it was found."""

    reference: str
    digest: str
    signature_manifest: str
    payload_digest: str
    layer: int
    key_id: str
    found: str
    payload: SimpleSigning = field(repr=False)


def load_public_key(public_key: Any):
    """An ECDSA P-256 public key from PEM (str/bytes) or a `cryptography` key object; SignatureError otherwise."""
    serialization = require("cryptography.hazmat.primitives.serialization", "verify", "cosign signature verification")
    ec = require("cryptography.hazmat.primitives.asymmetric.ec", "verify", "cosign signature verification")
    key = public_key
    if isinstance(public_key, str):
        key = public_key.encode()
    if isinstance(key, (bytes, bytearray)):
        try:
            key = serialization.load_pem_public_key(bytes(key))
        except (ValueError, TypeError) as exc:
            raise SignatureError(f"the public key is not a PEM public key: {exc}", reason="key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureError("cosign key-based signatures use ECDSA P-256; this key is not one", reason="key")
    return key


def _key_id(key) -> str:
    serialization = require("cryptography.hazmat.primitives.serialization", "verify", "cosign signature verification")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def verify_payload(key, payload: bytes, signature: bytes) -> bool:
    """True when `signature` (DER ECDSA) is the key's signature over `payload` with SHA-256."""
    ec = require("cryptography.hazmat.primitives.asymmetric.ec", "verify", "cosign signature verification")
    hashes = require("cryptography.hazmat.primitives.hashes", "verify", "cosign signature verification")
    exceptions = require("cryptography.exceptions", "verify", "cosign signature verification")
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (exceptions.InvalidSignature, ValueError):
        return False
    return True


def find_signatures(client, ref, digest: str) -> list[tuple[str, Manifest]]:
    """The cosign signature manifests of `digest`: the `.sig` tag, then OCI 1.1 referrers of cosign's type."""
    out: list[tuple[str, Manifest]] = []
    try:
        doc = client.manifest(ref.with_tag(tag_for(digest, "sig")))
        if isinstance(doc, Manifest):
            out.append(("tag schema", doc))
    except NotFound:
        pass
    try:
        descs = client.referrers(ref.with_digest(digest), artifact_type=SIGNATURE_ARTIFACT_TYPE)
    except NotFound:
        descs = []
    for d in descs:
        doc = client.manifest(ref.with_digest(d.digest), descriptor=d)
        if isinstance(doc, Manifest):
            out.append(("referrers", doc))
    return out


def verify_cosign(client, ref: Any, public_key: Any) -> VerifiedSignature:
    """Verify a key-based cosign signature of `ref`; returns what was verified or raises SignatureError.

    `.reason` of the error: "key" (not an ECDSA P-256 key), "missing" (no signature found),
    "signature" (no signature verifies with this key: another key, or a changed payload),
    "digest" (a valid signature, but of another digest), "malformed" (undecodable signature data).
    """
    key = load_public_key(public_key)
    ref = client.parse(ref)
    digest = ref.digest or client.resolve(ref).digest
    where = f"{ref.name}@{digest}"
    found = find_signatures(client, ref, digest)
    if not found:
        raise SignatureError(f"no cosign signature for {where} (no tag {tag_for(digest)}, no signature referrer)",
                             reason="missing", reference=where)
    failures: list[tuple[str, str]] = []
    for how, manifest in found:
        try:
            layers = decode_signature_manifest(manifest.raw).layers
        except RegistryExplorerError as exc:
            failures.append(("malformed", f"{manifest.digest}: {exc}"))
            continue
        for layer in layers:
            label = f"{manifest.digest} layer {layer.index}"
            if layer.signature is None:
                failures.append(("signature", f"{label}: no signature annotation"
                                 + ("; " + KEYLESS_NOTE if layer.certificate else "")))
                continue
            try:
                payload_raw = client.blob(ref, Descriptor(layer.media_type, layer.digest, layer.size),
                                          limit=SIMPLE_SIGNING_LIMIT)
            except RegistryExplorerError as exc:
                failures.append(("malformed", f"{label}: payload not readable: {exc}"))
                continue
            if not verify_payload(key, payload_raw, layer.signature):
                failures.append(("signature", f"{label}: the signature does not match this key and payload "
                                 "(signed by another key, or the payload was changed)"))
                continue
            try:
                payload = decode_simple_signing(payload_raw)
            except InvalidAttestation as exc:
                failures.append(("malformed", f"{label}: {exc}"))
                continue
            if payload.docker_manifest_digest != digest:
                failures.append(("digest", f"{label}: the signed payload names {payload.docker_manifest_digest}, "
                                 f"but {ref} resolves to {digest}"))
                continue
            return VerifiedSignature(reference=str(ref), digest=digest, signature_manifest=manifest.digest,
                                     payload_digest=layer.digest, layer=layer.index, key_id=_key_id(key),
                                     found=how, payload=payload)
    # The most telling failure first: a valid signature of the wrong image beats "did not verify".
    order = {"digest": 0, "signature": 1, "malformed": 2}
    failures.sort(key=lambda f: order.get(f[0], 3))
    reason = failures[0][0] if failures else "missing"
    detail = "; ".join(msg for _, msg in failures) or "the signature manifests have no layers"
    raise SignatureError(f"cosign signature of {where} not verified: {detail}", reason=reason, reference=where)
