"""Issue 21, class 1: derived data is used only where the chain of trust it was built under holds.

A hostile registry publishes an image whose layer descriptor copies a popular layer's digest and
size, adds its own eStargz TOC annotation, and serves an eStargz blob of that size under that
digest. Reading through its manifest gives its bytes (the user asked for its image, and they are
labelled by the chain that vouched for them: `estargz-toc`); the genuine image, pinned by digest on
another registry, must never be answered from that TOC - not in this process, not from the disk
cache in a later one. Then one test per row of the table in `peek/trust.py`.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import subprocess
import sys
import tarfile
import textwrap

import pytest
from helpers.hostile import OCI_CONFIG, OCI_LAYER_GZ, OCI_MANIFEST, recording_server, sha256

import registry_explorer as rx
from registry_explorer.core.models import Descriptor
from registry_explorer.peek import trust
from registry_explorer.peek.estargz import estargz_layer
from registry_explorer.peek.index import LayerIndex
from registry_explorer.peek.indexes import LayerIndexes
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples import Blob, TestImage, _oci_image

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
FILES = {"etc/passwd": PASSWD, "etc/hostname": b"genuine\n", "bin/tool": bytes(range(256)) * 64}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _pad_member(n: int) -> bytes:
    """An empty gzip member of exactly `n` bytes (its FEXTRA field takes up the slack): a valid gzip tail."""
    body = b"\x03\x00" + struct.pack("<II", 0, 0)  # an empty final fixed block, CRC 0, length 0
    extra = n - 10 - 2 - len(body)
    assert 0 <= extra <= 0xFFFF
    return b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", extra) + b"\0" * extra + body




def _image(name: str, layer: bytes, annotations: dict | None = None) -> TestImage:
    diff_id = sha256(gzip.decompress(layer))
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
              "config": {}}
    img = _oci_image(name, config, [Blob(OCI_LAYER_GZ, layer)], [diff_id])
    if annotations:
        m = img.root.json()
        m["layers"][0]["annotations"] = annotations
        root = Blob(OCI_MANIFEST, json.dumps(m).encode())
        img = TestImage(img.name, img.repository, img.tag, root, {**img.blobs, root.digest: root},
                        [(img.tag, root)], img.extra)
    return img


@pytest.fixture(scope="module")
def forged(open_registry):
    """The genuine image on the real registry, and a hostile registry whose manifest names its layer."""
    genuine_layer = gzip.compress(_tar(FILES), mtime=0)
    # The forged eStargz blob ends with its footer, so the genuine layer is the one padded to its size
    # (an empty gzip member whose FEXTRA takes up the slack); the noise makes the forgery the longer one.
    evil_blob, evil_toc, _ = estargz_layer([("etc", "dir", b""), ("etc/passwd", "reg", b""),
                                            ("etc/hostname", "reg", b"evil\n"),
                                            ("noise", "reg", random.Random(1).randbytes(len(genuine_layer) + 64))])
    genuine_layer += _pad_member(len(evil_blob) - len(genuine_layer))
    assert len(genuine_layer) == len(evil_blob)
    genuine = _image("genuine", genuine_layer)
    push_image(open_registry.url, genuine, repository="trust/genuine", tag="v1")
    layer_digest = sha256(genuine_layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                           "layers": [{"mediaType": OCI_LAYER_GZ, "digest": layer_digest, "size": len(evil_blob),
                                       "annotations": {trust.ESTARGZ_TOC_ANNOTATION: evil_toc}}]}).encode()
    files = {"/v2/evil/manifests/v1": (manifest, OCI_MANIFEST),
             f"/v2/evil/manifests/{sha256(manifest)}": (manifest, OCI_MANIFEST),
             f"/v2/evil/blobs/{sha256(config)}": (config, OCI_CONFIG),
             f"/v2/evil/blobs/{layer_digest}": (evil_blob, "application/octet-stream")}  # not what the digest names

    def respond(h, s):
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        if path not in files:
            return h.json(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": path}]})
        body, ctype = files[path]
        rng = s.header("Range")
        if rng and rng.startswith("bytes="):  # a registry that honours Range, as eStargz readers expect
            lo, _, hi = rng[6:].partition("-")
            lo, hi = int(lo), min(int(hi) if hi else len(body) - 1, len(body) - 1)
            return h.reply(206, body[lo:hi + 1], {"Content-Type": ctype,
                                                   "Content-Range": f"bytes {lo}-{hi}/{len(body)}"})
        h.reply(200, body, {"Content-Type": ctype, "Docker-Content-Digest": sha256(body)})

    with recording_server(respond) as evil:
        yield {"genuine": f"{open_registry.host}/trust/genuine@{genuine.root.digest}",
               "evil": f"127.0.0.1:{evil.port}/evil:v1", "layer": layer_digest, "toc": evil_toc}


def test_a_forged_toc_never_answers_for_the_genuine_image(forged, tmp_path):
    c = rx.Client(docker_config={}, cache=tmp_path / "cache", retries=0)
    f = c.open_file(forged["evil"], "etc/passwd")
    assert f.read() == b"" and f.verification == "estargz-toc"  # the hostile image's own bytes, honestly labelled
    g = c.open_file(forged["genuine"], "etc/passwd")
    assert g.read() == PASSWD and g.verification == "layer-digest"
    assert c.read_file(forged["genuine"], "etc/hostname") == b"genuine\n"
    assert c.read_file(forged["genuine"], "bin/tool") == FILES["bin/tool"]  # no DigestMismatch for real files
    layer = c.image(forged["genuine"]).layers[0]
    assert c.cached_layer_index(layer).chain == "verified-index"  # the genuine layer's own chain


def test_a_forged_toc_in_the_disk_cache_never_reaches_a_later_process(forged, tmp_path):
    cache = tmp_path / "cache"
    c = rx.Client(docker_config={}, cache=cache, retries=0)
    assert c.read_file(forged["evil"], "etc/passwd") == b""  # the forged TOC index is now on disk
    code = textwrap.dedent(f"""
        import registry_explorer as rx
        c = rx.Client(docker_config={{}}, cache={str(cache)!r}, retries=0)
        f = c.open_file({forged["genuine"]!r}, "etc/passwd")
        print(f.verification, f.read() == {PASSWD!r})
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["layer-digest", "True"]


