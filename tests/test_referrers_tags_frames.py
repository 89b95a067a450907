"""Referrers, tag and compare frames against real registries.

distribution 2.8 has no referrers API (GET /v2/<name>/referrers/<digest> is a 404), so the
referrers *API* is exercised against a small local server standing in for a registry that has
it (with pagination, and with and without server-side artifactType filtering). The fallback
tag schema is exercised against the real registry.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from helpers.clients import client_for
from helpers.standin import Handler, serve

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core import mediatypes as mt

pytestmark = pytest.mark.integration
SUBJECT = "sha256:" + "5" * 64


def _desc(i, artifact_type):
    return {"mediaType": mt.OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 100 + i,
            "artifactType": artifact_type,
            "annotations": {"org.opencontainers.image.created": f"2024-01-0{i + 1}T00:00:00Z"}}


class _Referrers(Handler):
    filters = False
    requests: list = []

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        type(self).requests.append(self.path)
        if u.path == "/v2/":
            return self.send(200)
        if u.path != f"/v2/app/referrers/{SUBJECT}":
            return self.send(404)
        descs = [_desc(0, "application/spdx+json"), _desc(1, "application/vnd.dev.cosign.sig"),
                 _desc(2, "application/spdx+json")]
        headers = {"Content-Type": mt.OCI_INDEX}
        if self.filters and q.get("artifactType"):
            descs = [d for d in descs if d["artifactType"] == q["artifactType"][0]]
            headers["OCI-Filters-Applied"] = "artifactType"
        page = int(q.get("page", ["0"])[0])
        chunk = descs[page * 2:page * 2 + 2]
        if page * 2 + 2 < len(descs):
            nxt = f"/v2/app/referrers/{SUBJECT}?page={page + 1}"
            if q.get("artifactType"):
                nxt += f"&artifactType={q['artifactType'][0]}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": chunk}).encode()
        self.send(200, body, headers)


@pytest.fixture(params=[False, True], ids=["client-filters", "server-filters"])
def referrers_server(request):
    handler = type("H", (_Referrers,), {"filters": request.param, "requests": []})
    with serve(handler) as host:
        yield host, handler


def test_referrers_api_with_pagination_and_filter(referrers_server):
    host, handler = referrers_server
    client = rx.Client(docker_config={})
    all_refs = client.referrers(f"{host}/app@{SUBJECT}")
    assert [d.artifact_type for d in all_refs] == ["application/spdx+json", "application/vnd.dev.cosign.sig",
                                                   "application/spdx+json"]
    sboms = client.referrers(f"{host}/app@{SUBJECT}", artifact_type="application/spdx+json")
    assert [d.digest for d in sboms] == [f"sha256:{0:064x}", f"sha256:{2:064x}"]
    df = frames.referrers(client, f"{host}/app@{SUBJECT}")
    assert list(df.columns) == frames.manifests.REFERRER_COLUMNS and len(df) == 3
    assert str(df.loc[1, "created"].date()) == "2024-01-02"
    assert any("page=1" in p for p in handler.requests), "followed the Link header"


def test_referrers_fallback_tag_on_real_registry(open_registry, images):
    from registry_explorer.sandbox.push import push_image

    single, art = images["single"], images["artifact"]
    # A repository of its own, so the extra tag does not change what other tests list.
    push_image(open_registry.url, single, repository="test/referred")
    push_image(open_registry.url, art, repository="test/referred")
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
             "manifests": [art.root.descriptor(artifactType="application/spdx+json")]}
    tag = single.digest.replace(":", "-")
    r = requests.put(f"{open_registry.url}/v2/test/referred/manifests/{tag}", data=json.dumps(index),
                     headers={"Content-Type": mt.OCI_INDEX}, timeout=30, verify=False)
    assert r.status_code == 201
    client = client_for(open_registry)
    found = client.referrers(f"{open_registry.host}/test/referred:v1")
    assert [d.digest for d in found] == [art.digest]
    seen = [(ex.purpose, ex.status) for ex in client.trace]
    assert ("referrers", 404) in seen, "the API was tried first"
    assert client.referrers(f"{open_registry.host}/test/referred:v1", artifact_type="application/x-none") == []
    assert client.referrers(f"{open_registry.host}/test/multi:v1") == [], "no fallback tag means no referrers"


def test_tags_frame(any_registry, images):
    client = client_for(any_registry)
    df = frames.tags(client, f"{any_registry.host}/test/docker")
    assert list(df.columns) == frames.manifests.TAG_COLUMNS
    rows = df.set_index("tag")
    img = images["docker"]
    assert rows.loc["v1", "digest"] == img.digest and rows.loc["v1", "media_type"] == mt.DOCKER_LIST
    assert rows.loc["amd64", "digest"] == img.extra["platforms"]["linux/amd64"]
    assert rows.loc["v1", "size"] == img.root.size


def test_compare_purpose_built_images(any_registry, images):
    single, variant = images["single"], images["variant"]
    want = variant.extra["vs_single"]
    client = client_for(any_registry)
    df = frames.compare(client, f"{any_registry.host}/test/single:v1", f"{any_registry.host}/test/variant:v1")
    assert list(df.columns) == frames.manifests.COMPARE_COLUMNS
    lay = df[df["kind"] == "layer"].set_index("key")
    assert (lay["status"] == "shared").sum() == want["layers_shared"]
    assert list(lay.index[lay["status"] == "only_a"]) == want["layers_only_a"]
    assert list(lay.index[lay["status"] == "only_b"]) == want["layers_only_b"]
    sizes = {b.digest: b.size for b in single.extra["layers"]}
    shared = [d for d in lay.index[lay["status"] == "shared"]]
    assert df.attrs["shared_bytes"] == sum(sizes[d] for d in shared)
    assert df.attrs["only_a_bytes"] == sum(sizes[d] for d in want["layers_only_a"])
    assert df.attrs["only_b_bytes"] == variant.blobs[want["layers_only_b"][0]].size
    env = df[df["kind"] == "env"].set_index("key")
    for k, (a, b) in want["env_changed"].items():
        assert (env.loc[k, "a"], env.loc[k, "b"], env.loc[k, "status"]) == (a, b, "changed")
    for k, v in want["env_added"].items():
        assert (env.loc[k, "b"], env.loc[k, "status"]) == (v, "only_b")
    labels = df[df["kind"] == "labels"].set_index("key")
    for k, (a, b) in want["labels_changed"].items():
        assert (labels.loc[k, "a"], labels.loc[k, "b"]) == (a, b)
    for k, v in want["labels_added"].items():
        assert (labels.loc[k, "b"], labels.loc[k, "status"]) == (v, "only_b")
    for k, v in want["labels_removed"].items():
        assert (labels.loc[k, "a"], labels.loc[k, "status"]) == (v, "only_a")
    cmd = df[df["kind"] == "cmd"].iloc[0]
    assert (cmd["a"], cmd["b"], cmd["status"]) == (*want["cmd"], "changed")
