"""A signed sample with its supply chain: cosign signature, SLSA v1 provenance, SPDX and CycloneDX SBOMs.

`demo/signed:1.0` is an OCI index holding one linux/amd64 image and a BuildKit-style attestation
manifest (unknown/unknown, vnd.docker.reference.*) whose layers are the plain in-toto statements
BuildKit writes. The image manifest also has three OCI 1.1 referrers (subject = the image): the
provenance in a DSSE envelope, an SPDX SBOM and a CycloneDX SBOM. distribution 2.8 has no referrers
API, so they are listed in the referrers tag-schema index `sha256-<hex>`, as oras and regctl keep it.
The index is signed the way `cosign sign --key` does it: a `.sig` tag holding the simple signing payload.

Everything is deterministic: the key is derived from a fixed seed, and the signatures use RFC 6979
deterministic nonces where the installed cryptography/OpenSSL offers them (else the signature bytes,
and the digests of the manifests holding them, change per run). It is a teaching key for a
loopback sandbox, published on purpose: never trust it for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from ..core.errors import MissingExtra
from ..core.extras import require
from ..supply.cosign import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, tag_for
from ..supply.dsse import DSSE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE, pae
from .push import _Client, push_image
from .samples import (
    CREATED,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    SPDX_JSON,
    Blob,
    Entry,
    TestImage,
    dumps,
    gzip_bytes,
    make_tar,
    sha256,
)

__all__ = ["REPOSITORY", "TAG", "build_supply", "public_key_pem", "seed", "sign_payload", "signature_manifest",
           "signing_key", "simple_signing_payload"]

REPOSITORY = "demo/signed"
TAG = "1.0"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
# The fixed seed of the sandbox key (see the module docstring: a published teaching key).
KEY_SEED = b"registry-explorer sandbox cosign key v1"
# The identity written into the payload: the repository without host, because the sandbox's port
# changes each run and the payload (hence its digest) should not.
IDENTITY = REPOSITORY


def _crypto():
    return (require("cryptography.hazmat.primitives.asymmetric.ec", "verify", "the signed sandbox sample"),
            require("cryptography.hazmat.primitives.hashes", "verify", "the signed sandbox sample"),
            require("cryptography.hazmat.primitives.serialization", "verify", "the signed sandbox sample"))


def signing_key(seed: bytes = KEY_SEED):
    """The sandbox's ECDSA P-256 private key, derived from `seed` (same key every run)."""
    ec, _, _ = _crypto()
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # the P-256 group order
    scalar = int.from_bytes(hashlib.sha256(seed).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def public_key_pem(key=None) -> bytes:
    """The PEM public key that verifies the sandbox signatures (what `cosign.pub` holds)."""
    _, _, ser = _crypto()
    key = key or signing_key()
    return key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)


def _ecdsa():
    ec, hashes, _ = _crypto()
    try:  # RFC 6979 nonces: the same bytes signed twice give the same signature (reproducible notebook)
        return ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    except TypeError:  # cryptography < 44
        return ec.ECDSA(hashes.SHA256())


def _sign(key, data: bytes) -> bytes:
    from cryptography.exceptions import UnsupportedAlgorithm  # optional extra (verify): cryptography signs the sample

    try:
        return key.sign(data, _ecdsa())
    except UnsupportedAlgorithm:  # the OpenSSL underneath lacks RFC 6979 (before 3.2)
        ec, hashes, _ = _crypto()
        return key.sign(data, ec.ECDSA(hashes.SHA256()))


def sign_payload(payload: bytes, key=None) -> str:
    """Base64 DER ECDSA-SHA256 signature of `payload`, as cosign puts it in the signature annotation."""
    return base64.b64encode(_sign(key or signing_key(), payload)).decode()


def simple_signing_payload(digest: str, identity: str = IDENTITY, optional: dict | None = None) -> Blob:
    """The simple signing payload cosign signs for `digest`."""
    doc = {"critical": {"identity": {"docker-reference": identity}, "image": {"docker-manifest-digest": digest},
                        "type": "cosign container image signature"}, "optional": optional}
    return Blob(SIMPLE_SIGNING, dumps(doc))


def signature_manifest(payload: Blob, signature_b64: str) -> tuple[Blob, Blob]:
    """(config, manifest) of a cosign `.sig` manifest with one signed payload layer."""
    config = Blob(OCI_CONFIG, dumps({"architecture": "", "os": "", "config": {},
                                     "rootfs": {"type": "layers", "diff_ids": [payload.digest]}}))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                "layers": [payload.descriptor(annotations={SIGNATURE_ANNOTATION: signature_b64})]}
    return config, Blob(OCI_MANIFEST, dumps(manifest))


