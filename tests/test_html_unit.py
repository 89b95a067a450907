"""Rich HTML views: real documents render, hostile strings stay escaped, secrets stay out."""

import base64
import json
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer import html as rh
from registry_explorer.core import mediatypes as mt
from registry_explorer.core.models import Descriptor, ImageConfig
from registry_explorer.core.platform import Platform
from registry_explorer.core.reference import Reference
from registry_explorer.http.trace import Trace, decode_jwt, redact_body

REAL = Path(__file__).parent / "fixtures" / "real"
XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
S1, S2 = XSS
# No spaces, so it is a URL that does get linked: the href must still be escaped.
HOSTILE_URL = 'https://example.com/x?"><svg/onload=alert(1)>'

DIGEST = "sha256:" + "ab" * 32


def load(rel):
    return (REAL / rel).read_bytes()


class _Balance(HTMLParser):
    """Checks that every non-void tag is closed, in order."""

    VOID = {"br", "hr", "img", "meta", "link", "input", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.seen = [], [], {}

    def handle_starttag(self, tag, attrs):
        self.seen[tag] = self.seen.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen[tag] = self.seen.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> but open: {self.stack[-3:]}")
        else:
            self.stack.pop()


def well_formed(h):
    p = _Balance()
    p.feed(h)
    p.close()
    assert not p.errors, p.errors
    assert not p.stack, p.stack
    return p.seen


def assert_safe(h):
    """No raw hostile string, but its escaped form is there; no markup a registry could inject."""
    for s in XSS:
        assert s not in h
    assert "<script" not in h.lower()
    assert "<img" not in h.lower()
    assert "<svg" not in h.lower()
    assert "onerror=alert" not in h.replace("onerror=alert(1)&gt;", "")  # only inside escaped text
    assert 'href="javascript' not in h.lower()
    assert escape(S1, quote=True) in h
    well_formed(h)


def config_of(raw, media_type=mt.OCI_CONFIG):
    return ImageConfig.parse(raw, Descriptor(media_type, DIGEST, len(raw)))


# --- helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,want",
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024**2, "5.0 MiB"),
     (101145811, "96.5 MiB"), (3 * 1024**3, "3.0 GiB"), (None, ""), (-1, "")],
)
def test_human_size(n, want):
    assert rh.human_size(n) == want
    # Unknown sizes (schema1 layers) still say so in HTML.
    assert "unknown" in rh.descriptor_html(Descriptor(mt.DOCKER_LAYER_GZIP, DIGEST, -1))


def test_short_digest_and_spec_url():
    assert rh.short_digest("sha256:" + "0123456789abcdef" * 4) == "sha256:0123456789ab…"
    assert rh.short_digest("") == ""
    assert rh.spec_url(mt.OCI_INDEX).endswith("/image-index.md")
    assert rh.spec_url(mt.OCI_MANIFEST).endswith("/manifest.md")
    assert rh.spec_url(mt.OCI_CONFIG).endswith("/config.md")
    assert rh.spec_url(mt.OCI_LAYER_ZSTD).endswith("/layer.md")
    assert rh.spec_url(mt.OCI_EMPTY).endswith("/media-types.md")
    assert rh.spec_url(mt.DOCKER_LIST) == rh.DOCKER_SPEC
    assert rh.spec_url(mt.DOCKER_FOREIGN_LAYER_GZIP) == rh.DOCKER_SPEC
    assert rh.spec_url(mt.IN_TOTO) is None
    assert rh.spec_url("") is None


# --- real documents --------------------------------------------------------------------------


