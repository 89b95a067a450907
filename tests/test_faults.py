"""Faults injected by a local proxy in front of the real registry (tests/harness/proxy.py)."""

from __future__ import annotations

import pytest
from helpers.clients import client_for
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.sandbox.push import push_image, seed_tags_on_disk

pytestmark = pytest.mark.integration


@pytest.fixture(params=["open", "token"])
def proxied(request, registries, images):
    """(proxy, client) in front of the open or the token registry."""
    reg = registries.get(request.param)
    store = {d: b.data for img in images.values() for d, b in img.blobs.items()}
    with FaultProxy(reg.url, upstream_verify=reg.verify, blob_store=store) as proxy:
        creds = {proxy.host: reg.auth} if reg.auth else None
        client = rx.Client(credentials=creds, insecure=(proxy.host,), docker_config={}, cache=False)  # the wire, not the disk
        yield proxy, client


def test_flipped_blob_raises_and_leaves_no_file(proxied, images, tmp_path):
    proxy, client = proxied
    r = f"{proxy.host}/test/single:v1"
    m = client.image(r)
    dest = tmp_path / "dest"
    proxy.flip_blob = True
    with pytest.raises(rx.FetchFailed) as info:
        client.fetch_blobs(r, m.layers, dest)
    assert set(info.value.failures) == {d.digest for d in m.layers} and info.value.succeeded == []
    first = info.value.first
    assert isinstance(first, rx.DigestMismatch)
    assert first.expected in {d.digest for d in m.layers} and first.actual != first.expected
    assert list(dest.iterdir()) == [], "no partial or unverified file is left behind"
    with pytest.raises(rx.DigestMismatch):
        client.blob(r, m.layers[0])
    with pytest.raises(rx.DigestMismatch):
        client.config(m)
    with pytest.raises(rx.DigestMismatch):
        with client.open_blob(r, m.layers[0]) as s:
            s.read()
    proxy.flip_blob = False
    assert len(client.fetch_blobs(r, m.layers, dest)) == len(m.layers)


def test_flipped_manifest_raises(proxied, images):
    proxy, client = proxied
    img = images["multi"]
    proxy.flip_manifest = True
    with pytest.raises(rx.DigestMismatch) as info:
        client.manifest(f"{proxy.host}/test/multi@{img.digest}")
    assert info.value.expected == img.digest
    # By tag, the registry's Docker-Content-Digest header is what the bytes are checked against.
    with pytest.raises(rx.DigestMismatch):
        client.manifest(f"{proxy.host}/test/multi:v1")
    # A child fetched by descriptor from an index is verified too.
    proxy.flip_manifest = False
    idx = client.manifest(f"{proxy.host}/test/multi:v1")
    proxy.flip_manifest = True
    with pytest.raises(rx.DigestMismatch):
        client.manifest(f"{proxy.host}/test/multi:v1", descriptor=idx.manifests[1])


@pytest.mark.parametrize("fault", ["drop_digest_on_head", "head_405"])
def test_resolve_falls_back_to_get(proxied, images, fault):
    proxy, client = proxied
    setattr(proxy, fault, True)
    proxy.requests.clear()
    for name in ("single", "multi", "docker"):
        img = images[name]
        desc = client.resolve(f"{proxy.host}/{img.repository}:{img.tag}")
        assert desc.digest == img.digest, "computed locally from the GET body"
        assert desc.size == img.root.size
        assert desc.media_type == img.root.media_type
    methods = [(r["method"], r["status"]) for r in proxy.requests if "/manifests/" in r["path"]]
    assert ("HEAD", 405 if fault == "head_405" else 200) in methods
    assert ("GET", 200) in methods


