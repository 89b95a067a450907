"""Peek without pulling (issue 12) against the real registry, counted at a proxy.

The big sample (>= 64 MiB gzip) is built once and kept on disk (samples_peek.big_image), so
after the first run these tests take seconds.
"""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core.errors import SymlinkLoop
from registry_explorer.http.trace import metered
from registry_explorer.layers import iter_layer
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples_peek import big_image, build_peek_images

pytestmark = pytest.mark.integration
SPAN = 1 << 20
LAST = "data/last.txt"


@pytest.fixture(scope="module")
def peek_images(open_registry):
    imgs = build_peek_images()
    for img in imgs.values():
        push_image(open_registry.url, img, verify=open_registry.verify)
    return imgs


@pytest.fixture(scope="module")
def big(open_registry):
    img = big_image(64)  # kept in $RX_SAMPLES_DIR between sessions (tests/conftest.py)
    push_image(open_registry.url, img, verify=open_registry.verify)
    return img


@pytest.fixture
def proxy(open_registry):
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as p:
        yield p


def _client(proxy, cache):
    return rx.Client(insecure=(proxy.host,), docker_config={}, cache=cache)


def _blob_gets(proxy):
    return [r for r in proxy.requests if "/blobs/" in r["path"] and r["method"] == "GET"]


def _extract(blob: bytes, path: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return tar.extractfile(path).read()


def test_big_sample_is_big(big):
    layer = big.extra["layers"][0]
    assert layer.size >= 64 << 20
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.data))) as tar:
        assert len(tar.getnames()) >= 5000


def test_warm_read_two_requests_and_bounded_bytes(big, proxy, tmp_path):
    ref = f"{proxy.host}/test/big:v1"
    layer = big.extra["layers"][0]
    expected = _extract(layer.data, LAST)
    cold = _client(proxy, tmp_path)
    assert cold.read_file(ref, LAST) == expected
    idx = cold.layer_index(ref, cold.image(ref).layers[0])
    assert idx.kind == "gzip-checkpoints" and idx.chain == "verified-index"

    warm = _client(proxy, tmp_path)  # a new process would see the same: the index is on disk
    m = warm.image(ref)
    proxy.reset()
    f = warm.open_file(f"{proxy.host}/test/big@{m.digest}", LAST)
    assert f.read() == expected and f.verification == "verified-index"
    assert len(proxy.requests) <= 2, proxy.requests
    hit = warm.cached_layer_index(m.layers[0]).find(LAST)
    compressed_file = len(gzip.compress(expected))
    assert proxy.body_bytes <= SPAN + compressed_file + (64 << 10), proxy.body_bytes
    ranges = [r["headers"].get("Range") for r in _blob_gets(proxy)]
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)
    assert any("Range: bytes=" in x.as_curl() for x in warm.trace)  # as_curl replays the Range
    assert hit.entry.size == len(expected)


# The index also holds each file's sha256 (issue 25: rx.diff compares images without a download):
# 32 incompressible bytes per file, 0.27 % of this layer of 6,001 files averaging 11 KiB.
@pytest.mark.parametrize("span,bound", [(1 << 20, 0.04), (4 << 20, 0.015)])
def test_index_size_ratio(big, open_registry, tmp_path, span, bound):
    c = rx.Client(docker_config={}, cache=tmp_path)
    ref = f"{open_registry.host}/test/big:v1"
    layer = c.image(ref).layers[0]
    c.layer_index(ref, layer, span=span)
    heads = [size for path, size, _ in c.cache.entries() if "layer-index" in path.parts]
    windows = [size for path, size, _ in c.cache.entries() if "layer-zran" in path.parts]
    assert len(heads) == 1 and windows  # the gzip windows are stored apart, in groups (peek/stored.py)
    on_disk = heads[0] + sum(windows)
    print(f"span {span >> 20} MiB: index {on_disk} bytes = {on_disk / layer.size:.2%} of the layer "
          f"(head {heads[0]}, {len(windows)} window groups)")
    assert on_disk <= bound * layer.size


