"""Every supply-chain decoder on random JSON and random bytes: a model or a RegistryExplorerError, nothing else.

Random JSON goes in three ways: as a bare value, inside the decoder's expected shape (so the
field checks run, not only the top-level ones), and wrapped in a DSSE envelope. What decodes must
also give a frame and HTML without raising.
"""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import registry_explorer as rx
from registry_explorer import supply

EXAMPLES = int(os.environ.get("RX_HYPOTHESIS_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DECODERS = {
    "statement": supply.decode_statement, "envelope": supply.decode_envelope, "provenance": supply.decode_provenance,
    "sbom": supply.decode_sbom, "simple_signing": supply.decode_simple_signing,
    "signature_manifest": supply.decode_signature_manifest, "attestation_manifest": supply.decode_attestation_manifest,
    "index_attestations": supply.decode_index_attestations, "certificate": supply.certificate_info,
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["sha256:" + "a" * 64, "https://slsa.dev/provenance/v1", "SPDX-2.3", "CycloneDX",
                                     "1.5", "https://in-toto.io/Statement/v1", "attestation-manifest", "purl"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=25)

# The keys each decoder reads, so random values land where the checks are.
SHAPES = {
    "statement": ["_type", "predicateType", "subject", "predicate", "payloadType", "payload", "signatures"],
    "provenance": ["_type", "predicateType", "subject", "predicate"],
    "sbom": ["spdxVersion", "bomFormat", "specVersion", "packages", "relationships", "components", "dependencies",
             "metadata", "_type", "predicate"],
    "simple_signing": ["critical", "optional"],
    "signature_manifest": ["layers", "mediaType"],
    "attestation_manifest": ["layers", "config"],
    "index_attestations": ["manifests"],
    "envelope": ["payloadType", "payload", "signatures"],
    "certificate": [],
}


def _check(name: str, raw: bytes) -> None:
    try:
        out = DECODERS[name](raw)
    except rx.RegistryExplorerError:
        return
    if hasattr(out, "frame"):
        out.frame()
    if hasattr(out, "_repr_html_"):
        assert "<script" not in out._repr_html_()


@pytest.mark.parametrize("name", sorted(DECODERS))
@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(name, data):
    _check(name, data)


@pytest.mark.parametrize("name", sorted(DECODERS))
@SETTINGS
@given(value=json_values)
def test_random_json(name, value):
    _check(name, json.dumps(value).encode())


@pytest.mark.parametrize("name", sorted(DECODERS))
@SETTINGS
@given(data=st.data())
def test_random_json_in_the_expected_shape(name, data):
    keys = SHAPES[name] or ["x"]
    doc = data.draw(st.fixed_dictionaries({}, optional={k: json_values for k in keys}))
    if name in ("statement", "provenance", "sbom") and data.draw(st.booleans()):
        doc.setdefault("_type", "https://in-toto.io/Statement/v1")
        doc.setdefault("predicateType", data.draw(st.sampled_from(
            ["https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1", "https://spdx.dev/Document"])))
    _check(name, json.dumps(doc).encode())


@pytest.mark.parametrize("name", ["statement", "provenance", "sbom", "envelope"])
@SETTINGS
@given(value=json_values, payload_type=st.sampled_from(["application/vnd.in-toto+json", "text/plain"]))
def test_random_json_inside_dsse(name, value, payload_type):
    env = {"payloadType": payload_type, "payload": base64.b64encode(json.dumps(value).encode()).decode(),
           "signatures": [{"keyid": "", "sig": "AA=="}]}
    _check(name, json.dumps(env).encode())


@SETTINGS
@given(nest=st.integers(min_value=0, max_value=2000))
def test_deep_nesting_is_an_error_not_a_crash(nest):
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}
    cur = bom["components"]
    for _ in range(min(nest, 200)):
        child = {"name": "c", "components": []}
        cur.append(child)
        cur = child["components"]
    _check("sbom", json.dumps(bom).encode())
    _check("statement", b"[" * nest + b"]" * nest)
