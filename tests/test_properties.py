"""Property-based tests: parsers accept what the grammar allows, return what was put in, and never raise foreign errors."""

from __future__ import annotations

import hashlib
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import registry_explorer as rx
from registry_explorer.core.reference import parse_reference
from registry_explorer.http.challenge import parse_challenges
from registry_explorer.http.pagination import next_link as _next_link

# CI runs more examples than a developer's quick loop; the closing note reports the count.
EXAMPLES = int(os.environ.get("RX_HYPOTHESIS_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# distribution/reference grammar (reference.go): path-component := alpha-numeric (separator alpha-numeric)*,
# separator := [_.] | __ | [-]+. Components stay short so no generated name reaches the 255-character cap.
_component = st.from_regex(r"[a-z0-9]{1,8}(([._]|__|-+)[a-z0-9]{1,8}){0,2}", fullmatch=True)
# Without a registry, a first component holding '.' would itself be read as a host (normalize.go
# splitDockerDomain), so registry-less names start with a dot-free component.
_first_component = st.from_regex(r"[a-z0-9]{1,8}((_|__|-+)[a-z0-9]{1,8}){0,2}", fullmatch=True)
# domain := domain-component ('.' domain-component)* [':' port]; it is a registry only when it has '.' or ':'
# or is localhost. docker.io aliases are excluded here: they normalise, tested by hand in test_reference.py.
_host = st.one_of(
    st.just("localhost"),
    st.from_regex(r"localhost:[0-9]{1,5}", fullmatch=True),
    st.from_regex(r"127\.0\.0\.1:[0-9]{1,5}", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){1,3}(:[0-9]{1,5})?",
                  fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,8}:[0-9]{1,5}", fullmatch=True),
).filter(lambda h: h.split(":")[0] not in {"docker.io", "index.docker.io", "registry-1.docker.io"})
# tag := [\w][\w.-]{0,127}
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True)
_digest = st.one_of(st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True),
                    st.from_regex(r"sha512:[a-f0-9]{128}", fullmatch=True))


@SETTINGS
@given(host=st.one_of(st.none(), _host), first=_first_component, more=st.lists(_component, max_size=3),
       tag=st.one_of(st.none(), _tag), digest=st.one_of(st.none(), _digest))
def test_reference_round_trip(host, first, more, tag, digest):
    """Every reference the grammar allows parses to the parts it was built from, and prints back to itself."""
    path = "/".join([first, *more])
    text = (f"{host}/" if host else "") + path
    if tag:
        text += f":{tag}"
    if digest:
        text += f"@{digest}"
    ref = parse_reference(text)  # must not raise: everything above is valid
    # Hand-derived normalisation: no registry means Docker Hub, whose one-component names gain library/.
    want_registry = host or "docker.io"
    want_repo = f"library/{path}" if host is None and not more else path
    assert (ref.registry, ref.repository) == (want_registry, want_repo)
    assert ref.digest == digest
    assert ref.tag == (tag or (None if digest else "latest"))
    assert str(ref) == f"{want_registry}/{want_repo}" + (f":{ref.tag}" if ref.tag else "") + (
        f"@{digest}" if digest else "")
    assert parse_reference(str(ref)) == ref
    if host:
        assert str(ref) == text + ("" if tag or digest else ":latest")


@SETTINGS
@given(first=_first_component, bad=st.sampled_from(["A", "-", ".", "__x", "x-", "/", ":"]))
def test_reference_rejects_off_grammar_names(first, bad):
    """A name the grammar refuses (upper case, a leading or trailing separator, an empty component) is refused."""
    text = {"A": first + "A", "-": "-" + first, ".": first + ".", "__x": "__" + first, "x-": first + "-",
            "/": first + "//x", ":": first + ":"}[bad]
    try:
        parse_reference(text)
    except rx.InvalidReference:
        return
    raise AssertionError(f"{text!r} was accepted")


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


# RFC 7235 section 2.1: auth-param = token BWS "=" BWS ( token / quoted-string ); quoted-pair = "\" char.
# Names are generated lower-case and written in either case: the parser lower-cases names, never values.
_auth_token = st.from_regex(r"[a-z][a-z0-9!#$%&'*+.^_`|~-]{0,12}", fullmatch=True)
_printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@SETTINGS
@given(challenges=st.lists(st.tuples(_auth_token, st.dictionaries(_auth_token, _printable, min_size=1, max_size=4)),
                           min_size=1, max_size=3),
       sep=st.sampled_from([",", ", ", " , "]), upper=st.booleans())
