"""The Explorer's file preview through the layer index (issue 12), driven headlessly and counted at a proxy."""

from __future__ import annotations

import pytest
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples_peek import build_peek_images
from registry_explorer.widgets.state import ExplorerState
from registry_explorer.widgets.ui.render import file_info_html

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def peek_images(open_registry):
    imgs = build_peek_images()
    for img in imgs.values():
        push_image(open_registry.url, img, verify=open_registry.verify)
    return imgs


@pytest.fixture
def proxy(open_registry):
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as p:
        yield p


def _blob_gets(proxy):
    return [r for r in proxy.requests if "/blobs/" in r["path"] and r["method"] == "GET"]


def test_preview_after_listing_is_one_range_request(peek_images, proxy):
    state = ExplorerState(rx.Client(insecure=(proxy.host,), docker_config={}, cache=False))
    assert state.resolve(f"{proxy.host}/test/peek:v1")
    layers = len(state.manifest.layers)
    proxy.reset()
    assert state.load_files()  # the merged listing streams each layer once, building its index
    assert len(_blob_gets(proxy)) == layers
    proxy.reset()
    assert state.select_file("etc/os-release")
    info = state.file_info
    assert info["content"] == "ID=peek\nVERSION=2\n"
    gets = _blob_gets(proxy)
    assert len(gets) == 1 and gets[0]["headers"].get("Range", "").startswith("bytes=")  # no layer download
    assert info["verification"] == "verified-index" and info["requests"] == 1
    assert 0 < info["bytes_moved"] <= proxy.body_bytes
    html = file_info_html(info)
    # What vouched for the bytes, in a sentence (issue 26), and why a read moves a span.
    assert 'class="rx-verification">each compressed block read by Range matched' in html and "(verified-index)" in html
    assert 'class="rx-bytes-moved"' in html and "seek point" in info["cost_note"]


def test_preview_of_a_tampered_range_shows_an_error_not_bytes(peek_images, proxy):
    state = ExplorerState(rx.Client(insecure=(proxy.host,), docker_config={}, cache=False))
    assert state.resolve(f"{proxy.host}/test/peek:v1")
    assert state.load_files()
    proxy.flip_blob = True
    assert not state.select_file("etc/os-release")
    assert "igest mismatch" in state.error and not state.file_info.get("content")
