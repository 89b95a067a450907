"""Issue 21, class 9: no script, event handler or non-http(s) link survives into any HTML we render.

A registry (or whoever pushed to it) writes annotations, `artifactType`, labels, history, file names,
SBOM package fields, provenance fields, statement subjects and signing identities. Each is filled
with injection payloads (markup, attribute breakouts, `javascript:`/`data:`/`vbscript:` URLs, with
case, whitespace and control-character tricks), then every view renders them: the rich HTML of
documents and decoded supply-chain objects, the supply-chain cards, and every tab of the Explorer
(opened on an OCI layout holding the hostile documents, each tab loaded and each attached object
opened). The HTML is parsed, and each element, attribute and link checked.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from helpers.hostile import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZ, OCI_MANIFEST, layer_tar
from helpers.hostile_layout import write_layout

import registry_explorer as rx
from registry_explorer import html as rxhtml
from registry_explorer import supply
from registry_explorer.core.reference import parse_reference

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    'https://ok.example/"onmouseover="alert(1)',
    "http://x.example/<iframe src=javascript:alert(1)>",
    "</pre></code></td></table><script>alert(1)</script>",
]
URLISH = [p for p in PAYLOADS if ":" in p]
# What our views are made of; anything else (script, img, svg, iframe, object, form...) is injected.
ALLOWED_TAGS = {"style", "div", "span", "h4", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "a",
                "details", "summary", "br", "b", "i", "p", "ul", "li", "small", "em", "strong", "hr", "button"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcdoc", "data"}
_STRIP = "".join(chr(c) for c in range(0x21))  # what a browser strips around a URL before reading its scheme


class _Audit(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links = 0

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            v = value or ""
            if name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
            if name in URL_ATTRS:
                clean = re.sub(r"[\t\n\r]", "", v.strip(_STRIP)).lower()
                if not clean.startswith(("http://", "https://")):
                    self.problems.append(f"{tag}[{name}={v[:40]!r}]")
                self.links += 1
            if name == "style" and re.search(r"url\(|expression|javascript", v, re.I):
                self.problems.append(f"{tag}[style={v[:40]!r}]")


def audit(html: str) -> _Audit:
    a = _Audit()
    a.feed(html)
    a.close()
    return a


def assert_safe(html: str, where: str) -> None:
    assert html, f"{where} rendered nothing"
    problems = audit(html).problems
    assert problems == [], f"{where}: {problems[:10]}"


def _annotations(prefix: str = "") -> dict[str, str]:
    out = {f"{prefix}x.payload.{i}": p for i, p in enumerate(PAYLOADS)}
    out.update({"org.opencontainers.image.source": "javascript:alert(1)",
                "org.opencontainers.image.url": "data:text/html,<script>alert(1)</script>",
                f"<script>{prefix}</script>": "key-injection"})
    return out


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _desc(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": _sha(data), "size": len(data), **extra}


# -- hostile documents --------------------------------------------------------------------------------


def _spdx() -> bytes:
    pkgs = [{"SPDXID": f"SPDXRef-P{i}", "name": p, "versionInfo": p, "supplier": p, "downloadLocation": p,
             "homepage": p, "licenseConcluded": p,
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p}]}
            for i, p in enumerate(PAYLOADS)]
    return json.dumps({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": PAYLOADS[0],
                       "documentNamespace": "javascript:alert(1)", "packages": pkgs,
                       "relationships": [{"spdxElementId": p, "relationshipType": p, "relatedSpdxElement": p}
                                         for p in PAYLOADS]}).encode()


def _cyclonedx() -> bytes:
    comps = [{"type": "library", "name": p, "version": p, "purl": p, "bom-ref": p, "supplier": {"name": p},
              "licenses": [{"license": {"id": p, "url": p}}], "externalReferences": [{"type": "website", "url": p}]}
             for p in PAYLOADS]
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps,
                       "metadata": {"component": {"name": PAYLOADS[1]}},
                       "dependencies": [{"ref": p, "dependsOn": [p]} for p in PAYLOADS]}).encode()


def _statement(predicate_type: str, predicate: dict) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "predicateType": predicate_type,
                       "subject": [{"name": p, "digest": {"sha256": "ab" * 32}} for p in PAYLOADS],
                       "predicate": predicate}).encode()


def _provenance() -> bytes:
    return _statement("https://slsa.dev/provenance/v1", {
        "buildDefinition": {"buildType": "javascript:alert(1)",
                            "externalParameters": {f"k{i}": p for i, p in enumerate(PAYLOADS)},
                            "internalParameters": {"x": PAYLOADS[1]},
                            "resolvedDependencies": [{"uri": p, "name": p, "digest": {"sha256": "cd" * 32}}
                                                     for p in PAYLOADS]},
        "runDetails": {"builder": {"id": "javascript:alert(1)"}, "metadata": {"invocationId": PAYLOADS[0]}}})


def _envelope() -> bytes:
    return json.dumps({"payloadType": PAYLOADS[1], "payload": base64.b64encode(_provenance()).decode(),
                       "signatures": [{"keyid": PAYLOADS[0], "sig": base64.b64encode(b"sig").decode()}]}).encode()


def _simple_signing() -> bytes:
    return json.dumps({"critical": {"identity": {"docker-reference": PAYLOADS[0]},
                                    "image": {"docker-manifest-digest": "sha256:" + "ef" * 32},
                                    "type": "cosign container image signature"},
                       "optional": {f"o{i}": p for i, p in enumerate(PAYLOADS)}}).encode()


def hostile_layout(root) -> tuple[str, dict[str, bytes]]:
    """An OCI layout: an image with hostile metadata and file names, and hostile artifacts referring to it."""
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> bytes:
        blobs[_sha(data)] = data
        return data

    files = [(f"etc/{i}-{p.replace('/', '_')}", p.encode()) for i, p in enumerate(PAYLOADS)]
    layer = put(layer_tar([*files, ("etc/readme.html", "\n".join(PAYLOADS).encode())]))
    diff = hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = put(json.dumps({
        "architecture": "amd64", "os": "linux", "author": PAYLOADS[1], "created": PAYLOADS[0],
        "config": {"Labels": {f"l{i}": p for i, p in enumerate(PAYLOADS)} | {"org.opencontainers.image.source":
                                                                              "javascript:alert(1)"},
                   "Env": PAYLOADS, "Cmd": PAYLOADS, "Entrypoint": PAYLOADS[:2], "WorkingDir": PAYLOADS[0],
                   "User": PAYLOADS[1], "ExposedPorts": {p: {} for p in PAYLOADS}, "Volumes": {p: {} for p in PAYLOADS}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]},
        "history": [{"created_by": p, "comment": p, "author": p} for p in PAYLOADS]}).encode())
    image = put(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": PAYLOADS[1],
                            "config": _desc(OCI_CONFIG, config, annotations=_annotations("cfg.")),
                            "layers": [_desc(OCI_LAYER_GZ, layer, annotations=_annotations("layer."),
                                             urls=URLISH)],
                            "annotations": _annotations()}).encode())
    empty = put(b"{}")
    artifacts = []
    for artifact_type, media_type, data in [
            ("application/spdx+json", "application/spdx+json", _spdx()),
            ("application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", _cyclonedx()),
            ("application/vnd.dsse.envelope.v1+json", "application/vnd.dsse.envelope.v1+json", _envelope()),
            (PAYLOADS[0], PAYLOADS[1], b"opaque")]:
        put(data)
        art = put(json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
                              "config": _desc("application/vnd.oci.empty.v1+json", empty),
                              "layers": [_desc(media_type, data, annotations=_annotations("art."))],
                              "subject": _desc(OCI_MANIFEST, image), "annotations": _annotations("art.")}).encode())
        artifacts.append(_desc(OCI_MANIFEST, art, artifactType=artifact_type, annotations=_annotations("idx.")))
    index = put(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "annotations": _annotations("index."),
                            "manifests": [_desc(OCI_MANIFEST, image, platform={"os": "linux", "architecture": "amd64"},
                                                annotations=_annotations("child.")), *artifacts]}).encode())
    entries = [_desc(OCI_INDEX, index, annotations={"org.opencontainers.image.ref.name": "v1"}),
               _desc(OCI_MANIFEST, image, annotations={"org.opencontainers.image.ref.name": "img"}), *artifacts]
    write_layout(root, blobs, entries)
    return f"oci:{root}:v1", blobs


# -- the views -----------------------------------------------------------------------------------------


def test_the_audit_catches_what_it_looks_for():
    """Control: the checker itself finds each kind of injection it claims to."""
    bad = audit('<a href="javascript:x">a</a><a href=" JAVA\tSCRIPT:x">b</a><img src=x onerror=y><script>z</script>'
                '<a href="data:text/html,x">c</a><span style="background:url(javascript:x)">d</span>')
    assert len(bad.problems) == 8, bad.problems  # 2 hrefs, img + its src + onerror, script, data:, style
    assert audit('<a href="https://ok.example/x">ok</a><span title="&lt;script&gt;">x</span>').problems == []


def _documents(tmp_path):
    ref, blobs = hostile_layout(tmp_path / "layout")
    layout = rx.Layout(tmp_path / "layout")
    return layout, ref, blobs


def test_document_views(tmp_path):
    layout, ref, _ = _documents(tmp_path)
    index = layout.manifest(ref)
    image = layout.image(ref)
    views = {"index": index._repr_html_(), "image": image._repr_html_(), "config": layout.config(image)._repr_html_(),
             "descriptor": layout.resolve(ref)._repr_html_(), "reference": rx.parse_reference("a/b:c")._repr_html_()}
    views["layer descriptor"] = image.layers[0]._repr_html_()
    views["as fetched from a registry"] = rx.parse_manifest(image.raw, reference=parse_reference(
        "127.0.0.1:5000/x/y:z"))._repr_html_()
    for where, html in views.items():
        assert_safe(html, where)
    # Controls: the payloads were rendered (escaped), and the http(s) ones did become (safe) links.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in views["image"] and audit(views["image"]).links > 0


def test_supply_chain_views_and_cards():
    decoded = {
        "sbom spdx": supply.decode_sbom(_spdx()), "sbom cyclonedx": supply.decode_sbom(_cyclonedx()),
        "provenance": supply.decode_provenance(_provenance()), "statement": supply.decode_statement(_provenance()),
        "envelope": supply.decode_envelope(_envelope()), "simple signing": supply.decode_simple_signing(_simple_signing()),
        "sbom in statement": supply.decode_statement(_statement("https://spdx.dev/Document", json.loads(_spdx()))),
    }
    for where, doc in decoded.items():
        if not hasattr(doc, "_repr_html_"):  # an Envelope has no view of its own (its statement has)
            continue
        html = doc._repr_html_()
        assert_safe(html, where)
        assert "&lt;script&gt;" in html or "alert(1)" in html, f"{where}: the payloads were shown (escaped)"
    from registry_explorer.supply import cards

    sbom = decoded["sbom spdx"]
    for where, html in {"frame_html": cards.frame_html(PAYLOADS[0], sbom.frame()), "sbom_html": cards.sbom_html(sbom),
                        "provenance_html": cards.provenance_html(decoded["provenance"]),
                        "statement_html": cards.statement_html(decoded["statement"])}.items():
        assert_safe(html, where)


def test_trace_views_with_hostile_headers():
    from registry_explorer.http.trace import Trace

    t = Trace()
    ex = t.start("GET", "https://r.example/v2/<script>alert(1)</script>?a=" + PAYLOADS[1], "blob",
                 {"Accept": PAYLOADS[0]})
    ex.status, ex.error, ex.note = 307, PAYLOADS[1], PAYLOADS[0]
    ex.response_headers = {"Location": "javascript:alert(1)", "Link": f"<{PAYLOADS[3]}>; rel=next", "X": PAYLOADS[2]}
    for where, html in {"exchange": ex._repr_html_(), "trace": rxhtml.trace_html(t)}.items():
        assert_safe(html, where)


def _html_values(widget) -> list[str]:
    import ipywidgets as w

    out = []

    def walk(x):
        if isinstance(x, (w.HTML, w.HTMLMath)):
            out.append(x.value)
        for child in getattr(x, "children", ()):
            walk(child)
    walk(widget)
    return out


def test_every_explorer_tab(tmp_path):
    pytest.importorskip("ipywidgets")
    layout, ref, blobs = _documents(tmp_path)
    ex = rx.Explorer(layout, reference=ref)
    st = ex.state
    assert st.descriptor is not None, st.error
    seen: list[tuple[str, str]] = []

    def snap(step: str) -> None:
        seen.extend((step, v) for v in _html_values(ex))
        seen.append((f"{step} (offline)", ex._repr_mimebundle_().get("text/html", "")))

    snap("resolved")
    for step, action in [("tags", st.load_tags), ("referrers", st.load_referrers), ("files", st.load_files),
                         ("supply", st.load_supply)]:
        action()
        snap(step)
    for row in list(st.files)[:20]:
        st.select_file(row["path"])
        path = row["path"]
        snap(f"file {path[:20]!r}")
    for i in range(len(st.supply or [])):
        st.open_supply_row(i)
        snap(f"supply row {i}")
    for r in list(st.referrers):
        digest = r["digest"]
        if st.open_referrer(digest):
            snap(f"referrer {digest[:19]}")
            st.open_subject()
            snap("subject")
    assert len(seen) > 20, "the tabs were rendered"
    for step, html in seen:
        if html:
            assert_safe(html, f"Explorer after {step}")
    shown = "\n".join(h for _, h in seen)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown, "the payloads reached the views, escaped"
    assert st.supply, "the supply tab found the hostile artifacts"
