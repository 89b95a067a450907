"""The one file reader's routes (imagefs/reader.py) where nothing else looks: the stream fallback, a damaged
index, a layout's local reads. Written against mutations the suite let through (scripts/mutations.toml:
read-stream-fallback-unverified, read-ranged-file-digest-unchecked, meter-local-bytes-uncounted).

The image: one gzip layer holding two small files of one size, then a MiB of incompressible noise,
so a byte flipped in the middle of the blob lies after both files.
"""

from __future__ import annotations

import copy
import dataclasses
import random

import pytest
from helpers.clients import client_for
from helpers.path_image import build
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.imagefs.filesystem import ImageFS
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples import write_layout

A, B = b"A" * 1000, b"B" * 1000
NOISE = random.Random(24).randbytes(1 << 20)


def _image():
    return build("test/routes", "v1", [[("a.txt", "file", A), ("b.txt", "file", B), ("noise.bin", "file", NOISE)]])


@pytest.fixture(scope="module")
def routes(open_registry):
    img = _image()
    push_image(open_registry.url, img, verify=open_registry.verify)
    return img


@pytest.mark.integration
@pytest.mark.reaches("registry_explorer.imagefs.reader:read_entry#except RangeRefused",
                     "registry_explorer.imagefs.reader:_stream_entry")
def test_stream_fallback_holds_a_file_back_until_the_whole_layer_verified(routes, open_registry):
    """Range refused, so the file comes from one stream of the layer: its bytes are at the start, a flipped byte
    in the middle; the file must not be returned before the stream reached the end and failed its digest."""
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as proxy:
        c = rx.Client(insecure=(proxy.host,), docker_config={}, cache=False, retries=0)
        ref = f"{proxy.host}/test/routes:v1"
        c.layer_index(ref, c.image(ref).layers[0])  # a clean verified pass: the index is known
        proxy.range_fault = "416"
        f = c.open_file(ref, "a.txt")  # control: the fallback itself works
        assert f.read() == A and f.verification == "layer-digest"
        assert any("range fallback" in (x.note or "") for x in c.trace)
        proxy.flip_blob = True
        with pytest.raises(rx.DigestMismatch):
            ImageFS(c, ref).read_file("b.txt")


@pytest.mark.integration
def test_a_damaged_verified_index_never_yields_another_files_bytes(routes, open_registry):
    """An index whose entry for a.txt points at b.txt's bytes (same size): every block read by Range checks, so
    only the file's own digest from the verified pass can tell; the read must fail, not return B as a.txt."""
    c = client_for(open_registry)
    ref = f"{open_registry.host}/test/routes:v1"
    desc = c.image(ref).layers[0]
    assert c.read_file(ref, "a.txt") == A
    idx = c.cached_layer_index(desc)
    assert idx.chain == "verified-index" and idx.kind == "gzip-checkpoints"
    b_entry = idx.find("b.txt")
    # The same index (seek points, windows, block digests) with one entry moved: a LayerIndex keeps loaded
    # entries as columns, so the copy is given a plain entry list and no columns or path map to go stale.
    damaged = copy.copy(idx)
    damaged._entries = [dataclasses.replace(e, offset=b_entry.offset) if e.entry.path == "a.txt" else e
                        for e in idx.entries]
    damaged._columns = damaged._by_path = None
    c.indexes.remember(damaged)  # the same chain key: it replaces the good one
    assert c.cached_layer_index(desc).find("a.txt").offset == b_entry.offset
    with pytest.raises(rx.DigestMismatch):
        ImageFS(c, ref).read_file("a.txt")


def test_a_layout_read_costs_its_local_bytes_and_no_request(tmp_path):
    """A layout has no wire: its reads cost local bytes (the whole blob for the first, verified pass, a span
    for a later ranged read) and no request."""
    img = _image()
    write_layout(img, tmp_path)
    layout = rx.Layout(tmp_path, cache=False)
    cold = layout.open_file("v1", "a.txt")
    blob_size = img.extra["layers"][0].size
    assert cold.read() == A and cold.requests == 0
    assert cold.bytes_moved >= blob_size, (cold.bytes_moved, blob_size)
    warm = ImageFS(layout, "v1").open("b.txt")  # the index is known: one ranged read of the local blob
    assert warm.read() == B and warm.requests == 0 and warm.verification == "verified-index"
    assert 0 < warm.bytes_moved < blob_size, (warm.bytes_moved, blob_size)


@pytest.mark.integration
def test_answers_from_the_disk_cache_are_not_counted_as_requests(routes, open_registry, tmp_path):
    """A later process on the same disk cache: the manifest and the layer index come from the cache (noted in
    the trace as CACHE), the file by one Range request; the read's cost counts that one request only."""
    ref = f"{open_registry.host}/test/routes:v1"
    first = rx.Client(docker_config={}, cache=tmp_path)
    assert first.read_file(ref, "a.txt") == A
    pinned = f"{open_registry.host}/test/routes@{first.resolve(ref).digest}"
    later = rx.Client(docker_config={}, cache=tmp_path)
    f = later.open_file(pinned, "b.txt")
    assert f.read() == B and f.verification == "verified-index"
    cached = [x for x in later.trace if x.origin == "cache"]
    sent = [x for x in later.trace if x.origin != "cache"]
    assert {x.purpose for x in cached} >= {"manifest"} and len(cached) >= 2, [(x.purpose, x.url) for x in cached]
    blobs = [x for x in sent if x.purpose == "blob"]
    assert len(blobs) == 1 and "Range" in blobs[0].request_headers
    # Everything sent may count (an https probe of this plain-http registry is sent, and unanswered); no cache hit may.
    assert 1 <= f.requests <= len(sent), (f.requests, [(x.purpose, x.status) for x in sent])
    assert f.bytes_moved == sum(x.bytes or 0 for x in sent)