def test_index_with_attestations():
    idx = rx.parse_manifest(load("index/buildkit-0.15-index-with-attestation-manifests.json"))
    h = idx._repr_html_()
    assert h == rh.index_html(idx)
    seen = well_formed(h)
    assert seen["table"] >= 2
    full = "sha256:7ae6b41655929ad8e1848064874a98ac3f68884996c79907f6525e3045f75390"
    assert ">sha256:7ae6b4165592…</code>" in h
    assert f'title="{full}"' in h
    assert h.count('<span class="rx-badge rx-att">attestation</span>') == 2
    # The index's own media type and its children's both link to the OCI spec.
    assert f'href="{rh.OCI_SPEC}image-index.md"' in h
    assert f'href="{rh.OCI_SPEC}manifest.md"' in h
    assert "<td>unknown</td>" in h and "<td>arm64</td>" in h


def test_windows_list_shows_os_version_and_docker_links():
    idx = rx.parse_manifest(load("index/dockerhub-python-latest-2022-manifest-list-windows.json"))
    h = rh.index_html(idx)
    well_formed(h)
    assert "10.0.17763" in h
    assert f'href="{rh.DOCKER_SPEC}"' in h
    assert "rx-att" not in h.split("</style>", 1)[1]


def test_manifest_with_foreign_layer():
    m = rx.parse_manifest(load("manifest/dockerhub-hello-world-nanoserver-windows-foreign-layer.json"))
    h = m._repr_html_()
    assert h == rh.manifest_html(m)
    well_formed(h)
    assert '<span title="101,145,811 bytes">96.5 MiB</span>' in h
    assert f'href="{rh.DOCKER_SPEC}"' in h
    assert "<td>gzip</td>" in h
    assert "<h4>layers (3)" in h
    # The foreign layer's URL is http(s), so it becomes a link; the config descriptor is shown.
    assert '<a href="https://mcr.microsoft.com/v2/windows/nanoserver/blobs/sha256:a35da61c' in h
    assert ">sha256:bc5d255ea81f…</code>" in h


def test_oci_manifest_layer_and_config_links():
    m = rx.parse_manifest(load("manifest/buildkit-oci-zstd-layer-manifest.json"))
    h = rh.manifest_html(m)
    well_formed(h)
    assert f'href="{rh.OCI_SPEC}layer.md"' in h
    assert f'href="{rh.OCI_SPEC}config.md"' in h
    assert "<td>zstd</td>" in h


def test_schema1_and_null_layers_render():
    for rel in ("schema1/dockerhub-busybox-schema1-signed.json", "manifest/buildkit-scratch-manifest-layers-null.json"):
        h = rh.manifest_html(rx.parse_manifest(load(rel)))
        well_formed(h)
    assert "unknown" in rh.manifest_html(rx.parse_manifest(load("schema1/dockerhub-busybox-schema1-signed.json")))


def test_malformed_subject_does_not_break_the_view():
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": [], "subject": {"digest": 5}}
    h = rh.manifest_html(rx.parse_manifest(json.dumps(doc).encode()))
    well_formed(h)
    assert "malformed subject" in h


def test_artifact_with_subject_and_artifact_type():
    idx = rx.parse_manifest(load("artifact/oras-index-with-subject.json"))
    h = rh.index_html(idx)
    well_formed(h)
    assert "<h4>subject</h4>" in h


def test_config_history_with_empty_layers():
    cfg = config_of(load("config/dockerhub-mysql-5.7-config.json"), mt.DOCKER_CONFIG)
    h = cfg._repr_html_()
    assert h == rh.config_html(cfg)
    well_formed(h)
    assert any(x.empty_layer for x in cfg.history)
    assert '<span class="rx-muted">empty</span>' in h
    assert f"<h4>history ({len(cfg.history)})</h4>" in h
    assert escape('CMD ["mysqld"]', quote=True) in h
    assert "3306/tcp" in h and "/var/lib/mysql" in h
    assert escape(json.dumps(["docker-entrypoint.sh"]), quote=True) in h
    assert "MYSQL_MAJOR=5.7" in h
    assert "<code>linux/amd64</code>" in h


@pytest.mark.parametrize("rel", sorted(p.relative_to(REAL).as_posix() for p in REAL.glob("config/*.json")))
def test_every_real_config_renders(rel):
    well_formed(rh.config_html(config_of(load(rel))))


