"""Signatures and the supply-chain table against a real registry (distribution 2.8, no referrers API).

Each test pushes the signed sample (samples_supply) into its own repository, so tampering in one
test cannot change what another sees.
"""

from __future__ import annotations

import json

import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer import supply
from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signed():
    return ss.build_supply()


@pytest.fixture
def pushed(open_registry, signed, request):
    repo = "supply/" + request.node.name.replace("_", "-").replace("[", "-").replace("]", "").lower()[:60]
    push_image(open_registry.url, signed, auth=open_registry.auth, verify=open_registry.verify, repository=repo)
    return repo, f"{open_registry.host}/{repo}:{ss.TAG}"


def test_sandbox_key_verifies(open_registry, signed, pushed):
    client = client_for(open_registry)
    v = rx.verify_cosign(client, pushed[1], ss.public_key_pem())
    assert v.digest == client.resolve(pushed[1]).digest == signed.root.digest
    assert v.payload.docker_manifest_digest == v.digest and v.found == "tag schema"
    assert v.signature_manifest == signed.extra["signature_manifest"].digest
    assert v.payload_digest == signed.extra["payload"].digest


def test_another_key_is_refused(open_registry, pushed):
    with pytest.raises(rx.SignatureError) as err:
        rx.verify_cosign(client_for(open_registry), pushed[1], ss.public_key_pem(ss.signing_key(b"another key")))
    assert err.value.reason == "signature" and "does not match this key" in str(err.value)


def test_changed_payload_is_refused(open_registry, signed, pushed):
    good = signed.extra["payload"]
    signature = json.loads(signed.extra["signature_manifest"].data)["layers"][0]["annotations"][supply.cosign.SIGNATURE_ANNOTATION]
    changed = ss.simple_signing_payload(signed.root.digest, optional={"tampered": "yes"})
    assert changed.data != good.data
    ss.push_signature(open_registry.url, signed.root.digest, changed, signature, repository=pushed[0],
                      auth=open_registry.auth, verify=open_registry.verify)
    with pytest.raises(rx.SignatureError) as err:
        rx.verify_cosign(client_for(open_registry), pushed[1], ss.public_key_pem())
    assert err.value.reason == "signature" and "the payload was changed" in str(err.value)


def test_payload_naming_another_digest_is_refused(open_registry, signed, pushed):
    other = signed.extra["image"].digest  # a real digest in the same repository, but not the one signed
    payload = ss.simple_signing_payload(other)
    ss.push_signature(open_registry.url, signed.root.digest, payload, ss.sign_payload(payload.data), repository=pushed[0],
                      auth=open_registry.auth, verify=open_registry.verify)
    with pytest.raises(rx.SignatureError) as err:
        rx.verify_cosign(client_for(open_registry), pushed[1], ss.public_key_pem())
    assert err.value.reason == "digest"
    assert other in str(err.value) and signed.root.digest in str(err.value)


def test_unsigned_image_and_wrong_key_type(open_registry, signed, pushed):
    client = client_for(open_registry)
    with pytest.raises(rx.SignatureError) as err:
        rx.verify_cosign(client, f"{open_registry.host}/{pushed[0]}@{signed.extra['image'].digest}", ss.public_key_pem())
    assert err.value.reason == "missing"
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(rx.SignatureError) as err:
        rx.verify_cosign(client, pushed[1], ss.public_key_pem(p384))
    assert err.value.reason == "key"


def test_supply_chain_table(open_registry, signed, pushed):
    client = client_for(open_registry)
    df = rx.frames.supply_chain(client, pushed[1], public_key=ss.public_key_pem())
    image = signed.extra["image"].digest
    got = sorted(zip(df["kind"], df["type"], df["found"], df["subject"], df["verified"]))
    assert got == sorted([
        ("SBOM", "https://spdx.dev/Document", "index attestation", image, False),
        ("attestation", "https://slsa.dev/provenance/v1", "index attestation", image, False),
        ("signature", supply.cosign.SIMPLE_SIGNING, "cosign tag .sig", signed.root.digest, True),
        ("attestation", "https://slsa.dev/provenance/v1", "referrers tag schema", image, False),
        ("SBOM", "application/spdx+json", "referrers tag schema", image, False),
        ("SBOM", "application/vnd.cyclonedx+json", "referrers tag schema", image, False),
    ])
    assert set(df.loc[df["found"] == "referrers tag schema", "digest"]) == {r.digest for r in signed.extra["referrers"]}
    unverified = rx.frames.supply_chain(client, pushed[1])
    assert not unverified["verified"].any() and len(unverified) == len(df)


def test_every_row_opens_as_its_decoded_document(open_registry, signed, pushed):
    from registry_explorer.supply.documents import open_row

    client = client_for(open_registry)
    df = rx.frames.supply_chain(client, pushed[1])
    opened = {(r["found"], r["type"]): open_row(client, pushed[1], r) for r in df.to_dict("records")}
    prov = opened[("referrers tag schema", "https://slsa.dev/provenance/v1")]
    assert prov.version == "v1" and prov.statement.envelope is not None  # the referrer is the DSSE one
    assert prov.builder_id == signed.extra["provenance"]["predicate"]["runDetails"]["builder"]["id"]
    assert opened[("index attestation", "https://slsa.dev/provenance/v1")].statement.envelope is None  # BuildKit: plain
    cdx = opened[("referrers tag schema", "application/vnd.cyclonedx+json")]
    assert cdx.format == "cyclonedx" and cdx.frame()["name"].tolist() == [p[0] for p in ss.PACKAGES]
    spdx = opened[("index attestation", "https://spdx.dev/Document")]
    assert spdx.format == "spdx" and "pkg:apk/sandbox/musl@1.2.4" in spdx.frame()["purl"].tolist()
    sig = opened[("cosign tag .sig", supply.cosign.SIMPLE_SIGNING)]
    assert sig.docker_manifest_digest == signed.root.digest
