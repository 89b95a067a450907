"""Issue 23's acceptance: layers and layouts written by real tools, listed and read by peek.

The images are built by buildah, podman, skopeo, umoci and ctr-remote (tests/helpers/producer_fixtures.py),
with what each tool was given recorded. `frames.files` of every layer must list what the layer's tar
holds (read independently with Python's tarfile, as `tar -t` lists it: eStargz's `stargz.index.json`
included), and `read_file` must give what the tool was given, for the first, a middle and the last
file, a file over 4 MiB, a symlink and a hard link. What each read cost is counted at a proxy and must
equal what the read reports; the TOC formats keep to issue 23's budgets.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers.producers import ACCEPT
from helpers.producers_content import BIG_FILE
from helpers.proxy import FaultProxy
from test_producers_harness import blob, entry_name, get, tar_entries, tar_stream

import registry_explorer as rx
from registry_explorer import frames

pytestmark = pytest.mark.integration

PUSHED = ["buildah-gzip", "buildah-zstd", "buildah-zstd-chunked", "buildah-opaque", "podman-gzip", "podman-zstd",
          "skopeo-gzip", "skopeo-zstd", "umoci-pushed", "ctr-remote-estargz", "ctr-remote-estargz-64k",
          "ctr-remote-zstdchunked", "ctr-remote-uncompressed"]
# what vouches for a read, by the layer format a tool wrote (a cold read of a plain layer takes the file
# from its own verified pass; a single zstd frame cannot be entered, so every read streams it)
CHAINS = {"gzip": {"layer-digest", "verified-index"}, "none": {"layer-digest", "verified-index"},
          "zstd": {"layer-digest"}, "estargz": {"estargz-toc"}, "zstd:chunked": {"zstd-chunked-toc"}}
SLACK = 64 << 10


def _client(cache=False, insecure=()):
    return rx.Client(docker_config={}, cache=cache, insecure=insecure)


def _content(files: dict, path: str) -> bytes:
    """What a reader of the image gets at `path`: symlinks followed inside the image, as the tool's input says."""
    e = files[path]
    for _ in range(40):
        if e.kind != "symlink":
            return e.data  # a file, or a hard link (its data is its target's)
        target = e.target
        path = posixpath.normpath(target.lstrip("/") if target.startswith("/") else
                                  posixpath.join(posixpath.dirname(path), target))
        e = files[path]
    raise AssertionError(f"symlink loop at {path}")