def test_a_genuine_toc_and_a_forged_one_for_one_layer_are_kept_apart(open_registry, tmp_path):
    """Two manifests naming one eStargz layer with two TOC digests: each gets only the TOC it names."""
    blob, good_toc, diff_id = estargz_layer([("etc", "dir", b""), ("etc/passwd", "reg", PASSWD)])
    img = _image("estargz-genuine", blob, {trust.ESTARGZ_TOC_ANNOTATION: good_toc})
    push_image(open_registry.url, img, repository="trust/estargz", tag="v1")
    lying = _image("estargz-lying", blob, {trust.ESTARGZ_TOC_ANNOTATION: sha256(b"not this layer's toc")})
    push_image(open_registry.url, lying, repository="trust/estargz-lying", tag="v1")
    c = rx.Client(docker_config={}, cache=tmp_path, retries=0)
    assert c.read_file(f"{open_registry.host}/trust/estargz:v1", "etc/passwd") == PASSWD
    with pytest.raises(rx.DigestMismatch):  # the lying manifest's TOC digest is checked, not borrowed
        c.read_file(f"{open_registry.host}/trust/estargz-lying:v1", "etc/passwd")


# -- one test per row of the table in peek/trust.py ---------------------------------------------------------


def _desc(digest="sha256:" + "a" * 64, size=100, **annotations) -> Descriptor:
    return Descriptor(OCI_LAYER_GZ, digest, size, annotations)


def _index(chain: str, anchor: str = "", digest="sha256:" + "a" * 64, size=100) -> LayerIndex:
    kind = {"verified-index": "stream-only", "estargz-toc": "estargz-toc", "zstd-chunked-toc": "zstd-chunked-toc"}[chain]
    return LayerIndex(layer_digest=digest, layer_size=size, media_type=OCI_LAYER_GZ, kind=kind, chain=chain,
                      anchor=anchor)


def test_row_layer_digest_a_read_without_an_index_streams_and_verifies(forged):
    c = rx.Client(docker_config={}, cache=False)
    f = c.open_file(forged["genuine"], "bin/tool")
    assert f.read() == FILES["bin/tool"] and f.verification == "layer-digest"
    assert "sha256 matched the layer digest" in f.verified_by
    assert [x.purpose for x in c.trace].count("blob") == 1  # the one verified stream, nothing asked twice
    warm = c.open_file(forged["genuine"], "etc/hostname")  # then the index built in that pass serves the layer
    assert warm.read() == b"genuine\n" and warm.verification == "verified-index"