def _image() -> tuple[Blob, list[Blob]]:
    tar = make_tar([Entry("etc", "dir"), Entry("etc/signed-release", data=b"signed sample 1.0\n")])
    layer = Blob(OCI_LAYER_GZIP, gzip_bytes(tar))
    config = Blob(OCI_CONFIG, dumps({
        "created": CREATED, "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        "history": [{"created": CREATED, "created_by": "ADD signed-release /etc/ # buildkit"}]}))
    manifest = Blob(OCI_MANIFEST, dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                                         "layers": [layer.descriptor()]}))
    return manifest, [config, layer]


def _statement(predicate_type: str, predicate: dict, image: Blob) -> dict:
    return {"_type": "https://in-toto.io/Statement/v1", "predicateType": predicate_type,
            "subject": [{"name": f"pkg:docker/{REPOSITORY}@{TAG}?platform=linux%2Famd64",
                         "digest": {"sha256": image.hex}}], "predicate": predicate}


def _provenance(image: Blob, layers: list[Blob]) -> dict:
    return {"buildDefinition": {
        "buildType": "https://registry-explorer.invalid/sandbox-build/v1",
        "externalParameters": {"source": "https://example.invalid/signed.git", "ref": "refs/tags/v1.0",
                               "dockerfile": "Dockerfile"},
        "internalParameters": {"builder-version": "1.0"},
        "resolvedDependencies": [{"uri": "git+https://example.invalid/signed.git@refs/tags/v1.0", "name": "source",
                                  "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}},
                                 {"uri": "pkg:docker/scratch", "name": "base", "digest": {}},
                                 *[{"uri": f"layer:{b.digest}", "digest": {"sha256": b.hex}} for b in layers[1:]]]},
        "runDetails": {"builder": {"id": "https://registry-explorer.invalid/sandbox-builder"},
                       "metadata": {"invocationId": "sandbox-1", "startedOn": CREATED, "finishedOn": CREATED}}}


PACKAGES = [("busybox", "1.36.1", "GPL-2.0-only", "Organization: BusyBox"),
            ("musl", "1.2.4", "MIT", "Organization: musl libc"),
            ("ca-certificates", "20240226", "MPL-2.0 AND MIT", "Organization: Mozilla")]


def _spdx() -> dict:
    pkgs = [{"SPDXID": f"SPDXRef-Package-{n}", "name": n, "versionInfo": v, "supplier": s, "downloadLocation": "NOASSERTION",
             "licenseConcluded": lic, "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                                        "referenceLocator": f"pkg:apk/sandbox/{n}@{v}"}]}
            for n, v, lic, s in PACKAGES]
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
             "relatedSpdxElement": "SPDXRef-Package-busybox"}]
    rels += [{"spdxElementId": "SPDXRef-Package-busybox", "relationshipType": "DEPENDS_ON",
              "relatedSpdxElement": f"SPDXRef-Package-{n}"} for n, *_ in PACKAGES[1:]]
    return {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": f"{REPOSITORY}:{TAG}",
            "documentNamespace": "https://example.invalid/spdx/demo-signed-1.0",
            "creationInfo": {"created": CREATED, "creators": ["Tool: registry-explorer-sandbox"]},
            "packages": pkgs, "relationships": rels}


def _cyclonedx() -> dict:
    comps = [{"bom-ref": f"pkg:apk/sandbox/{n}@{v}", "type": "library", "name": n, "version": v,
              "purl": f"pkg:apk/sandbox/{n}@{v}", "supplier": {"name": s.split(": ", 1)[-1]},
              "licenses": [{"expression": lic}] if " " in lic else [{"license": {"id": lic}}]} for n, v, lic, s in PACKAGES]
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
            "serialNumber": "urn:uuid:00000000-0000-4000-8000-000000000001",
            "metadata": {"timestamp": CREATED, "component": {"type": "container", "name": f"{REPOSITORY}:{TAG}"}},
            "components": comps,
            "dependencies": [{"ref": comps[0]["bom-ref"], "dependsOn": [c["bom-ref"] for c in comps[1:]]}]}


def _artifact(artifact_type: str, layer: Blob, subject: Blob, annotations: dict) -> Blob:
    empty = Blob(OCI_EMPTY, b"{}")
    return Blob(OCI_MANIFEST, dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                                     "config": empty.descriptor(), "layers": [layer.descriptor()],
                                     "subject": subject.descriptor(), "annotations": annotations}))