def test_single_redirect_to_other_port_drops_authorization(request, proxied, images, tmp_path):
    """One hop, registry -> blob mirror on another port, on the real registries: no credentials at the mirror.

    Chains (the same registry first, then storage; credentials never added back at a later hop) are
    pinned in tests/hostile/test_gate_depth.py (test_R1_R3_two_hops_same_registry_then_storage)."""
    proxy, client = proxied
    if request.node.callspec.params["proxied"] == "open":
        # The open registry never challenges, so nothing secret would be sent and the test could not see a
        # leak. Make the first hop ask for Basic once (distribution ignores the header it then gets) so the
        # client carries credentials to the proxy; they must not follow the redirect to the mirror.
        proxy.inject.append({"status": 401, "count": 1, "path": "/v2/",
                             "headers": {"WWW-Authenticate": 'Basic realm="open-registry"'}})
        client = rx.Client(credentials={proxy.host: ("alice", "open-sesame")}, insecure=(proxy.host,),
                           docker_config={})
    r = f"{proxy.host}/test/single:v1"
    m = client.image(r)
    proxy.redirect_blobs = True
    paths = client.fetch_blobs(r, m.layers, tmp_path)
    assert [p.read_bytes() for p in paths] == [images["single"].blobs[d.digest].data for d in m.layers]
    blob_gets = [x for x in proxy.mirror.requests if x["method"] == "GET"]
    assert len(blob_gets) == len(m.layers), "every blob came from the second port"
    assert all("authorization" not in {k.lower() for k in x["headers"]} for x in blob_gets)
    # The first hop did carry credentials, so the mirror's silence proves they were dropped.
    redirected = [x for x in proxy.requests if "/blobs/" in x["path"] and x["status"] == 307]
    assert len(redirected) == len(m.layers)
    sent = [x["headers"].get("Authorization") for x in redirected]
    if request.node.callspec.params["proxied"] == "open":
        assert sent == ["Basic YWxpY2U6b3Blbi1zZXNhbWU="] * len(m.layers)  # base64 of alice:open-sesame
    else:
        assert all(v and v.startswith("Bearer ") for v in sent)


@pytest.fixture(scope="module")
def many_tags(open_registry, images):
    """A repository with 2,500 tags on the real registry (links written into its storage)."""
    img = images["zstd"]
    push_image(open_registry.url, img, repository="test/many")
    tags = [f"t{i:04d}" for i in range(2500)]
    seed_tags_on_disk(open_registry.storage, "test/many", img.digest, tags)
    return set(tags) | {img.tag}


def test_tags_through_paginating_proxy(open_registry, many_tags):
    # distribution 2.8 ignores `n` and sends no Link header; the proxy stands in for a registry that paginates.
    with FaultProxy(open_registry.url) as proxy:
        proxy.paginate_tags = 100
        client = rx.Client(docker_config={})
        tags = client.tags(f"{proxy.host}/test/many")
        pages = [x for x in proxy.requests if x["path"].startswith("/v2/test/many/tags/list")]
    assert len(tags) == len(many_tags) == 2501
    assert set(tags) == many_tags
    assert len(pages) == 26, "followed every Link: <...>; rel=next"


def test_catalog_pagination_on_real_registry(open_registry, many_tags):
    client = client_for(open_registry)
    full = client.catalog(open_registry.host)
    seen = []
    client.transport.hooks.append(seen.append)
    paged = client.catalog(open_registry.host, page_size=2)
    # The independent answer is the registry's storage: a repository is a directory holding _manifests.
    root = open_registry.storage / "docker" / "registry" / "v2" / "repositories"
    on_disk = sorted(str(p.parent.relative_to(root)) for p in root.rglob("_manifests"))
    assert full == on_disk
    assert paged == on_disk
    assert {"test/single", "test/multi", "test/docker", "test/zstd", "test/many"} <= set(full)
    assert len([x for x in seen if x.purpose == "catalog"]) >= len(full) // 2, "real Link pagination was followed"


def test_catalog_through_proxy_token_registry(token_registry):
    with FaultProxy(token_registry.url) as proxy:
        client = rx.Client(credentials={proxy.host: token_registry.auth}, insecure=(proxy.host,), docker_config={})
        repos = client.catalog(proxy.host, page_size=3)
    assert {"test/single", "private/single"} <= set(repos)


def test_403_message_depends_on_whether_credentials_were_sent(proxied):
    """Docker Hub answers 'denied' both to a stranger and for a repository that does not exist."""
    proxy, client = proxied
    proxy.inject.append({"status": 403, "count": 2, "path": "/manifests/",
                         "body": b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'})
    anonymous = rx.Client(insecure=(proxy.host,), docker_config={})
    with pytest.raises(rx.Denied) as info:
        anonymous.manifest(f"{proxy.host}/test/single:v1")
    assert info.value.status == 403 and info.value.errors[0]["code"] == "DENIED"
    assert "anonymous access is not allowed, or the repository does not exist" in str(info.value)
    with_creds = rx.Client(credentials={proxy.host: ("someone", "secret")}, insecure=(proxy.host,), docker_config={})
    with pytest.raises(rx.Denied) as info:
        with_creds.manifest(f"{proxy.host}/test/single:v1")
    assert "your account lacks access" in str(info.value)