def _picks(files: dict) -> list[str]:
    """First, middle and last file, the largest (over 4 MiB), a symlink and a hard link."""
    regular = sorted(p for p, e in files.items() if e.kind == "file")
    largest = max(regular, key=lambda p: len(files[p].data))
    assert len(files[largest].data) > 4 << 20
    links = [sorted(p for p, e in files.items() if e.kind == kind)[0] for kind in ("symlink", "hardlink")
             if any(e.kind == kind for e in files.values())]
    return list(dict.fromkeys([regular[0], regular[len(regular) // 2], regular[-1], largest, *links]))


def _as_listed(member) -> tuple:
    """(path, whiteout, type, size, mode, linkname) of a tar member as tar -t shows it, whiteouts decoded."""
    name = entry_name(member.name)
    parent, base = posixpath.dirname(name), posixpath.basename(name)
    whiteout = None
    if base == ".wh..wh..opq":
        name, whiteout = parent or ".", "opaque"
    elif base.startswith(".wh."):
        name, whiteout = posixpath.join(parent, base[4:]), "file"
    kind = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}.get(member.type, "file")
    link = entry_name(member.linkname) if kind == "hardlink" else member.linkname
    return name if name != "/" else ".", whiteout, kind, member.size if kind == "file" else 0, member.mode & 0o7777, link


def _ours(df) -> list[tuple]:
    return [(r.path, r.whiteout, r.type, r.size, r.mode, r.linkname) for r in df.itertuples()]


@pytest.mark.parametrize("name", PUSHED)
def test_files_lists_what_the_layer_holds(produced, producer_registry, name):
    rec = produced[name]
    c = _client()
    m = c.image(rec.reference)
    for desc in m.layers:
        data = blob(producer_registry, rec, desc.digest)
        truth = [_as_listed(x) for x in tar_entries(tar_stream(data, desc.media_type)).values()]
        ours = _ours(frames.files(c, rec.reference, desc))
        assert ours == truth, (name, desc.digest, set(ours) ^ set(truth))
    for extra in rec.format_entries:  # eStargz's TOC and landmark: listed as tar -t lists them
        assert extra in set(frames.files(c, rec.reference, m.layers[0])["path"])


@pytest.mark.parametrize("name", [n for n in PUSHED if n != "buildah-opaque"])  # that one: the next test
def test_read_file_gives_what_the_tool_was_given(produced, name, tmp_path):
    rec = produced[name]
    cold = _client(tmp_path)
    for path in _picks(rec.files):
        f = cold.open_file(rec.reference, path)
        assert f.read() == _content(rec.files, path), (name, path)
        assert f.verification in CHAINS[rec.variant], (name, path, f.verification)
    warm = _client(tmp_path)  # the indexes from disk: a new session
    for path in _picks(rec.files)[:3]:
        g = warm.open_file(rec.reference, path)
        assert g.read() == _content(rec.files, path) and g.verification in CHAINS[rec.variant]
        if rec.variant in ("gzip", "none"):
            assert g.verification == "verified-index"


def test_an_opaque_directory_hides_what_was_below(produced):
    """buildah (overlay driver) re-created a directory: `.wh..wh..opq` hides the lower layer's files."""
    rec = produced["buildah-opaque"]
    c = _client()
    assert c.read_file(rec.reference, "opaque-dir/new.txt") == rec.files["opaque-dir/new.txt"].data
    assert c.read_file(rec.reference, "keep.txt") == rec.files["keep.txt"].data
    with pytest.raises(rx.NotFound):
        c.read_file(rec.reference, "opaque-dir/old-1.txt")
    assert c.read_file(rec.reference, "opaque-dir/old-1.txt", layer=0) == b"".join(
        f"opaque-dir/old-1.txt v1 line {i}: the quick brown fox\n".encode() for i in range(3))


@pytest.mark.parametrize("name", PUSHED)
def test_what_a_read_costs_is_what_a_proxy_counts(produced, producer_registry, name, tmp_path):
    rec = produced[name]
    with FaultProxy(producer_registry.url) as proxy:
        ref = rec.reference.replace(producer_registry.host, proxy.host)
        path = sorted(p for p, e in rec.files.items() if e.kind == "file")[-1]
        c = None
        for when in ("cold", "warm, index on disk", "warm, index in memory"):
            if c is None or when != "warm, index in memory":  # a new Client: a new session
                c = _client(tmp_path, insecure=(proxy.host,))
            proxy.reset()
            f = c.open_file(ref, path)
            assert f.read() == _content(rec.files, path)
            print(f"{name:24} {when:22} {f.requests:2} req {f.bytes_moved:11,} B | proxy {len(proxy.requests):2} req "
                  f"{proxy.body_bytes:11,} B | {f.kind} {f.verification}")
            assert (f.requests, f.bytes_moved) == (len(proxy.requests), proxy.body_bytes), when


@pytest.mark.parametrize("name", ["ctr-remote-estargz", "ctr-remote-estargz-64k"])
def test_a_20_mib_file_in_chunks_moves_its_chunks_and_the_toc(produced, name):
    """Defect 1 and issue 23's budget: every chunk read by Range and checked; no more than chunks + TOC + 64 KiB."""
    rec = produced[name]
    c = _client()
    f = c.open_file(rec.reference, BIG_FILE)
    assert f.read() == rec.files[BIG_FILE].data and f.verification == "estargz-toc"
    idx = c.cached_layer_index(f.layer)
    e = idx.find(BIG_FILE)
    assert len(e.chunks) == {"ctr-remote-estargz": 5, "ctr-remote-estargz-64k": 320}[name]
    assert f.bytes_moved <= e.chunk_size + (f.layer.size - idx.toc_offset) + SLACK
    assert f.requests <= 3  # the manifest, the tail with the TOC, one Range over every chunk


@pytest.mark.parametrize("name", ["buildah-zstd-chunked", "ctr-remote-zstdchunked"])
def test_zstd_chunked_reads_a_small_file_by_range(produced, name):
    """New: zstd:chunked TOC located by the annotation, checked against manifest-checksum, file frames by Range."""
    rec = produced[name]
    c = _client()
    path = "big/zzz-last.txt"  # in the top layer: one TOC is enough
    f = c.open_file(rec.reference, path)
    assert f.read() == rec.files[path].data and f.verification == "zstd-chunked-toc" and f.kind == "zstd-chunked-toc"
    idx = c.cached_layer_index(f.layer)
    assert f.requests <= 3 and f.bytes_moved <= (f.layer.size - idx.toc_offset) + idx.find(path).chunk_size + SLACK
    g = c.open_file(rec.reference, BIG_FILE)  # the 20 MiB file in many chunks, each checked
    assert g.read() == rec.files[BIG_FILE].data and len(idx.find(BIG_FILE).chunks) > 1


def test_a_flipped_chunk_in_a_layout_says_layout(produced, tmp_path):
    """Defect 1 through Layout: a damaged chunk is a DigestMismatch whose cause is the layout's file, not transit."""
    rec = produced["ctr-remote-estargz-64k"]
    c = _client()
    c.save_layout(rec.reference, tmp_path / "lay")
    lay = rx.Layout(tmp_path / "lay")
    desc = lay.image(rec.tag).layers[2]
    idx = lay.layer_index(rec.tag, desc)
    chunk = idx.find(BIG_FILE).chunks[7]
    path = tmp_path / "lay" / "blobs" / "sha256" / desc.digest.split(":")[1]
    data = bytearray(path.read_bytes())
    data[(chunk.c_start + chunk.c_end) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(rx.DigestMismatch, match="layout") as exc:
        lay.read_file(rec.tag, BIG_FILE)
    assert exc.value.origin == "layout" and "in transit" not in str(exc.value)
    assert lay.read_file(rec.tag, "big/zzz-last.txt") == rec.files["big/zzz-last.txt"].data  # other chunks are fine


@pytest.mark.parametrize("which", ["skopeo-uncompressed", "skopeo-oci", "umoci"])
def test_layouts_written_by_the_tools_read_back(produced, which):
    rec = produced[which]
    lay = rx.Layout(rec.path)
    m = lay.image(rec.tag)
    assert [d.digest for d in m.layers] == list(rec.layer_digests)
    for desc in m.layers:
        truth = [_as_listed(x) for x in tar_entries(tar_stream(rec.blob(desc.digest).read_bytes(), desc.media_type)).values()]
        assert _ours(frames.files(lay, rec.tag, desc)) == truth
    for path in _picks(rec.files):
        f = lay.open_file(rec.tag, path)
        assert f.read() == _content(rec.files, path), (which, path)
    kinds = {lay.cached_layer_index(d).kind for d in m.layers}
    assert kinds == ({"tar"} if which == "skopeo-uncompressed" else {"gzip-checkpoints"})


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        from helpers.producer_fixtures import unavailable

        unavailable(f"{tool} is not installed")


def test_umoci_unpacks_our_layout(produced, tmp_path):
    """Ours read by them: umoci unpacks what save_layout wrote, and the files are what buildah was given."""
    _require("umoci")
    rec = produced["buildah-gzip"]
    _client().save_layout(rec.reference, tmp_path / "lay", tag="v1")
    subprocess.run(["umoci", "unpack", "--image", f"{tmp_path / 'lay'}:v1", str(tmp_path / "bundle")], check=True,
                   capture_output=True, timeout=300)
    root = tmp_path / "bundle" / "rootfs"
    for path in _picks(rec.files):
        if rec.files[path].kind == "symlink":  # on the host, an absolute link would leave the rootfs
            assert os.readlink(root / path) == rec.files[path].target
        else:
            assert (root / path).read_bytes() == _content(rec.files, path), path
    assert not (root / "gone" / "removed.txt").exists() and (root / "gone" / "kept.txt").is_file()


@pytest.mark.parametrize("name", ["buildah-zstd-chunked", "ctr-remote-estargz"])
def test_skopeo_copies_our_layout(produced, producer_registry, name, tmp_path):
    """Ours read by them: skopeo verifies every blob of our layout (annotations and all) on its way to a registry."""
    _require("skopeo")
    rec = produced[name]
    _client().save_layout(rec.reference, tmp_path / "lay", tag="v1")
    dest = f"docker://{producer_registry.host}/roundtrip/{name}:v1"
    subprocess.run(["skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{tmp_path / 'lay'}:v1",
                    dest], check=True, capture_output=True, timeout=300)
    raw = get(producer_registry, f"roundtrip/{name}/manifests/v1", Accept=ACCEPT).content
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == rec.digest  # the same manifest, byte for byte


@pytest.mark.parametrize("name", ["ctr-remote-estargz", "buildah-zstd-chunked"])
def test_the_other_doors_read_the_chunked_file_too(produced, name, tmp_path):
    """docker:// and `rx cat` read through the same ImageFS: the 20 MiB file in chunks, whole and verified."""
    from registry_explorer.doors.dockerfs import DockerFileSystem

    rec = produced[name]
    expected = rec.files[BIG_FILE].data
    fs = DockerFileSystem(client=_client(), skip_instance_cache=True)
    with fs.open(f"docker://{rec.reference}/{BIG_FILE}", "rb") as f:
        assert f.read() == expected
    (tmp_path / "docker").mkdir()  # an empty docker config: the user's credentials stay out of tests
    env = {**{k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}, "NO_PROXY": "127.0.0.1",
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "registry_explorer", "cat", rec.reference, BIG_FILE], cwd=root,
                          env={**env, "PYTHONPATH": str(root)}, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert hashlib.sha256(proc.stdout).digest() == hashlib.sha256(expected).digest()
