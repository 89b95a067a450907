"""The supply-chain decoders on real Docker Hub / BuildKit documents and on spec-shaped samples."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer import supply
from registry_explorer.supply import _doc

REAL = Path(__file__).parent / "fixtures" / "real"
ALPINE_INDEX = REAL / "index" / "dockerhub-alpine-3.23.2-oci-index-attestations.json"
ALPINE_ATTESTATION = REAL / "artifact" / "dockerhub-alpine-3.23.2-amd64-attestation-manifest.json"
ALPINE_AMD64 = "sha256:1882fa4569e0c591ea092d3766c4893e19b8901a8e649de7067188aba3cc0679"


def test_all_eight_alpine_attestations_link_to_their_images():
    raw = ALPINE_INDEX.read_bytes()
    links = supply.decode_index_attestations(raw)
    assert links.raw == raw
    index = json.loads(raw)
    images = {m["digest"]: m["platform"] for m in index["manifests"] if m["platform"]["os"] != "unknown"}
    assert len(links.links) == 8 and len(images) == 8
    assert {lk.subject_digest for lk in links.links} == set(images)
    for lk in links.links:
        assert lk.linked and lk.reference_type == "attestation-manifest"
        p = images[lk.subject_digest]
        assert lk.subject_platform == "/".join(x for x in (p["os"], p["architecture"], p.get("variant")) if x)
    assert links.subject_of("sha256:f9fd905ebc9c0e5e6dac67fb89753e85b7b831273995bdca248ba4cb74ba2dc9") == ALPINE_AMD64
    df = links.frame()
    assert list(df.columns) == supply.buildkit.LINK_COLUMNS and df["linked"].all()


def test_alpine_attestation_layers_identified_by_predicate_type():
    am = supply.decode_attestation_manifest(ALPINE_ATTESTATION.read_bytes())
    assert [(x.kind, x.predicate_type, x.size) for x in am.layers] == [
        ("sbom", "https://spdx.dev/Document", 79649), ("provenance", "https://slsa.dev/provenance/v0.2", 5639)]
    assert am.frame()["kind"].tolist() == ["sbom", "provenance"]


def test_builder_reference_entries_are_not_attestations():
    raw = (REAL / "index" / "regclient-buildx-index-builder-reference-entries.json").read_bytes()
    assert supply.decode_index_attestations(raw).links == ()


def test_buildkit_sbom_statement_decodes_as_statement_and_sbom():
    raw = (REAL / "artifact" / "buildkit-0.15-sbom-intoto-statement.json").read_bytes()
    st = supply.decode_statement(raw)
    assert st.version == "v0.1" and st.predicate_type == "https://spdx.dev/Document" and st.raw == raw
    assert st.frame()["digest"].tolist() == ["sha256:7ae6b41655929ad8e1848064874a98ac3f68884996c79907f6525e3045f75390"]
    sb = supply.decode_sbom(raw)
    assert sb.format == "spdx" and sb.spec_version == "SPDX-2.3" and sb.raw == raw
    assert sb.frame()["name"].tolist() == ["sbom"]
    assert sb.relationships_frame().to_dict("records") == [
        {"source": "SPDXRef-DOCUMENT", "type": "DESCRIBES", "target": "SPDXRef-DocumentRoot-Directory-sbom"}]


def _envelope(statement: dict, payload_type: str = supply.dsse.IN_TOTO_PAYLOAD_TYPE) -> bytes:
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps({"payloadType": payload_type, "payload": payload,
                       "signatures": [{"keyid": "k1", "sig": base64.b64encode(b"sig").decode()}]}).encode()


V02 = {"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://slsa.dev/provenance/v0.2",
       "subject": [{"name": "img", "digest": {"sha256": "ab" * 32}}],
       "predicate": {"builder": {"id": "https://github.com/docker/buildx@v0.12"}, "buildType": "https://mobyproject.org/buildkit@v1",
                     "invocation": {"parameters": {"frontend": "dockerfile.v0"}, "configSource": {"entryPoint": "Dockerfile"}},
                     "materials": [{"uri": "pkg:docker/alpine@3.19", "digest": {"sha256": "cd" * 32}}]}}
V1 = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
      "subject": [{"name": "img", "digest": {"sha256": "ab" * 32}}],
      "predicate": {"buildDefinition": {"buildType": "https://example.invalid/build/v1",
                                        "externalParameters": {"repository": "https://example.invalid/r", "ref": "main"},
                                        "resolvedDependencies": [{"uri": "git+https://example.invalid/r", "name": "src",
                                                                  "digest": {"gitCommit": "1" * 40}}]},
                    "runDetails": {"builder": {"id": "https://example.invalid/builder"}, "metadata": {"invocationId": "7"}}}}


def test_slsa_v02_plain_and_v1_in_dsse():
    p = supply.decode_provenance(json.dumps(V02).encode())
    assert (p.version, p.builder_id, p.build_type) == ("v0.2", "https://github.com/docker/buildx@v0.12",
                                                       "https://mobyproject.org/buildkit@v1")
    assert p.frame().to_dict("records") == [{"uri": "pkg:docker/alpine@3.19", "name": "", "algorithm": "sha256",
                                             "digest": "sha256:" + "cd" * 32}]
    assert {"section": "invocation.parameters", "key": "frontend", "value": "dockerfile.v0"} in \
        p.parameters_frame().to_dict("records")
    env = _envelope(V1)
    p1 = supply.decode_provenance(env)
    assert p1.version == "v1" and p1.builder_id == "https://example.invalid/builder" and p1.raw == env
    assert p1.statement.envelope.signatures[0].keyid == "k1"
    assert p1.frame()["digest"].tolist() == ["gitCommit:" + "1" * 40]
    assert p1.parameters_frame().query("key == 'ref'")["value"].tolist() == ["main"]


def test_dsse_payload_type_is_checked_and_pae_is_the_spec_encoding():
    with pytest.raises(rx.InvalidAttestation, match="payloadType"):
        supply.decode_statement(_envelope(V1, payload_type="text/plain"))
    assert supply.pae("t", b"ab") == b"DSSEv1 1 t 2 ab"
    with pytest.raises(rx.InvalidAttestation, match="_type"):
        supply.decode_statement(json.dumps({**V1, "_type": "https://in-toto.io/Statement/v9"}).encode())
    with pytest.raises(rx.InvalidAttestation, match="not SLSA"):
        supply.decode_provenance(json.dumps({**V1, "predicateType": "https://spdx.dev/Document"}).encode())


@pytest.mark.parametrize("version", ["1.4", "1.5", "1.6"])
def test_cyclonedx_components_nested_licences_and_dependencies(version):
    bom = {"bomFormat": "CycloneDX", "specVersion": version, "metadata": {"component": {"name": "app"}},
           "components": [{"bom-ref": "a", "name": "openssl", "version": "3.1", "purl": "pkg:apk/openssl@3.1",
                           "licenses": [{"license": {"id": "Apache-2.0"}}], "supplier": {"name": "Alpine"},
                           "components": [{"bom-ref": "b", "name": "libcrypto", "licenses": [{"expression": "MIT OR X11"}]}]}],
           "dependencies": [{"ref": "a", "dependsOn": ["b"]}]}
    sb = supply.decode_sbom(json.dumps(bom).encode())
    assert (sb.format, sb.spec_version, sb.name) == ("cyclonedx", version, "app")
    assert sb.frame()[["name", "version", "purl", "license", "supplier"]].values.tolist() == [
        ["openssl", "3.1", "pkg:apk/openssl@3.1", "Apache-2.0", "Alpine"], ["libcrypto", "", "", "MIT OR X11", ""]]
    assert sb.relationships_frame().values.tolist() == [["a", "DEPENDS_ON", "b"]]


def test_unsupported_sbom_versions_are_refused():
    with pytest.raises(rx.InvalidAttestation, match="1.3"):
        supply.decode_sbom(b'{"bomFormat":"CycloneDX","specVersion":"1.3"}')
    with pytest.raises(rx.InvalidAttestation, match="SPDX-2.2"):
        supply.decode_sbom(b'{"spdxVersion":"SPDX-2.2"}')


def test_spdx_purl_licence_supplier():
    doc = {"spdxVersion": "SPDX-2.3", "name": "x", "packages": [
        {"SPDXID": "p1", "name": "musl", "versionInfo": "1.2.4", "supplier": "Organization: Alpine",
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "MIT",
         "externalRefs": [{"referenceType": "cpe23Type", "referenceLocator": "cpe"},
                          {"referenceType": "purl", "referenceLocator": "pkg:apk/alpine/musl@1.2.4"}]}]}
    rec = supply.decode_sbom(json.dumps(doc).encode()).frame().to_dict("records")[0]
    assert rec == {"id": "p1", "name": "musl", "version": "1.2.4", "purl": "pkg:apk/alpine/musl@1.2.4",
                   "license": "MIT", "supplier": "Organization: Alpine"}


def test_simple_signing_and_tag_schema():
    payload = {"critical": {"identity": {"docker-reference": "r/x"}, "image": {"docker-manifest-digest": "sha256:" + "a" * 64},
                            "type": "cosign container image signature"}, "optional": {"who": "<b>me</b>"}}
    ss = supply.decode_simple_signing(json.dumps(payload).encode())
    assert ss.docker_manifest_digest == "sha256:" + "a" * 64 and ss.docker_reference == "r/x"
    assert ss.frame()["field"].tolist()[-1] == "optional.who"
    bad = json.loads(json.dumps(payload))
    bad["critical"]["image"]["docker-manifest-digest"] = "sha256:XYZ"
    with pytest.raises(rx.InvalidAttestation, match="not a valid digest"):
        supply.decode_simple_signing(json.dumps(bad).encode())
    assert supply.tag_for("sha256:" + "b" * 64, "att") == "sha256-" + "b" * 64 + ".att"
    with pytest.raises(ValueError):
        supply.tag_for("sha256:nothex")


@pytest.mark.parametrize("decoder, limit", [
    (supply.decode_statement, _doc.STATEMENT_LIMIT), (supply.decode_envelope, _doc.STATEMENT_LIMIT),
    (supply.decode_provenance, _doc.STATEMENT_LIMIT), (supply.decode_sbom, _doc.SBOM_LIMIT),
    (supply.decode_simple_signing, _doc.SIMPLE_SIGNING_LIMIT), (supply.decode_signature_manifest, _doc.MANIFEST_DOC_LIMIT),
    (supply.decode_attestation_manifest, _doc.MANIFEST_DOC_LIMIT), (supply.decode_index_attestations, _doc.MANIFEST_DOC_LIMIT),
    (supply.certificate_info, _doc.CERTIFICATE_LIMIT),
])
def test_over_the_named_limit_is_refused(decoder, limit):
    doc = b"{" + b" " * (limit - 1) + b"}"  # exactly limit+1 bytes, valid JSON: refused by size, not by parse
    with pytest.raises(rx.TooLarge) as err:
        decoder(doc)
    assert err.value.limit == limit and err.value.size == limit + 1


def test_html_escapes_every_string():
    evil = "<script>alert(1)</script>"
    doc = {"spdxVersion": "SPDX-2.3", "name": evil, "packages": [{"SPDXID": evil, "name": evil, "versionInfo": evil}],
           "relationships": [{"spdxElementId": evil, "relationshipType": evil, "relatedSpdxElement": evil}]}
    st = {"_type": "https://in-toto.io/Statement/v1", "predicateType": evil, "subject": [{"name": evil, "digest": {evil: evil}}],
          "predicate": {"buildDefinition": {"buildType": evil, "externalParameters": {evil: evil}}}}
    pages = [supply.decode_sbom(json.dumps(doc).encode())._repr_html_(),
             supply.decode_statement(json.dumps(st).encode())._repr_html_()]
    st["predicateType"] = "https://slsa.dev/provenance/v1"
    pages.append(supply.decode_provenance(json.dumps(st).encode())._repr_html_())
    for page in pages:
        assert "<script>" not in page and "&lt;script&gt;" in page


def _fulcio_like_certificate() -> str:
    """A self-made certificate shaped like Fulcio's: email SAN and the OIDC issuer extension (.1.1)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.derive_private_key(7, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-intermediate")])
    when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(when).not_valid_after(when + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("dev@example.invalid")]), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"),
                                                      b"https://accounts.example.invalid"), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_keyless_fields_are_shown_from_certificate_and_bundle():
    pem = _fulcio_like_certificate()
    info = supply.certificate_info(pem)
    assert info.san == ("dev@example.invalid",) and info.oidc_issuer == "https://accounts.example.invalid"
    assert "sigstore-intermediate" in info.issuer and info.not_before.startswith("2024-01-01")
    bundle = json.dumps({"SignedEntryTimestamp": "AA==", "Payload": {"body": "e30=", "integratedTime": 1704067200,
                                                                      "logIndex": 42, "logID": "c0ffee"}})
    manifest = {"schemaVersion": 2, "layers": [{"mediaType": supply.cosign.SIMPLE_SIGNING, "digest": "sha256:" + "a" * 64,
                                                "size": 10, "annotations": {
                                                    supply.cosign.SIGNATURE_ANNOTATION: "AAAA",
                                                    supply.cosign.CERTIFICATE_ANNOTATION: pem,
                                                    supply.cosign.BUNDLE_ANNOTATION: bundle}}]}
    rec = supply.decode_signature_manifest(json.dumps(manifest).encode()).frame().to_dict("records")[0]
    assert rec["certificate_issuer"] == "https://accounts.example.invalid"
    assert (rec["tlog_index"], rec["tlog_integrated_time"]) == (42, 1704067200)
    with pytest.raises(rx.InvalidAttestation):
        supply.certificate_info("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
