"""Navigation by digest in static HTML: full digest in a title, `repo@digest` to copy, curl and skopeo lines."""

from __future__ import annotations

import json
from pathlib import Path

import registry_explorer as rx
from registry_explorer.core.reference import parse_reference

REAL = Path(__file__).parent / "fixtures" / "real"
ALPINE_AMD64 = "sha256:1882fa4569e0c591ea092d3766c4893e19b8901a8e649de7067188aba3cc0679"
ALPINE_CONFIG = "sha256:e7b39c54cdeca0d2aae83114bb605753a5f5bc511fe8be7590e38f6d9f915dad"


def _fetched(path: str, ref: str):
    raw = (REAL / path).read_bytes()
    return rx.parse_manifest(raw, None, reference=parse_reference(ref))


def test_index_digests_are_titled_and_copyable_as_repo_at_digest():
    idx = _fetched("index/dockerhub-alpine-3.23.2-oci-index-attestations.json", "docker.io/library/alpine:3.23.2")
    html = idx._repr_html_()
    assert f'title="{ALPINE_AMD64}"' in html
    assert f'<code class="rx-dg-full" style="display:none">docker.io/library/alpine@{ALPINE_AMD64}</code>' in html
    assert f"skopeo inspect --raw docker://docker.io/library/alpine@{idx.digest}" in html
    assert f"https://registry-1.docker.io/v2/library/alpine/manifests/{idx.digest}" in html
    assert "<script" not in html


def test_manifest_view_has_curl_for_itself_and_its_config():
    m = _fetched("manifest/dockerhub-alpine-3.23.2-amd64-oci-manifest.json", f"docker.io/library/alpine@{ALPINE_AMD64}")
    html = m._repr_html_()
    assert f"curl -sS -H &#x27;Accept: application/vnd.oci.image.manifest.v1+json&#x27; https://registry-1.docker.io/v2/library/alpine/manifests/{ALPINE_AMD64}" in html
    assert f"https://registry-1.docker.io/v2/library/alpine/blobs/{ALPINE_CONFIG}" in html
    assert f"docker.io/library/alpine@{ALPINE_CONFIG}</code>" in html


def test_loopback_registries_get_plain_http_and_unfetched_documents_no_commands():
    m = _fetched("manifest/dockerhub-alpine-3.23.2-amd64-oci-manifest.json", "127.0.0.1:5000/demo/x:1")
    assert "http://127.0.0.1:5000/v2/demo/x/manifests/" in m._repr_html_()
    bare = rx.parse_manifest((REAL / "manifest/dockerhub-alpine-3.23.2-amd64-oci-manifest.json").read_bytes())
    html = bare._repr_html_()
    assert "commands" not in html and f'<code class="rx-dg-full" style="display:none">{ALPINE_CONFIG}</code>' in html


def test_hostile_digest_strings_stay_escaped_in_titles_and_commands():
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:\"><script>x", "size": 1},
           "layers": []}
    m = rx.parse_manifest(json.dumps(doc).encode(), None, reference=parse_reference("127.0.0.1:5000/demo/x:1"))
    html = m._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