def test_reference_and_descriptor():
    ref = rx.parse_reference("localhost:5000/team/app:v1@" + DIGEST)
    h = ref._repr_html_()
    well_formed(h)
    assert "<code>localhost:5000</code>" in h and "<code>v1</code>" in h and f'title="{DIGEST}"' in h
    d = Descriptor(mt.OCI_MANIFEST, DIGEST, 1234, {"org.opencontainers.image.source": "https://example.com/r"},
                   Platform("linux", "arm", "v7"))
    h = d._repr_html_()
    assert h == rh.descriptor_html(d)
    well_formed(h)
    assert '<span title="1,234 bytes">1.2 KiB</span>' in h
    assert "<code>linux/arm/v7</code>" in h
    assert '<a href="https://example.com/r"' in h


# --- hostile documents -----------------------------------------------------------------------


def hostile_descriptor_json(media_type=S1):
    return {
        "mediaType": media_type,
        "digest": "sha256:" + S1,
        "size": 10,
        "urls": [S1, S2, "javascript:alert(1)", HOSTILE_URL],
        "annotations": {S1: S2, "org.opencontainers.image.title": S1, "source": "https://e.com/" + S2},
        "artifactType": S2,
    }


def test_hostile_manifest():
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": S1,
        "config": hostile_descriptor_json(mt.OCI_CONFIG + S2),
        "layers": [hostile_descriptor_json(), hostile_descriptor_json(mt.OCI_LAYER_GZIP + S1)],
        "subject": hostile_descriptor_json(S2),
        "annotations": {S1: S1, S2: S2},
    }
    m = rx.parse_manifest(json.dumps(doc).encode())
    assert_safe(m._repr_html_())
    assert_safe(rh.manifest_html(m.__class__(raw=m.raw, descriptor=m.descriptor, json=m.json,
                                             reference=Reference("r.example", "a/b", "t"))))


def test_hostile_index():
    child = hostile_descriptor_json(mt.OCI_MANIFEST)
    child["platform"] = {"os": S1, "architecture": S2, "variant": S1, "os.version": S2}
    att = hostile_descriptor_json(mt.OCI_MANIFEST)
    att["platform"] = {"os": "unknown", "architecture": "unknown"}
    att["annotations"]["vnd.docker.reference.digest"] = S2
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [child, att, hostile_descriptor_json()],
           "annotations": {"k": S1}, "subject": hostile_descriptor_json()}
    idx = rx.parse_manifest(json.dumps(doc).encode())
    h = idx._repr_html_()
    assert_safe(h)
    assert "rx-badge rx-att" in h


def test_hostile_config():
    doc = {
        "os": S1, "architecture": S2, "variant": S1, "os.version": S2, "created": S1, "author": S2,
        "config": {
            "Env": [f"X={S1}", S2], "Entrypoint": [S1], "Cmd": [S2, S1], "WorkingDir": S1, "User": S2,
            "ExposedPorts": {S1: {}}, "Volumes": {S2: {}}, "Labels": {S1: S2, "url": "https://x.example/" + S1},
        },
        "history": [
            {"created": S1, "created_by": S1, "comment": S2, "empty_layer": True},
            {"created_by": f"/bin/sh -c echo {S2}", "author": S1},
        ],
        "rootfs": {"type": "layers", "diff_ids": [S1]},
    }
    cfg = config_of(json.dumps(doc).encode())
    h = cfg._repr_html_()
    assert_safe(h)
    assert '<span class="rx-muted">empty</span>' in h


def test_hostile_descriptor_and_reference():
    d = Descriptor.from_json(hostile_descriptor_json())
    d = Descriptor(d.media_type, d.digest, d.size, d.annotations, Platform(S1, S2, S1, S2), d.urls, d.artifact_type)
    h = rh.descriptor_html(d)
    assert_safe(h)
    # Only http(s) becomes a link, and its href is escaped too.
    assert f'href="{escape(HOSTILE_URL, quote=True)}"' in h
    assert "javascript:alert(1)" in h  # shown, as text
    assert_safe(rh.reference_html(Reference(S1, S2, S1, S2)))