def test_row_verified_index_serves_every_descriptor_naming_the_layer_whatever_its_annotations():
    store = LayerIndexes()
    store.remember(_index("verified-index"))
    assert store.find(_desc()).chain == "verified-index"
    assert store.find(_desc(**{trust.ESTARGZ_TOC_ANNOTATION: "sha256:" + "b" * 64})).chain == "verified-index"
    assert store.find(_desc(size=101)) is None  # another size is another blob claim: no index


def test_row_estargz_toc_serves_only_the_same_toc_digest():
    toc = "sha256:" + "c" * 64
    store = LayerIndexes()
    store.remember(_index("estargz-toc", toc))
    assert store.find(_desc(**{trust.ESTARGZ_TOC_ANNOTATION: toc})).chain == "estargz-toc"
    assert store.find(_desc()) is None  # a manifest naming no TOC digest
    assert store.find(_desc(**{trust.ESTARGZ_TOC_ANNOTATION: "sha256:" + "d" * 64})) is None  # another TOC


@pytest.mark.parametrize("prefix", ["io.github.containers.zstd-chunked.", "io.containers.zstd-chunked."])
def test_row_zstd_chunked_toc_serves_only_the_same_checksum(prefix):
    checksum = "sha256:" + "e" * 64
    store = LayerIndexes()
    store.remember(_index("zstd-chunked-toc", checksum))
    named = {prefix + "manifest-checksum": checksum, prefix + "manifest-position": "10:20:30:1"}
    assert store.find(_desc(**named)).chain == "zstd-chunked-toc"
    assert store.find(_desc()) is None
    assert store.find(_desc(**{**named, prefix + "manifest-checksum": "sha256:" + "f" * 64})) is None
    assert store.find(_desc(**{prefix + "manifest-checksum": checksum})) is None  # no position: not zstd:chunked


def test_a_stored_toc_index_is_rebuilt_from_its_toc_never_from_its_stored_entries(tmp_path):
    """A cache entry is not the manifest: stored entries are never believed, only the TOC that hashes to the anchor."""
    blob, toc_digest, _ = estargz_layer([("etc", "dir", b""), ("etc/passwd", "reg", PASSWD)])
    cache = rx.Cache(tmp_path)
    desc = _desc(sha256(blob), len(blob), **{trust.ESTARGZ_TOC_ANNOTATION: toc_digest})
    from registry_explorer.peek.estargz import read_toc_index

    idx = read_toc_index(lambda a, b: blob[a:b], desc, toc_digest)
    LayerIndexes(cache).remember(idx)
    forged = LayerIndex(layer_digest=idx.layer_digest, layer_size=idx.layer_size, media_type=idx.media_type,
                        kind=idx.kind, chain=idx.chain, anchor=idx.anchor, toc=idx.toc, toc_offset=idx.toc_offset,
                        entries=[e for e in idx.entries if e.entry.path != "etc/passwd"])
    LayerIndexes(cache).remember(forged)  # the same key: the entry on disk now lists no etc/passwd
    fresh = LayerIndexes(cache).find(desc)
    assert fresh is not None and "etc/passwd" in {e.entry.path for e in fresh.entries}
    tampered = forged
    tampered.toc = tampered.toc.replace(b"passwd", b"shadow")  # a TOC that no longer hashes to the anchor
    LayerIndexes(cache).remember(tampered)
    assert LayerIndexes(cache).find(desc) is None  # refused (and removed), rebuilt on the next read


def test_documents_from_the_cache_are_rehashed_and_noted_in_the_trace(open_registry, tmp_path):
    ref = f"{open_registry.host}/test/single:v1"
    first = rx.Client(docker_config={}, cache=tmp_path)
    m = first.image(ref)
    second = rx.Client(docker_config={}, cache=tmp_path)
    second.manifest(f"{open_registry.host}/test/single@{m.digest}")
    (hit,) = [x for x in second.trace if x.origin == "cache"]
    assert (hit.method, hit.purpose, hit.url) == ("CACHE", "manifest", m.digest)
    assert "not asked of the registry" in hit.as_curl()
