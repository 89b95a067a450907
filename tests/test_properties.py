"""Property-based tests: parsers either succeed or raise a RegistryExplorerError, never anything else."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import registry_explorer as rx
from registry_explorer.auth import parse_challenges
from registry_explorer.listing import next_link as _next_link
from registry_explorer.reference import parse_reference

# CI runs more examples than a developer's quick loop; the closing note reports the count.
EXAMPLES = int(os.environ.get("RX_HYPOTHESIS_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_component = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+){0,2}", fullmatch=True)
_host = st.one_of(
    st.just("docker.io"), st.just("localhost:5000"), st.just("127.0.0.1:5000"),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}\.[a-z]{2,5}(:[0-9]{1,5})?", fullmatch=True),
)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)


@SETTINGS
@given(host=st.one_of(st.none(), _host), path=st.lists(_component, min_size=1, max_size=4),
       tag=st.one_of(st.none(), _tag), digest=st.one_of(st.none(), _digest))
def test_reference_round_trip(host, path, tag, digest):
    text = (f"{host}/" if host else "") + "/".join(path)
    if tag:
        text += f":{tag}"
    if digest:
        text += f"@{digest}"
    try:
        ref = parse_reference(text)
    except rx.InvalidReference:
        return  # e.g. a generated name longer than 255 characters
    assert parse_reference(str(ref)) == ref
    assert ref.digest == digest
    assert ref.tag == (tag or (None if digest else "latest"))


@SETTINGS
@given(st.text(max_size=200))
def test_reference_never_raises_unexpected(text):
    try:
        parse_reference(text)
    except rx.RegistryExplorerError:
        pass


@SETTINGS
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=300))
def test_www_authenticate_never_raises(header):
    for ch in parse_challenges(header):
        assert ch.scheme == ch.scheme.lower()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in ch.params.items())


@SETTINGS
@given(realm=st.text(alphabet=st.characters(codec="ascii", exclude_characters='"\\'), max_size=40),
       service=st.from_regex(r"[a-z0-9.:-]{1,20}", fullmatch=True),
       scope=st.from_regex(r"repository:[a-z0-9/]{1,20}:pull(,push)?", fullmatch=True))
def test_www_authenticate_round_trip(realm, service, scope):
    (ch,) = parse_challenges(f'Bearer realm="{realm}",service="{service}",scope="{scope}"')
    assert (ch.scheme, ch.realm, ch.params["service"], ch.params["scope"]) == ("bearer", realm, service, scope)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
_keys = st.sampled_from(["schemaVersion", "mediaType", "config", "layers", "manifests", "subject", "annotations",
                         "artifactType", "digest", "size", "platform", "urls", "data", "history", "rootfs"])
_doc = st.dictionaries(_keys, _json, max_size=8)
_media = st.sampled_from([None, "", "application/json", rx.mediatypes.OCI_INDEX, rx.mediatypes.OCI_MANIFEST,
                          rx.mediatypes.DOCKER_MANIFEST, rx.mediatypes.DOCKER_SCHEMA1_SIGNED])


def _touch_all(doc):
    """Read every parsed property, the way frames and views do."""
    if isinstance(doc, rx.Index):
        for d in doc.manifests:
            _ = (d.platform, d.is_attestation, d.annotations, d.to_json())
        _ = (doc.subject, doc.artifact_type, doc.annotations)
    else:
        _ = (doc.config, doc.layers, doc.subject, doc.artifact_type, doc.annotations)


@SETTINGS
@given(doc=st.one_of(_doc, _json), media=_media)
def test_manifest_parser_on_random_json(doc, media):
    raw = json.dumps(doc).encode()
    try:
        _touch_all(rx.parse_manifest(raw, media))
    except rx.RegistryExplorerError:
        pass


@SETTINGS
@given(st.binary(max_size=200))
def test_manifest_parser_on_random_bytes(raw):
    try:
        _touch_all(rx.parse_manifest(raw))
    except rx.RegistryExplorerError:
        pass


@SETTINGS
@given(doc=st.one_of(_doc, _json, st.dictionaries(st.sampled_from(["config", "history", "rootfs", "os"]),
                                                  _json, max_size=4)))
def test_config_parser_on_random_json(doc):
    raw = json.dumps(doc).encode()
    desc = rx.Descriptor(rx.mediatypes.OCI_CONFIG, "sha256:" + "0" * 64, len(raw))
    try:
        cfg = rx.ImageConfig.parse(raw, desc)
    except rx.RegistryExplorerError:
        return
    _ = (cfg.env, cfg.entrypoint, cfg.cmd, cfg.labels, cfg.history, cfg.diff_ids, cfg.exposed_ports, cfg.volumes,
         cfg.platform, cfg.working_dir, cfg.user)


@SETTINGS
@given(st.text(max_size=200))
def test_link_parser_never_raises(header):
    out = _next_link(header, "https://registry.example/v2/x/tags/list?n=10")
    assert out is None or isinstance(out, str)


@SETTINGS
@given(path=st.from_regex(r"/v2/[a-z]{1,8}/tags/list\?n=[0-9]{1,4}&last=[a-z0-9]{1,8}", fullmatch=True))
def test_link_parser_finds_next(path):
    assert _next_link(f'<{path}>; rel="next"', "http://r:5000/v2/") == f"http://r:5000{path}"