def build_supply(key=None) -> TestImage:
    """The signed sample with its attestations and SBOMs, ready for push_image (see the module docstring)."""
    key = key or signing_key()
    image, image_blobs = _image()
    provenance = _statement(PROVENANCE_V1, _provenance(image, image_blobs), image)
    prov_layer = Blob("application/vnd.in-toto+json", dumps(provenance))
    spdx_doc = _spdx()
    spdx_layer = Blob("application/vnd.in-toto+json", dumps(_statement("https://spdx.dev/Document", spdx_doc, image)))
    att_config = Blob(OCI_CONFIG, dumps({"architecture": "unknown", "os": "unknown", "config": {},
                                         "rootfs": {"type": "layers", "diff_ids": [spdx_layer.digest, prov_layer.digest]}}))
    attestation = Blob(OCI_MANIFEST, dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": att_config.descriptor(),
                                            "layers": [spdx_layer.descriptor(annotations={PREDICATE_ANNOTATION: "https://spdx.dev/Document"}),
                                                       prov_layer.descriptor(annotations={PREDICATE_ANNOTATION: PROVENANCE_V1})]}))
    index = Blob(OCI_INDEX, dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        image.descriptor(platform={"architecture": "amd64", "os": "linux"}),
        attestation.descriptor(annotations={"vnd.docker.reference.digest": image.digest,
                                            "vnd.docker.reference.type": "attestation-manifest"},
                               platform={"architecture": "unknown", "os": "unknown"})]}))
    # Referrers of the image: provenance in DSSE (signed with the same key over PAE), and the two SBOMs.
    payload = dumps(provenance)
    sig = base64.b64encode(_sign(key, pae(IN_TOTO_PAYLOAD_TYPE, payload)))
    envelope = Blob(DSSE_MEDIA_TYPE, dumps({"payloadType": IN_TOTO_PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
                                            "signatures": [{"keyid": "", "sig": sig.decode()}]}))
    spdx_blob = Blob(SPDX_JSON, dumps(spdx_doc))
    cdx_blob = Blob(CYCLONEDX_JSON, dumps(_cyclonedx()))
    referrers = [_artifact(DSSE_MEDIA_TYPE, envelope, image, {PREDICATE_ANNOTATION: PROVENANCE_V1,
                                                              "org.opencontainers.image.created": CREATED}),
                 _artifact(SPDX_JSON, spdx_blob, image, {"org.opencontainers.image.created": CREATED}),
                 _artifact(CYCLONEDX_JSON, cdx_blob, image, {"org.opencontainers.image.created": CREATED})]
    tag_index = Blob(OCI_INDEX, dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        r.descriptor(artifactType=r.json()["artifactType"], annotations=r.json()["annotations"]) for r in referrers]}))
    payload_blob = simple_signing_payload(index.digest)
    sig_config, sig_manifest = signature_manifest(payload_blob, sign_payload(payload_blob.data, key))
    plain = [*image_blobs, att_config, spdx_layer, prov_layer, envelope, spdx_blob, cdx_blob, Blob(OCI_EMPTY, b"{}"),
             payload_blob, sig_config]
    manifests = [image, attestation, index, *referrers, tag_index, sig_manifest]
    order = [(image.digest, image), (attestation.digest, attestation), (TAG, index),
             *[(r.digest, r) for r in referrers], (image.digest.replace(":", "-", 1), tag_index),
             (tag_for(index.digest, "sig"), sig_manifest)]
    return TestImage(name="signed", repository=REPOSITORY, tag=TAG, root=index,
                     blobs={b.digest: b for b in (*plain, *manifests)}, push_order=order,
                     extra={"image": image, "attestation": attestation, "referrers": referrers, "payload": payload_blob,
                            "signature_manifest": sig_manifest, "envelope": envelope, "spdx": spdx_blob,
                            "cyclonedx": cdx_blob, "provenance": provenance})


def push_signature(url: str, digest: str, payload: Blob, signature_b64: str, *, repository: str = REPOSITORY,
                   auth=None, verify: Any = True) -> str:
    """Push (or replace) the `.sig` manifest of `digest` with one payload and signature; returns its digest."""
    config, manifest = signature_manifest(payload, signature_b64)
    client = _Client(url, repository, auth=auth, verify=verify, session=None)
    for blob in (payload, config):
        if not client.blob_exists(blob.digest):
            client.upload_blob(blob)
    client.put_manifest(tag_for(digest, "sig"), manifest)
    return manifest.digest


def seed(url: str, *, auth=None, verify: Any = True) -> dict[str, str]:
    """Push the signed sample to the registry at `url`; returns {"signed": "<host>/demo/signed:1.0"}."""
    push_image(url, build_supply(), auth=auth, verify=verify)
    return {"signed": f"{url.split('://', 1)[1]}/{REPOSITORY}:{TAG}"}



def seed_optional(url: str, **kw: Any) -> dict[str, str]:
    """`seed`, or nothing (with a warning) when the `verify` extra (cryptography) is not installed."""
    try:
        return seed(url, **kw)
    except MissingExtra as exc:
        logging.getLogger(__name__).warning("sandbox: no signed sample: %s", exc)
        return {}