def test_www_authenticate_built_from_params_parses_back(challenges, sep, upper):
    """Challenges written from (scheme, params) parse back to exactly those schemes and params."""
    header = sep.join(
        f"{scheme.title()} " + sep.join(f"{k.upper() if upper else k}={_quote(v)}" for k, v in params.items())
        for scheme, params in challenges
    )
    got = parse_challenges(header)
    assert [(c.scheme, dict(c.params)) for c in got] == [(s, p) for s, p in challenges], header



_hex64 = st.from_regex(r"[a-f0-9]{64}", fullmatch=True)
_blob = st.tuples(_hex64, st.integers(min_value=0, max_value=2**40))


@SETTINGS
@given(cfg=_blob, layers=st.lists(_blob, max_size=5), indent=st.sampled_from([None, 0, 2, 3]),
       media=st.sampled_from([rx.mediatypes.OCI_MANIFEST, rx.mediatypes.DOCKER_MANIFEST]),
       sort_keys=st.booleans(), content_type=st.booleans())
def test_parsed_manifest_keeps_exact_bytes_and_layers(cfg, layers, indent, media, sort_keys, content_type):
    """A manifest in any JSON layout keeps its exact bytes, its sha256 digest, and its layers in order."""
    layer_type = rx.mediatypes.OCI_LAYER_GZIP if media == rx.mediatypes.OCI_MANIFEST else rx.mediatypes.DOCKER_LAYER_GZIP
    doc = {"schemaVersion": 2, "mediaType": media,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{cfg[0]}",
                      "size": cfg[1]},
           "layers": [{"mediaType": layer_type, "digest": f"sha256:{h}", "size": n} for h, n in layers]}
    raw = json.dumps(doc, indent=indent, sort_keys=sort_keys).encode()
    m = rx.parse_manifest(raw, media if content_type else None)
    assert isinstance(m, rx.Manifest)
    assert m.raw == raw
    assert m.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (m.media_type, m.descriptor.size) == (media, len(raw))
    assert (m.config.digest, m.config.size) == (f"sha256:{cfg[0]}", cfg[1])
    assert [(d.digest, d.size) for d in m.layers] == [(f"sha256:{h}", n) for h, n in layers]


@SETTINGS
@given(children=st.lists(st.tuples(_blob, st.sampled_from(["amd64", "arm64", "arm", "s390x"]),
                                   st.sampled_from(["linux", "windows"])), min_size=1, max_size=4),
       indent=st.sampled_from([None, 2]))
def test_parsed_index_keeps_exact_bytes_and_children(children, indent):
    """An index keeps its exact bytes and lists its children, with their platforms, in document order."""
    doc = {"schemaVersion": 2, "mediaType": rx.mediatypes.OCI_INDEX,
           "manifests": [{"mediaType": rx.mediatypes.OCI_MANIFEST, "digest": f"sha256:{h}", "size": n,
                          "platform": {"architecture": arch, "os": os_}} for (h, n), arch, os_ in children]}
    raw = json.dumps(doc, indent=indent).encode()
    idx = rx.parse_manifest(raw)
    assert isinstance(idx, rx.Index)
    assert idx.raw == raw and idx.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert [(d.digest, d.size, d.platform.os, d.platform.architecture) for d in idx.manifests] == [
        (f"sha256:{h}", n, os_, arch) for (h, n), arch, os_ in children]


_url_path = st.from_regex(r"/v2/[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}/(tags/list|_catalog)\?n=[0-9]{1,4}&last=[a-z0-9._-]{1,12}",
                          fullmatch=True)


@SETTINGS
@given(path=_url_path, absolute=st.booleans(), quoted=st.booleans(), before=st.booleans(),
       extra=st.sampled_from(["", '; type="application/json"', "; title=next-page"]),
       host=st.sampled_from(["http://127.0.0.1:5000", "https://r.example", "https://r.example:8443"]))
def test_link_header_built_with_next_yields_that_url(path, absolute, quoted, before, extra, host):
    """A Link header carrying rel=next (among other links and params) yields exactly that URL, made absolute."""
    target = host + path if absolute else path
    rel = 'rel="next"' if quoted else "rel=next"
    header = f"<{target}>; {rel}{extra}"
    if before:
        header = f'<{host}/v2/x/tags/list?n=1>; rel="prev", ' + header
    assert _next_link(header, f"{host}/v2/x/tags/list?n=1") == host + path


@SETTINGS
@given(path=_url_path, rel=st.sampled_from(["prev", "first", "last", "nextpage"]))
def test_link_header_without_next_yields_none(path, rel):
    """Only rel=next is followed: other relations (and look-alikes) are not a next page."""
    assert _next_link(f'<{path}>; rel="{rel}"', "http://r:5000/v2/") is None


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