def test_tampered_layer_yields_no_index(peek_images, proxy, tmp_path):
    c = _client(proxy, tmp_path)
    ref = f"{proxy.host}/test/peek:v1"
    m = c.image(ref)
    proxy.flip_blob = True
    with pytest.raises(rx.DigestMismatch):
        c.read_file(ref, "etc/os-release")
    assert c.cache.get("layer-index", m.layers[1].digest) is None
    assert c.cached_layer_index(m.layers[1]) is None


def test_tampered_range_is_refused(peek_images, proxy, tmp_path):
    c = _client(proxy, tmp_path)
    ref = f"{proxy.host}/test/peek:v1"
    assert c.read_file(ref, "etc/os-release") == b"ID=peek\nVERSION=2\n"
    proxy.flip_blob = True  # the ranged answer is corrupted now
    with pytest.raises(rx.DigestMismatch):
        c.read_file(ref, "etc/os-release")


def test_estargz_cold_read_three_requests(peek_images, proxy, tmp_path):
    c = _client(proxy, tmp_path)
    ref = f"{proxy.host}/test/estargz:v1"
    m = c.image(ref)
    proxy.reset()
    f = c.open_file(f"{proxy.host}/test/estargz@{m.digest}", "etc/motd")
    assert f.read() == b"eStargz says hello\n" and f.verification == "estargz-toc"
    assert len(_blob_gets(proxy)) <= 3
    assert c.layer_index(ref, m.layers[0]).kind == "estargz-toc"


def test_estargz_tampered_entry_raises(peek_images, proxy, tmp_path):
    c = _client(proxy, tmp_path)
    ref = f"{proxy.host}/test/estargz:v1"
    c.layer_index(ref, c.image(ref).layers[0])  # the TOC read cleanly
    proxy.flip_blob = True
    with pytest.raises(rx.DigestMismatch):
        c.read_file(ref, "bin/tool")


def test_zstd_frames_and_single_frame(peek_images, open_registry, tmp_path):
    c = rx.Client(docker_config={}, cache=tmp_path)
    ref = f"{open_registry.host}/test/zstd-frames:v1"
    cold = c.open_file(ref, "data/f100.txt")  # from the verified copy its own full pass made: no second request
    assert cold.read().startswith(b"line 100 ") and cold.kind == "zstd-frames" and cold.verification == "layer-digest"
    f = c.open_file(ref, "data/f100.txt")
    assert f.read().startswith(b"line 100 ") and f.kind == "zstd-frames" and f.verification == "verified-index"
    g = c.open_file(ref, "one")
    assert g.read() == b"single frame\n" * 100 and g.kind == "stream-only" and g.verification == "layer-digest"


@pytest.mark.reaches("registry_explorer.imagefs.reader:read_entry#except RangeRefused",
                     "registry_explorer.imagefs.reader:_stream_entry")
@pytest.mark.parametrize("fault", ["ignore", "shift", "416"])
def test_range_faults_fall_back_to_verified_stream(peek_images, proxy, tmp_path, fault):
    c = _client(proxy, tmp_path)
    ref = f"{proxy.host}/test/peek:v1"
    c.layer_index(ref, c.image(ref).layers[1])
    proxy.range_fault = fault
    f = c.open_file(ref, "cache/new.bin")
    assert f.read() == b"upper cache\n" and f.verification == "layer-digest"
    notes = [x.note for x in c.trace if x.note]
    assert notes and "range fallback" in notes[-1]


def test_merged_filesystem_resolution(peek_images, open_registry):
    c = rx.Client(docker_config={})
    ref = f"{open_registry.host}/test/peek:v1"
    assert c.read_file(ref, "lib/libx.so") == b"\x7fELF lib x\n"  # a relative link to a directory
    assert c.read_file(ref, "etc/escape") == b"ID=peek\nVERSION=2\n"  # `..` stops at the image root
    # The two links the sample builds: an absolute symlink restarts at the image root and reads the
    # merged file (the upper layer's); a hard link keeps the bytes of its target in its own layer.
    assert c.read_file(ref, "etc/abs") == b"ID=peek\nVERSION=2\n"
    assert c.read_file(ref, "etc/hard") == b"ID=peek\n"
    assert c.read_file(ref, "etc/os-release", layer=0) == b"ID=peek\n"
    assert c.read_file(ref, "etc/os-release", limit=3) == b"ID="
    for hidden in ("etc/gone", "cache/old.bin"):
        with pytest.raises(rx.NotFound):
            c.read_file(ref, hidden)
    with pytest.raises(SymlinkLoop):
        c.read_file(ref, "etc/loop")


