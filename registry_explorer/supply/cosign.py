"""Cosign: where signatures live (tag schema, OCI 1.1 referrers) and what they say (simple signing payload).

Tag schema: cosign stores the signatures of `sha256:<hex>` in the same repository under the tag
`sha256-<hex>.sig` (attestations `.att`, SBOMs `.sbom`); each layer of that manifest is a simple signing
payload (application/vnd.dev.cosign.simplesigning.v1+json) with the base64 signature in the annotation
`dev.cosignproject.cosign/signature`, and for keyless signing the Fulcio certificate, chain and Rekor
bundle in `dev.sigstore.cosign/*`. Payload format: containers/image docs/containers-signature.5.md.
Keyless (Fulcio/Rekor) verification needs the internet; here those fields are shown, not verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core import jsontext
from ..core.errors import InvalidAttestation
from ..core.extras import require
from ..core.reference import validate_digest
from ._doc import (
    CERTIFICATE_LIMIT,
    MANIFEST_DOC_LIMIT,
    SIMPLE_SIGNING_LIMIT,
    b64decode,
    check_size,
    compact,
    items,
    load_json,
    obj,
    text,
)
from ._doc import frame as _frame

__all__ = [
    "BUNDLE_ANNOTATION", "CERTIFICATE_ANNOTATION", "CHAIN_ANNOTATION", "SIGNATURE_ANNOTATION", "SIMPLE_SIGNING",
    "TAG_SUFFIXES", "CertificateInfo", "SignatureLayer", "SignatureManifest", "SimpleSigning", "certificate_info",
    "decode_signature_manifest", "decode_simple_signing", "tag_for",
]

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
# cosign's artifactType when it stores signatures as OCI 1.1 referrers (--registry-referrers-mode oci-1-1).
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
TAG_SUFFIXES = {"sig": "signature", "att": "attestation", "sbom": "sbom"}
# `critical.type` values: cosign's, and the one containers/image (podman, skopeo) writes.
SIGNATURE_TYPES = ("cosign container image signature", "atomic container signature")
LAYER_COLUMNS = ["index", "digest", "size", "media_type", "has_signature", "certificate_subject",
                 "certificate_issuer", "tlog_index", "tlog_integrated_time"]


def tag_for(digest: str, suffix: str = "sig") -> str:
    """The cosign tag-schema tag of a digest: `sha256-<hex>.sig` (or `.att`, `.sbom`)."""
    if suffix not in TAG_SUFFIXES:
        raise ValueError(f"suffix must be one of {', '.join(TAG_SUFFIXES)}, not {suffix!r}")
    return validate_digest(digest).replace(":", "-", 1) + "." + suffix


@dataclass(frozen=True)
class SimpleSigning:
    """A simple signing payload: the manifest digest it vouches for, identity and optional annotations."""
    raw: bytes = field(repr=False)
    docker_manifest_digest: str
    docker_reference: str
    type: str
    optional: dict[str, Any]

    def frame(self):
        """One row per field (critical.* then optional.*): field, value."""
        rows = [{"field": "critical.image.docker-manifest-digest", "value": self.docker_manifest_digest},
                {"field": "critical.identity.docker-reference", "value": self.docker_reference},
                {"field": "critical.type", "value": self.type}]
        rows += [{"field": f"optional.{k}", "value": compact(v)} for k, v in sorted(self.optional.items())]
        return _frame(rows, ["field", "value"])

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from .cards import frame_html  # display hook: supply/cards.py imports the decoders (a cycle at import time)

        return frame_html("cosign simple signing payload", self.frame())


def decode_simple_signing(raw: Any, *, limit: int = SIMPLE_SIGNING_LIMIT) -> SimpleSigning:
    """The simple signing payload; `critical.image.docker-manifest-digest` must be a valid digest."""
    what = "simple signing payload"
    data, doc = load_json(raw, limit, what)
    critical = doc.get("critical")
    if not isinstance(critical, dict):
        raise InvalidAttestation("has no 'critical' object", what=what)
    digest = text(obj(critical.get("image")).get("docker-manifest-digest"))
    if digest is None:
        raise InvalidAttestation("critical.image.docker-manifest-digest is missing", what=what)
    try:
        validate_digest(digest)
    except ValueError:
        raise InvalidAttestation("critical.image.docker-manifest-digest is not a valid digest", what=what) from None
    sig_type = text(critical.get("type")) or ""
    if sig_type not in SIGNATURE_TYPES:
        raise InvalidAttestation(f"critical.type {sig_type!r} is not a container image signature", what=what)
    return SimpleSigning(raw=data, docker_manifest_digest=digest,
                         docker_reference=text(obj(critical.get("identity")).get("docker-reference")) or "",
                         type=sig_type, optional=obj(doc.get("optional")))


@dataclass(frozen=True)
class CertificateInfo:
    """What a Fulcio (or any X.509) certificate says; shown, not verified (that needs the Fulcio roots)."""
    subject: str
    issuer: str
    san: tuple[str, ...]
    oidc_issuer: str
    not_before: str
    not_after: str


# Fulcio's OIDC issuer extensions: 1.3.6.1.4.1.57264.1.1 (raw string, old) and .1.8 (DER UTF8String).
_OIDC_ISSUER_OIDS = ("1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.1")


def certificate_info(pem: Any) -> CertificateInfo:
    """Subject, issuer, SANs, OIDC issuer and validity of a PEM certificate (needs the `verify` extra)."""
    data = check_size(pem, CERTIFICATE_LIMIT, "certificate")
    x509 = require("cryptography.x509", "verify", "reading cosign certificates")
    try:
        cert = x509.load_pem_x509_certificate(data)
        sans: list[str] = []
        issuer_ext = ""
        for ext in cert.extensions:
            if isinstance(ext.value, x509.SubjectAlternativeName):
                sans = [str(v) for v in ext.value.get_values_for_type(x509.RFC822Name)]
                sans += [str(v) for v in ext.value.get_values_for_type(x509.UniformResourceIdentifier)]
            elif ext.oid.dotted_string in _OIDC_ISSUER_OIDS and not issuer_ext:
                value = ext.value.value if hasattr(ext.value, "value") else b""
                # .1.8 wraps the URL in a DER UTF8String (tag 0x0c, short length); .1.1 is the raw string.
                if value[:1] == b"\x0c" and len(value) > 2 and value[1] == len(value) - 2:
                    value = value[2:]
                issuer_ext = value.decode("utf-8", "replace")
        return CertificateInfo(subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                               san=tuple(sans), oidc_issuer=issuer_ext,
                               not_before=cert.not_valid_before_utc.isoformat(),
                               not_after=cert.not_valid_after_utc.isoformat())
    except (ValueError, TypeError) as exc:
        raise InvalidAttestation(f"not a PEM X.509 certificate: {str(exc)[:120]}", what="certificate") from None


@dataclass(frozen=True)
class SignatureLayer:
    """One cosign signature layer: payload descriptor, signature, and keyless fields when present."""
    index: int
    digest: str
    size: int
    media_type: str
    signature: bytes | None = field(repr=False)
    certificate: str | None = field(repr=False)
    chain: str | None = field(repr=False)
    bundle: dict = field(repr=False, default_factory=dict)

    @property
    def tlog(self) -> dict[str, Any]:
        """The Rekor bundle's transparency-log fields (logIndex, integratedTime, logID); not verified offline."""
        payload = obj(self.bundle.get("Payload"))
        return {k: payload.get(k) for k in ("logIndex", "integratedTime", "logID") if k in payload}