# --- the HTTP trace --------------------------------------------------------------------------


def _jwt(claims, signature="SIGSECRET"):
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.{signature}"


def make_trace():
    t = Trace()
    ex = t.start("GET", "https://registry.example/v2/app/manifests/latest", "manifest",
                 {"Authorization": "Bearer SECRET123", "Accept": mt.OCI_INDEX, "X-Note": S1})
    ex.status, ex.bytes, ex.elapsed_ms = 200, 5 * 1024, 12.345
    ex.response_headers = {"Content-Type": S1, "Docker-Content-Digest": DIGEST, "Set-Cookie": "sid=SECRET123"}
    basic = t.start("GET", "https://auth.example/token?scope=repository:app:pull&password=SECRET123", "token",
                    {"Authorization": "Basic " + base64.b64encode(b"user:SECRET123").decode()})
    basic.status = 200
    token = _jwt({"iss": "auth.example", "exp": 1700000000, "access": [{"type": "repository", "name": S1}]})
    body = {"token": token, "access_token": token, "expires_in": 300, "note": S2}
    basic.response_body = redact_body(body)
    basic.token_claims = decode_jwt(token)
    failed = t.start("HEAD", "https://registry.example/v2/app/blobs/" + DIGEST, "blob", {})
    failed.error = S1
    return t, ex, basic, token


# The curl commands of make_trace()'s three exchanges, written by hand: secrets become $TOKEN or
# $USERNAME:$PASSWORD, the password query parameter is masked, headers and URLs are shell-quoted, blobs follow -L.
CURLS = [
    """curl -sS -H "Authorization: Bearer $TOKEN" -H 'Accept: application/vnd.oci.image.index.v1+json' """
    """-H 'X-Note: <script>alert(1)</script>' https://registry.example/v2/app/manifests/latest""",
    """curl -sS -u "$USERNAME:$PASSWORD" 'https://auth.example/token?scope=repository:app:pull&password=***'""",
    "curl -sS --head -L https://registry.example/v2/app/blobs/" + DIGEST,
]


def test_exchange_html_redacts_and_shows_curl():
    t, ex, basic, token = make_trace()
    assert [e.as_curl() for e in t] == CURLS
    for e, curl in ((ex, CURLS[0]), (basic, CURLS[1])):
        h = e._repr_html_()
        assert h == rh.exchange_html(e)
        well_formed(h)
        assert "SECRET123" not in h
        assert base64.b64encode(b"user:SECRET123").decode() not in h
        assert escape(curl, quote=True) in h
    h = rh.exchange_html(ex)
    assert escape("Bearer <redacted>") in h
    assert "GET https://registry.example/v2/app/manifests/latest" in h
    assert '<span class="rx-ok">200</span>' in h
    assert escape(S1, quote=True) in h and S1 not in h
    h = rh.exchange_html(basic)
    assert "SIGSECRET" not in h and token not in h
    assert "token claims" in h and "auth.example" in h
    assert escape('"signature": "<redacted>"') in h
    assert "2023-11-14T22:13:20+00:00" in h  # exp shown as a time
    assert_safe(h)


def test_trace_html_table_and_details():
    t, *_ = make_trace()
    h = t._repr_html_()
    assert h == rh.trace_html(t)
    assert_safe(h)
    assert "SECRET123" not in h and "SIGSECRET" not in h
    for curl in CURLS:
        assert escape(curl, quote=True) in h
    assert h.count("<details>") == 3
    assert "<td>Bearer</td>" in h and "<td>Basic</td>" in h
    assert '<span class="rx-err">error</span>' in h
    assert "<td>12.3</td>" in h
    slim = rh.trace_html(t, details=False, limit=2)
    well_formed(slim)
    assert "<details>" not in slim and "latest 2 of 3" in slim
    assert "no exchanges recorded" in rh.trace_html(Trace())
