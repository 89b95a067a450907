"""Sample images for peeking inside layers (issue 12): merged-filesystem cases, eStargz, zstd frames, big.

* ``peek``: two gzip layers - symlinks (absolute, relative, escaping `..`), a hard link, a
  whiteout, an opaque directory, a file replaced in the upper layer;
* ``estargz``: one eStargz layer built by `peek.estargz.estargz_layer`, with its TOC annotation and
  a file in several chunks (as ctr-remote writes files larger than its chunk size);
* ``zstd-chunked``: the same files as one zstd:chunked layer (`peek.zstdchunked.zstd_chunked_layer`,
  laid out as containers/storage writes it), with its position and checksum annotations;
* ``zstd-frames``: one zstd layer of many frames and one of a single frame;
* ``tar`` (tests only, not in the sandbox): one uncompressed layer;
* ``big``: a deterministic gzip layer of at least 64 MiB with thousands of files, built once
  and kept on disk (`big_image(cache_dir=...)`) so tests and the notebook take seconds.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile
import zlib
from pathlib import Path

import zstandard

from ..peek.estargz import estargz_layer
from ..peek.zstdchunked import zstd_chunked_layer
from ..sources.cache import default_cache_dir
from . import samples as s
from .samples_inventory import tar_layer

__all__ = ["BIG_FILES", "big_image", "build_peek_images", "big_layer_bytes", "toc_image"]

TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
BIG_FILES = 6000
BIG_SEED = 1213
_ZSTD_FRAME = 64 << 10  # uncompressed bytes per frame of the multi-frame zstd layer


def _config(diff_ids):
    return {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {}, "history": [{"created_by": f"layer {i}"} for i in range(len(diff_ids))]}


def _tar(members) -> bytes:
    """A PAX tar of (name, kind, data-or-target), in the given order (so whiteouts can precede files)."""
    # Directories 0755, everything else 0644 (links too): the modes these samples were first written with,
    # so their digests (printed in notebook 07) stay what they were.
    return tar_layer([(name, kind, payload, 0o755 if kind == "dir" else 0o644) for name, kind, payload in members])


def _gz(raw: bytes, level: int = s.GZIP_LEVEL) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=level, mtime=0) as gz:
        gz.write(raw)
    return buf.getvalue()


def _image(name: str, layers: list[tuple[s.Blob, str]], annotations=None) -> s.TestImage:
    blobs = [b for b, _ in layers]
    diff_ids = [d for _, d in layers]
    img = s._oci_image(name, _config(diff_ids), blobs, diff_ids)
    if annotations:  # layer annotations live in the manifest's layer descriptors
        manifest = img.root.json()
        for i, a in annotations.items():
            manifest["layers"][i]["annotations"] = a
        root = s.Blob(s.OCI_MANIFEST, s.dumps(manifest))
        img = s.TestImage(name=name, repository=img.repository, tag=img.tag, root=root,
                          blobs=s._collect(root, img.extra["config_blob"], *blobs), push_order=[("v1", root)],
                          extra=img.extra)
    return img


def _peek_layers():
    lower = [("etc", "dir", b""), ("etc/os-release", "file", b"ID=peek\n"), ("etc/gone", "file", b"old\n"),
             ("usr", "dir", b""), ("usr/lib", "dir", b""), ("usr/lib/libx.so", "file", b"\x7fELF lib x\n"),
             ("lib", "symlink", "usr/lib"), ("etc/abs", "symlink", "/etc/os-release"),
             ("etc/escape", "symlink", "../../../../etc/os-release"), ("etc/hard", "hardlink", "etc/os-release"),
             ("cache", "dir", b""), ("cache/old.bin", "file", b"lower cache\n"), ("etc/loop", "symlink", "loop")]
    upper = [("etc", "dir", b""), ("etc/.wh.gone", "file", b""), ("cache", "dir", b""),
             ("cache/.wh..wh..opq", "file", b""), ("cache/new.bin", "file", b"upper cache\n"),
             ("etc/os-release", "file", b"ID=peek\nVERSION=2\n")]
    return [(s.Blob(s.OCI_LAYER_GZIP, _gz(raw)), s.sha256(raw)) for raw in (_tar(lower), _tar(upper))]


def _zstd_frames(raw: bytes, frame: int) -> bytes:
    c = zstandard.ZstdCompressor(level=3, write_content_size=True, write_checksum=False, write_dict_id=False)
    return b"".join(c.compress(raw[i:i + frame]) for i in range(0, len(raw), frame))


# The sample's file in several chunks: 4 chunks of 64 KiB (ctr-remote's default chunk is 4 MiB).
CHUNKED_FILE = "data/chunked.bin"
_CHUNK = 64 << 10


def _toc_files(motd: bytes) -> list[tuple[str, str, bytes | str]]:
    return [("etc", "dir", b""), ("etc/motd", "reg", motd), ("bin", "dir", b""),
            ("bin/tool", "reg", bytes(range(256)) * 300), ("bin/sh", "symlink", "tool"), ("empty", "reg", b""),
            ("data", "dir", b""), (CHUNKED_FILE, "reg", random.Random(23).randbytes(4 * _CHUNK - 1000))]


def build_peek_images() -> dict[str, s.TestImage]:
    """The small peek samples: 'peek', 'estargz', 'zstd-chunked', 'zstd-frames', 'tar' (keys) - quick to build."""
    est = toc_image("estargz", "estargz", _toc_files(b"eStargz says hello\n"), _CHUNK)
    chunked = toc_image("zstd-chunked", "zstd-chunked", _toc_files(b"zstd:chunked says hello\n"), _CHUNK)
    rnd = random.Random(7)
    members = [("data", "dir", b"")] + [(f"data/f{i:03d}.txt", "file",
                                         (f"line {i} " * rnd.randrange(50, 3000)).encode()) for i in range(120)]
    raw = _tar(members)
    multi = (s.Blob(s.OCI_LAYER_ZSTD, _zstd_frames(raw, _ZSTD_FRAME)), s.sha256(raw))
    single_raw = _tar([("one", "file", b"single frame\n" * 100)])
    single = (s.Blob(s.OCI_LAYER_ZSTD, _zstd_frames(single_raw, 1 << 30)), s.sha256(single_raw))
    plain = _tar(members)
    return {"peek": _image("peek", _peek_layers()), "estargz": est, "zstd-chunked": chunked,
            "zstd-frames": _image("zstd-frames", [multi, single]),
            "tar": _image("tar", [(s.Blob(OCI_LAYER_TAR, plain), s.sha256(plain))])}


def toc_image(name: str, fmt: str, files: list[tuple[str, str, bytes | str]], chunk_size: int = 0) -> s.TestImage:
    """A one-layer image of `files` (name, "dir"|"reg"|"symlink", data or target) as `fmt` "estargz" or "zstd-chunked",
    files larger than `chunk_size` cut into chunks (the benchmarks' and notebook's own layers)."""
    if fmt == "estargz":
        blob, toc_digest, diff_id = estargz_layer(files, chunk_size=chunk_size)
        return _image(name, [(s.Blob(s.OCI_LAYER_GZIP, blob), diff_id)], {0: {TOC_ANNOTATION: toc_digest}})
    if fmt == "zstd-chunked":
        blob, notes, diff_id = zstd_chunked_layer(files, chunk_size=chunk_size)
        return _image(name, [(s.Blob(s.OCI_LAYER_ZSTD, blob), diff_id)], {0: notes})
    raise ValueError(f"fmt must be 'estargz' or 'zstd-chunked', not {fmt!r}")


def big_layer_bytes(total_mib: int = 64, files: int = BIG_FILES, seed: int = BIG_SEED) -> tuple[bytes, str]:
    """(gzip blob, diff_id) of a deterministic layer whose gzip is at least `total_mib` MiB.

    Half of each file is seeded random bytes (incompressible, so the gzip is as big as asked),
    half text (so deflate windows compress as in real layers); the last file is `data/last.txt`, small, for reading from the end.
    """
    rnd = random.Random(seed)
    per = max(1024, (total_mib << 20) * 42 // 20 // files)  # the text half compresses away
    buf = io.BytesIO()
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip level 1: building must take seconds
    out = [comp.compress(b"")]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for i in range(files):
            n = per // 2 + rnd.randrange(per)
            body = rnd.randbytes(n // 2) + (f"file {i} " * (n // 8 + 1)).encode()[: n - n // 2]
            info = tarfile.TarInfo(f"data/d{i % 64:02d}/f{i:05d}.bin")
            info.size, info.mtime, info.mode = len(body), s.EPOCH, 0o644
            tar.addfile(info, io.BytesIO(body))
            out.append(comp.compress(buf.getvalue()))
            buf.seek(0)
            buf.truncate()
        last = b"the last file of the big layer\n" * 4
        info = tarfile.TarInfo("data/last.txt")
        info.size, info.mtime = len(last), s.EPOCH
        tar.addfile(info, io.BytesIO(last))
    out.append(comp.compress(buf.getvalue()))
    out.append(comp.flush())
    blob = b"".join(out)
    # The tar's raw bytes are not kept (hundreds of MiB): the diff_id is recomputed from the gzip.
    return blob, s.sha256(gzip.decompress(blob))


def big_image(total_mib: int = 64, *, cache_dir: str | os.PathLike | None = None) -> s.TestImage:
    """The 'big' sample image, its layer kept under `cache_dir` (default: $RX_SAMPLES_DIR, else the rx cache dir)."""
    # RX_SAMPLES_DIR: where the test suite keeps built samples (outside the user's cache, see tests/conftest.py).
    env = os.environ.get("RX_SAMPLES_DIR")
    root = Path(cache_dir) if cache_dir is not None else Path(env) if env else default_cache_dir() / "samples"
    root.mkdir(parents=True, exist_ok=True)
    blob_path = root / f"big-{total_mib}-{BIG_FILES}-{BIG_SEED}.tar.gz"
    diff_path = blob_path.with_suffix(".diffid")
    if blob_path.is_file() and diff_path.is_file():
        blob, diff_id = blob_path.read_bytes(), diff_path.read_text().strip()
    else:
        blob, diff_id = big_layer_bytes(total_mib)
        tmp = blob_path.with_name(blob_path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, blob_path)
        diff_path.write_text(diff_id)
    return _image("big", [(s.Blob(s.OCI_LAYER_GZIP, blob), diff_id)])