@dataclass(frozen=True)
class SignatureManifest:
    """The manifest under a `.sig` tag (or a cosign referrer); `.raw` its bytes."""
    raw: bytes = field(repr=False)
    layers: tuple[SignatureLayer, ...]

    def frame(self):
        """One row per signature layer; certificate columns are empty for key-based signatures."""
        rows = []
        for layer in self.layers:
            cert = None
            if layer.certificate:
                try:
                    cert = certificate_info(layer.certificate)
                except InvalidAttestation:
                    cert = None
            tlog = layer.tlog
            rows.append({"index": layer.index, "digest": layer.digest, "size": layer.size,
                         "media_type": layer.media_type, "has_signature": layer.signature is not None,
                         "certificate_subject": cert.subject if cert else "",
                         "certificate_issuer": (cert.oidc_issuer or cert.issuer) if cert else "",
                         "tlog_index": tlog.get("logIndex"), "tlog_integrated_time": tlog.get("integratedTime")})
        return _frame(rows, LAYER_COLUMNS)

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter (keyless fields are shown, not verified offline)."""
        from .cards import frame_html  # display hook: supply/cards.py imports the decoders (a cycle at import time)

        return frame_html("cosign signatures", self.frame())


def _bundle(value: Any) -> dict:
    if not isinstance(value, str):
        return {}
    try:
        doc = jsontext.loads(value)
    except ValueError:
        raise InvalidAttestation("the Rekor bundle annotation is not JSON", what="cosign signature") from None
    return doc if isinstance(doc, dict) else {}


def decode_signature_manifest(raw: Any, *, limit: int = MANIFEST_DOC_LIMIT) -> SignatureManifest:
    """The layers of a cosign signature manifest with their signatures (base64-decoded) and keyless fields."""
    what = "cosign signature manifest"
    data, doc = load_json(raw, limit, what)
    layers = []
    for i, layer in enumerate(items(doc.get("layers"), what + " layers")):
        if not isinstance(layer, dict):
            raise InvalidAttestation(f"layers[{i}] is not an object", what=what)
        ann = obj(layer.get("annotations"))
        sig = ann.get(SIGNATURE_ANNOTATION)
        size = layer.get("size")
        layers.append(SignatureLayer(
            index=i, digest=text(layer.get("digest")) or "",
            size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else -1,
            media_type=text(layer.get("mediaType")) or "",
            signature=b64decode(sig, f"{what} layers[{i}] signature") if sig is not None else None,
            certificate=text(ann.get(CERTIFICATE_ANNOTATION)), chain=text(ann.get(CHAIN_ANNOTATION)),
            bundle=_bundle(ann.get(BUNDLE_ANNOTATION))))
    return SignatureManifest(raw=data, layers=tuple(layers))