def test_cold_read_is_one_verified_pass(big, open_registry):
    """Issue 12/23: a cold read streams the layer once and takes the file from that pass (no second request);
    the index it leaves lists what a plain verified stream lists. How long that takes next to
    `frames.files` and `curl | tar` is measured in benchmarks/ (cases 4 and 7), not here."""
    ref = f"{open_registry.host}/test/big:v1"
    c = rx.Client(docker_config={}, cache=False)
    layer = c.image(ref).layers[0]
    with metered() as cost:
        f = c.open_file(ref, LAST)
    assert f.read() == _extract(layer_bytes(big), LAST) and f.verification == "layer-digest"
    blob_gets = [x for x in c.trace if x.purpose == "blob"]
    assert len(blob_gets) == 1 and "Range" not in blob_gets[0].request_headers  # one verified stream
    assert (f.requests, f.bytes_moved) == (cost.requests, cost.bytes_moved) and f.bytes_moved >= layer.size
    entries = list(iter_layer(c, ref, layer))
    assert [e.entry for e in c.cached_layer_index(layer).entries] == entries  # the index lists what the stream does


def layer_bytes(img) -> bytes:
    return img.extra["layers"][0].data


def test_listing_builds_the_index_so_the_next_look_is_free(big, proxy, tmp_path):
    """frames.files builds the index in its one verified pass; files/image_files/wasted and read_file then need no stream."""
    c = _client(proxy, False)  # no disk cache: the per-client memory is enough
    ref = f"{proxy.host}/test/big:v1"
    layer = c.image(ref).layers[0]
    proxy.reset()
    first = frames.files(c, ref, layer)
    assert len(_blob_gets(proxy)) == 1 and LAST in set(first["path"])
    proxy.reset()
    assert frames.files(c, ref, layer).equals(first)
    assert LAST in set(frames.image_files(c, ref)["path"])
    frames.wasted(c, ref)
    assert _blob_gets(proxy) == []  # a second look at the layer costs no download
    assert c.read_file(ref, LAST) == _extract(layer_bytes(big), LAST)
    gets = _blob_gets(proxy)
    assert len(gets) == 1 and gets[0]["headers"].get("Range", "").startswith("bytes=")


def test_index_is_kept_in_memory_without_a_disk_cache(peek_images, proxy):
    c = _client(proxy, False)
    ref = f"{proxy.host}/test/peek:v1"
    assert c.read_file(ref, "etc/os-release") == b"ID=peek\nVERSION=2\n"
    proxy.reset()
    assert c.read_file(ref, "cache/new.bin") == b"upper cache\n"
    gets = _blob_gets(proxy)
    assert len(gets) == 1 and gets[0]["headers"].get("Range"), "one Range request: no layer streamed again"


def test_fsspec_open_of_a_small_file_in_a_big_layer_is_two_requests_at_most(big, proxy, tmp_path):
    """Issue 15's acceptance: docker:// reads through the layer index, counted at the proxy."""
    from registry_explorer.doors.dockerfs import DockerFileSystem

    ref = f"{proxy.host}/test/big:v1"
    expected = _extract(big.extra["layers"][0].data, LAST)
    builder = _client(proxy, tmp_path)
    builder.layer_index(ref, builder.image(ref).layers[0])  # the index, cached on disk
    warm = _client(proxy, tmp_path)
    digest = warm.image(ref).digest
    fs = DockerFileSystem(client=warm, skip_instance_cache=True)
    proxy.reset()
    with fs.open(f"docker://{proxy.host}/test/big@{digest}/{LAST}", "rb") as f:
        assert f.read() == expected
    assert len(proxy.requests) <= 2, [(r["method"], r["path"]) for r in proxy.requests]
    gets = _blob_gets(proxy)
    assert gets and all(r["headers"].get("Range") for r in gets), "only ranged blob reads"
