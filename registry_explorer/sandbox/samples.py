"""Deterministic test images, built in pure Python.

Every blob is produced byte-for-byte identically on every run and machine:

* tar archives use fixed mtime/uid/gid/uname/gname/mode and entries in a
  fixed (sorted) order, PAX format with ASCII names and integer fields, so no
  extended headers are emitted;
* gzip uses ``GzipFile(mtime=0, filename='')`` at a fixed level;
* zstd uses the ``zstandard`` package at a fixed level with the content size
  written and no checksum;
* JSON documents are serialised with insertion-ordered dicts (our fixed key
  order) and compact separators, except the Docker schema2 documents that are
  indented with three spaces the way ``docker`` writes them;
* the large incompressible layer comes from ``random.Random(seed).randbytes``.

Public API: :class:`Blob`, :class:`TestImage`, :func:`build_images`,
:func:`write_layout` and the media type constants below.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import zstandard

# --- media types -----------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
IN_TOTO = "application/vnd.in-toto+json"
SPDX_JSON = "application/spdx+json"

MANIFEST_MEDIA_TYPES = frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST})

# Fixed timestamps: every file and every "created" field uses these.
EPOCH = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"

GZIP_LEVEL = 6
ZSTD_LEVEL = 3
BIG_LAYER_SIZE = 2 * 1024 * 1024 + 345_679  # > 2 MiB, not a multiple of any chunk size
BIG_LAYER_SEED = 20240101


# --- data model ------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes plus their media type."""

    media_type: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        """The ``sha256:`` digest of the data."""
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """The data's length in bytes."""
        return len(self.data)

    @property
    def hex(self) -> str:
        """The digest's hex part, without the algorithm."""
        return self.digest.split(":", 1)[1]

    @property
    def is_manifest(self) -> bool:
        """Whether the media type is a manifest or index type."""
        return self.media_type in MANIFEST_MEDIA_TYPES

    def descriptor(self, **extra: Any) -> dict:
        """OCI descriptor: mediaType, digest, size, then ``extra`` in order."""
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)

    def __repr__(self) -> str:  # keep pytest output readable
        return f"Blob({self.media_type!r}, {self.digest}, size={self.size})"


@dataclass
class TestImage:
    """An image (or artifact) ready to be pushed or written as an OCI layout.

    ``blobs`` maps digest -> Blob for every blob *and* every manifest/index
    (root included). ``push_order`` lists the manifests children first as
    ``(reference, blob)``; the reference is a digest, or a tag (the root under
    ``tag`` comes after all its children; extra tags, e.g. docker's
    ``amd64``, follow the root).
    """

    __test__ = False  # not a pytest test class despite the name

    name: str
    repository: str
    tag: str
    root: Blob
    blobs: dict[str, Blob]
    push_order: list[tuple[str, Blob]]
    extra: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The root manifest's digest."""
        return self.root.digest

    @property
    def media_type(self) -> str:
        """The root manifest's media type."""
        return self.root.media_type

    @property
    def tags(self) -> dict[str, str]:
        """Every tag this image defines -> manifest digest."""
        return {ref: b.digest for ref, b in self.push_order if not ref.startswith("sha256:")}

    def plain_blobs(self) -> list[Blob]:
        """Non-manifest blobs (configs and layers), in a stable order."""
        return [b for b in self.blobs.values() if not b.is_manifest]


# --- serialisation helpers -----------------------------------------------


def dumps(obj: Any) -> bytes:
    """Compact JSON in the dict's insertion order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def docker_dumps(obj: Any) -> bytes:
    """JSON the way docker writes manifests (json.MarshalIndent, 3 spaces)."""
    return json.dumps(obj, indent=3, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Entry:
    """One tar member. kind: 'file', 'dir' or 'symlink'."""

    path: str
    kind: str = "file"
    data: bytes = b""
    mode: int | None = None
    target: str = ""


def make_tar(entries: Iterable[Entry]) -> bytes:
    """Build a deterministic PAX tar of `entries`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(e.path)
            info.mtime = EPOCH
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755 if e.mode is None else e.mode
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = e.target
                info.mode = 0o777 if e.mode is None else e.mode
                tar.addfile(info)
            elif e.kind == "file":
                info.type = tarfile.REGTYPE
                info.mode = 0o644 if e.mode is None else e.mode
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                raise ValueError(e.kind)
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """Gzip `data` deterministically."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=GZIP_LEVEL, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def zstd_bytes(data: bytes) -> bytes:
    """Zstd-compress `data` deterministically."""
    cctx = zstandard.ZstdCompressor(
        level=ZSTD_LEVEL, write_content_size=True, write_checksum=False, write_dict_id=False
    )
    return cctx.compress(data)


def sha256(data: bytes) -> str:
    """The ``sha256:`` digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(entries: Iterable[Entry], media_type: str, compress=gzip_bytes) -> tuple[Blob, str]:
    """Return (layer blob, diff_id)."""
    raw = make_tar(entries)
    return Blob(media_type, compress(raw)), sha256(raw)


def _small_layer(tag: str, media_type: str = OCI_LAYER_GZIP) -> tuple[Blob, str]:
    return _layer(
        [
            Entry("etc", "dir"),
            Entry("etc/platform", data=f"{tag}\n".encode()),
        ],
        media_type,
    )


def _collect(root: Blob, *others: Blob) -> dict[str, Blob]:
    blobs: dict[str, Blob] = {}
    for b in (*others, root):
        blobs[b.digest] = b
    return blobs


def _oci_image(name: str, config: dict, layers: list[Blob], diff_ids: list[str], *,
               annotations: dict | None = None, **extra: Any) -> TestImage:
    """A single-manifest OCI image pushed as ``test/<name>:v1``.

    Its ``extra`` holds config, config_blob, layers and diff_ids, plus the caller's keywords.
    """
    config_blob = Blob(OCI_CONFIG, dumps(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [l.descriptor() for l in layers],
    }
    if annotations:
        manifest["annotations"] = annotations
    root = Blob(OCI_MANIFEST, dumps(manifest))
    return TestImage(
        name=name,
        repository=f"test/{name}",
        tag="v1",
        root=root,
        blobs=_collect(root, config_blob, *layers),
        push_order=[("v1", root)],
        extra={"config": config, "config_blob": config_blob, "layers": layers, "diff_ids": diff_ids, **extra},
    )


# --- images ----------------------------------------------------------------

OS_RELEASE = b"""PRETTY_NAME="Registry Explorer Test Linux 1.0"
NAME="Registry Explorer Test Linux"
VERSION_ID="1.0"
ID=rxtest
HOME_URL="https://example.invalid/"
"""

HELLO = b"""#!/bin/sh
# hello: prints a greeting
echo "hello from registry-explorer test image"
"""


def _build_single() -> TestImage:
    layer1, diff1 = _layer(
        [
            Entry("bin", "symlink", target="usr/bin"),
            Entry("etc", "dir"),
            Entry("etc/os-release", data=OS_RELEASE),
            Entry("etc/hostname", data=b"rxtest\n"),
            Entry("old", data=b"this file is removed by a whiteout in layer 2\n"),
            Entry("opt", "dir"),
            Entry("opt/app", "dir"),
            Entry("opt/app/stale.txt", data=b"hidden by the opaque whiteout in layer 3\n"),
            Entry("opt/app/keep.txt", data=b"also hidden by the opaque whiteout\n"),
            Entry("tmp", "dir", mode=0o1777),
            Entry("usr", "dir"),
            Entry("usr/bin", "dir"),
            Entry("usr/bin/hello", data=HELLO, mode=0o755),
            Entry("usr/share", "dir"),
            Entry("usr/share/doc", "dir"),
            Entry("usr/share/doc/README", data=b"Test image for registry-explorer.\n" * 20),
        ],
        OCI_LAYER_GZIP,
    )
    big = random.Random(BIG_LAYER_SEED).randbytes(BIG_LAYER_SIZE)
    layer2, diff2 = _layer(
        [
            Entry(".wh.old"),
            Entry("var", "dir"),
            Entry("var/lib", "dir"),
            Entry("var/lib/data", "dir"),
            Entry("var/lib/data/random.bin", data=big),
        ],
        OCI_LAYER_GZIP,
    )
    layer3, diff3 = _layer(
        [
            Entry("etc", "dir"),
            Entry("etc/motd", data=b"Welcome to the registry-explorer test image.\n"),
            Entry("opt", "dir"),
            Entry("opt/app", "dir"),
            Entry("opt/app/.wh..wh..opq"),
            Entry("opt/app/config.json", data=dumps({"greeting": "hello", "workers": 4}) + b"\n"),
        ],
        OCI_LAYER_GZIP,
    )
    layers = [layer1, layer2, layer3]
    diff_ids = [diff1, diff2, diff3]
    config = {
        "created": CREATED,
        "author": "registry-explorer tests",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "GREETING=hello",
            ],
            "Entrypoint": ["/usr/bin/hello"],
            "Cmd": ["--verbose"],
            "WorkingDir": "/opt/app",
            "Labels": {
                "org.opencontainers.image.title": "single",
                "org.opencontainers.image.version": "1.0.0",
                "com.example.team": "registry-explorer",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": CREATED, "created_by": "/bin/sh -c #(nop) ADD file:rootfs.tar in / ", "comment": "base"},
            {"created": CREATED, "created_by": "/bin/sh -c #(nop)  ENV GREETING=hello", "empty_layer": True},
            {"created": CREATED, "created_by": "/bin/sh -c dd if=/dev/urandom of=/var/lib/data/random.bin && rm /old"},
            {"created": CREATED, "created_by": "/bin/sh -c #(nop)  LABEL com.example.team=registry-explorer", "empty_layer": True},
            {"created": CREATED, "created_by": "/bin/sh -c rm -rf /opt/app/* && echo > /opt/app/config.json"},
            {"created": CREATED, "created_by": '/bin/sh -c #(nop)  CMD ["--verbose"]', "empty_layer": True},
        ],
    }
    return _oci_image("single", config, layers, diff_ids,
                      annotations={"org.opencontainers.image.created": CREATED}, big_layer=layer2)


def _platform_config(os_: str, arch: str, variant: str | None, diff_id: str, media_type: str) -> Blob:
    cfg: dict[str, Any] = {"created": CREATED, "architecture": arch, "os": os_}
    if variant:
        cfg["variant"] = variant
    cfg["config"] = {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]}
    cfg["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
    cfg["history"] = [{"created": CREATED, "created_by": f"ADD {os_}/{arch} rootfs"}]
    return Blob(media_type, dumps(cfg))


def _platform_dict(os_: str, arch: str, variant: str | None) -> dict:
    p = {"architecture": arch, "os": os_}
    if variant:
        p["variant"] = variant
    return p


def _build_multi() -> TestImage:
    platforms = [("linux", "amd64", None), ("linux", "arm64", None), ("linux", "arm", "v7")]
    all_blobs: list[Blob] = []
    children: list[tuple[Blob, dict]] = []
    digests: dict[str, str] = {}
    for os_, arch, variant in platforms:
        key = f"{os_}/{arch}" + (f"/{variant}" if variant else "")
        layer, diff = _small_layer(key)
        config = _platform_config(os_, arch, variant, diff, OCI_CONFIG)
        m = Blob(
            OCI_MANIFEST,
            dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": config.descriptor(),
                    "layers": [layer.descriptor()],
                }
            ),
        )
        all_blobs += [layer, config, m]
        children.append((m, _platform_dict(os_, arch, variant)))
        digests[key] = m.digest

    # BuildKit-style attestation manifest for the amd64 image.
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://spdx.dev/Document",
        "subject": [{"name": "pkg:docker/test/multi@v1?platform=linux%2Famd64",
                     "digest": {"sha256": digests["linux/amd64"].split(":", 1)[1]}}],
        "predicate": {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "sbom", "packages": []},
    }
    att_layer = Blob(IN_TOTO, dumps(statement))
    att_config = Blob(
        OCI_CONFIG,
        dumps({"architecture": "unknown", "os": "unknown", "config": {},
               "rootfs": {"type": "layers", "diff_ids": [att_layer.digest]}}),
    )
    att = Blob(
        OCI_MANIFEST,
        dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": att_config.descriptor(),
                "layers": [att_layer.descriptor(annotations={"in-toto.io/predicate-type": "https://spdx.dev/Document"})],
            }
        ),
    )
    all_blobs += [att_layer, att_config, att]

    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [m.descriptor(platform=p) for m, p in children]
        + [
            att.descriptor(
                annotations={
                    "vnd.docker.reference.digest": digests["linux/amd64"],
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                platform={"architecture": "unknown", "os": "unknown"},
            )
        ],
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    root = Blob(OCI_INDEX, dumps(index))
    push_order = [(m.digest, m) for m, _ in children] + [(att.digest, att), ("v1", root)]
    return TestImage(
        name="multi",
        repository="test/multi",
        tag="v1",
        root=root,
        blobs=_collect(root, *all_blobs),
        push_order=push_order,
        extra={"platforms": digests, "attestation": att.digest},
    )


def _build_docker() -> TestImage:
    all_blobs: list[Blob] = []
    manifests: list[tuple[Blob, dict]] = []
    digests: dict[str, str] = {}
    for arch in ("amd64", "arm64"):
        key = f"linux/{arch}"
        layer, diff = _small_layer("docker " + key, DOCKER_LAYER_GZIP)
        config = _platform_config("linux", arch, None, diff, DOCKER_CONFIG)
        m = Blob(
            DOCKER_MANIFEST,
            docker_dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": DOCKER_MANIFEST,
                    "config": config.descriptor(),
                    "layers": [layer.descriptor()],
                }
            ),
        )
        all_blobs += [layer, config, m]
        manifests.append((m, _platform_dict("linux", arch, None)))
        digests[key] = m.digest
    lst = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [m.descriptor(platform=p) for m, p in manifests],
    }
    root = Blob(DOCKER_LIST, docker_dumps(lst))
    amd64 = manifests[0][0]
    push_order = [(m.digest, m) for m, _ in manifests] + [("v1", root), ("amd64", amd64)]
    return TestImage(
        name="docker",
        repository="test/docker",
        tag="v1",
        root=root,
        blobs=_collect(root, *all_blobs),
        push_order=push_order,
        extra={"platforms": digests, "amd64_manifest": amd64},
    )


EMPTY_CONFIG = Blob(OCI_EMPTY, b"{}")


def _build_artifact(subject: Blob) -> TestImage:
    sbom = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "test/single:v1",
        "documentNamespace": "https://example.invalid/spdx/test-single-v1",
        "creationInfo": {"created": CREATED, "creators": ["Tool: registry-explorer-tests"]},
        "packages": [
            {"SPDXID": "SPDXRef-Package-hello", "name": "hello", "versionInfo": "1.0.0",
             "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT"},
        ],
    }
    layer = Blob(SPDX_JSON, dumps(sbom))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX_JSON,
        "config": EMPTY_CONFIG.descriptor(),
        "layers": [layer.descriptor(annotations={"org.opencontainers.image.title": "sbom.spdx.json"})],
        "subject": subject.descriptor(),
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    root = Blob(OCI_MANIFEST, dumps(manifest))
    return TestImage(
        name="artifact",
        repository="test/single",
        tag="sbom",
        root=root,
        blobs=_collect(root, EMPTY_CONFIG, layer),
        push_order=[("sbom", root)],
        extra={"subject": subject.digest, "sbom": sbom, "layer": layer},
    )


def _build_zstd() -> TestImage:
    zl, zdiff = _layer(
        [
            Entry("etc", "dir"),
            Entry("etc/zstd.txt", data=b"this layer is compressed with zstd\n" * 50),
        ],
        OCI_LAYER_ZSTD,
        compress=zstd_bytes,
    )
    gl, gdiff = _layer(
        [Entry("etc", "dir"), Entry("etc/gzip.txt", data=b"this layer is compressed with gzip\n" * 50)],
        OCI_LAYER_GZIP,
    )
    config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [zdiff, gdiff]},
        "history": [
            {"created": CREATED, "created_by": "ADD zstd layer"},
            {"created": CREATED, "created_by": "ADD gzip layer"},
        ],
    }
    return _oci_image("zstd", config, [zl, gl], [zdiff, gdiff])


# Sizes of the "wasteful" image's files, chosen so dive's numbers are easy to check by hand.
WASTEFUL_BIG_V1 = 100_000
WASTEFUL_BIG_V2 = 50_000
WASTEFUL_KEEP = 1_000
WASTEFUL_CACHE_OLD = 3_000
WASTEFUL_CACHE_NEW = 500


def _pattern(size: int, salt: int) -> bytes:
    """Deterministic, cheap to compress filler."""
    unit = bytes((i * 7 + salt) % 256 for i in range(256))
    return (unit * (size // 256 + 1))[:size]


def _build_wasteful() -> TestImage:
    """Three layers that waste space the way dive measures it.

    Layer 0 writes app/big.bin (100 000 B), app/keep.txt and cache/old.tmp; layer 1 overwrites
    app/big.bin (50 000 B); layer 2 deletes app/big.bin (``.wh.big.bin``) and hides cache/ with an
    opaque whiteout, adding cache/new.txt in the same layer.
    """
    layer1, diff1 = _layer(
        [
            Entry("app", "dir"),
            Entry("app/big.bin", data=_pattern(WASTEFUL_BIG_V1, 1)),
            Entry("app/keep.txt", data=_pattern(WASTEFUL_KEEP, 2)),
            Entry("cache", "dir"),
            Entry("cache/old.tmp", data=_pattern(WASTEFUL_CACHE_OLD, 3)),
        ],
        OCI_LAYER_GZIP,
    )
    layer2, diff2 = _layer(
        [Entry("app", "dir"), Entry("app/big.bin", data=_pattern(WASTEFUL_BIG_V2, 4))],
        OCI_LAYER_GZIP,
    )
    layer3, diff3 = _layer(
        [
            Entry("app", "dir"),
            Entry("app/.wh.big.bin"),
            Entry("cache", "dir"),
            Entry("cache/.wh..wh..opq"),
            Entry("cache/new.txt", data=_pattern(WASTEFUL_CACHE_NEW, 5)),
        ],
        OCI_LAYER_GZIP,
    )
    layers = [layer1, layer2, layer3]
    config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff1, diff2, diff3]},
        "history": [
            {"created": CREATED, "created_by": "COPY app cache /"},
            {"created": CREATED, "created_by": "RUN regenerate /app/big.bin"},
            {"created": CREATED, "created_by": "RUN rm /app/big.bin && rm -rf /cache && touch /cache/new.txt"},
        ],
    }
    # dive, by hand (layerfs.efficiency): leaf versions per path across the three layers are
    # app/big.bin: 100000, 50000, and 0 for the whiteout of a file -> count 3, total 150000, min 0;
    # app/keep.txt 1000, cache/old.tmp 3000, cache/new.txt 500 once each. dive ignores opaque
    # whiteouts, so cache/old.tmp is not charged.
    big_total = WASTEFUL_BIG_V1 + WASTEFUL_BIG_V2
    discovered = big_total + WASTEFUL_KEEP + WASTEFUL_CACHE_OLD + WASTEFUL_CACHE_NEW
    minimum = WASTEFUL_KEEP + WASTEFUL_CACHE_OLD + WASTEFUL_CACHE_NEW
    return _oci_image(
        "wasteful", config, layers, [diff1, diff2, diff3],
        wasted_rows=[
            {"path": "app/big.bin", "count": 3, "total_size": big_total, "wasted_size": big_total,
             "layers": [0, 1, 2]},
        ],
        efficiency=minimum / discovered,  # 4500 / 154500
        wasted_bytes=big_total,  # 150000
        total_bytes=discovered,  # every tar entry's size, all layers: 154500
        user_bytes=WASTEFUL_BIG_V2 + WASTEFUL_CACHE_NEW,  # layers 1 and 2: 50500
        # The merged filesystem: path -> index of the layer that last wrote it.
        merged={"app": 2, "app/keep.txt": 0, "cache": 2, "cache/new.txt": 2},
    )


def _build_variant(single: TestImage) -> TestImage:
    """Shares the first two layers of ``single`` byte for byte; a different third layer and config."""
    base_layers = single.extra["layers"][:2]
    base_diffs = single.extra["diff_ids"][:2]
    layer3, diff3 = _layer(
        [
            Entry("etc", "dir"),
            Entry("etc/motd", data=b"Welcome to the variant image.\n"),
            Entry("etc/variant", data=b"variant=1\n"),
        ],
        OCI_LAYER_GZIP,
    )
    layers = [*base_layers, layer3]
    diff_ids = [*base_diffs, diff3]
    single_cfg = single.extra["config"]
    config = json.loads(json.dumps(single_cfg))  # deep copy, same key order
    config["config"]["Env"] = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "GREETING=bonjour",
        "VARIANT=1",
    ]
    config["config"]["Cmd"] = ["--quiet"]
    config["config"]["Labels"] = {
        "org.opencontainers.image.title": "variant",
        "org.opencontainers.image.version": "1.0.0",
        "com.example.flavour": "variant",
    }
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config["history"][1] = {"created": CREATED, "created_by": "/bin/sh -c #(nop)  ENV GREETING=bonjour VARIANT=1",
                            "empty_layer": True}
    config["history"][3] = {"created": CREATED, "created_by": "/bin/sh -c #(nop)  LABEL com.example.flavour=variant",
                            "empty_layer": True}
    config["history"][-2] = {"created": CREATED, "created_by": "/bin/sh -c echo variant=1 > /etc/variant"}
    config["history"][-1] = {"created": CREATED, "created_by": '/bin/sh -c #(nop)  CMD ["--quiet"]', "empty_layer": True}
    return _oci_image(
        "variant", config, layers, diff_ids,
        annotations={"org.opencontainers.image.created": CREATED},
        shared_layers=[l.digest for l in base_layers],
        different_layer=layer3,
        # What compare(single, variant) should report, by hand.
        vs_single={
            "env_changed": {"GREETING": ("hello", "bonjour")},
            "env_added": {"VARIANT": "1"},
            "env_removed": {},
            "cmd": (["--verbose"], ["--quiet"]),
            "labels_changed": {"org.opencontainers.image.title": ("single", "variant")},
            "labels_added": {"com.example.flavour": "variant"},
            "labels_removed": {"com.example.team": "registry-explorer"},
            "layers_shared": 2,
            "layers_only_a": [single.extra["layers"][2].digest],
            "layers_only_b": [layer3.digest],
        },
    )


_CACHE: dict[str, TestImage] | None = None


def build_images(*, cached: bool = False) -> dict[str, TestImage]:
    """Build every test image. Keys: single, multi, docker, artifact, zstd, wasteful, variant.

    With ``cached=True`` the same (shared, do-not-mutate) objects are returned
    on every call; the default builds fresh objects.
    """
    global _CACHE
    if cached and _CACHE is not None:
        return _CACHE
    single = _build_single()
    images = {
        "single": single,
        "multi": _build_multi(),
        "docker": _build_docker(),
        "artifact": _build_artifact(single.root),
        "zstd": _build_zstd(),
        "wasteful": _build_wasteful(),
        "variant": _build_variant(single),
    }
    if cached:
        _CACHE = images
    return images


# --- OCI image layout ------------------------------------------------------


def write_layout(image_or_images: TestImage | Iterable[TestImage] | Mapping[str, TestImage], dest: Path) -> Path:
    """Write one or more images as an OCI image layout at ``dest``.

    Each tag the image defines (its ``tag`` plus extra tags such as docker's
    ``amd64``) becomes an index.json entry annotated with
    ``org.opencontainers.image.ref.name``. Two images that define the same tag
    for different manifests cannot share a layout (ValueError). Existing
    blobs are left alone; index.json is rewritten.
    """
    dest = Path(dest)
    if hasattr(image_or_images, "push_order"):  # one TestImage (duck-typed)
        images = [image_or_images]
    elif isinstance(image_or_images, Mapping):
        images = list(image_or_images.values())
    else:
        images = list(image_or_images)

    blob_dir = dest / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    refs: dict[str, str] = {}
    for img in images:
        for b in img.blobs.values():
            p = blob_dir / b.hex
            if not p.exists() or p.stat().st_size != b.size:
                p.write_bytes(b.data)
        for ref, b in img.push_order:
            if ref.startswith("sha256:"):
                continue
            if refs.get(ref, b.digest) != b.digest:
                raise ValueError(f"tag {ref!r} used for two different manifests in one layout")
            if ref in refs:
                continue
            refs[ref] = b.digest
            entries.append(b.descriptor(annotations={"org.opencontainers.image.ref.name": ref}))
    (dest / "oci-layout").write_bytes(dumps({"imageLayoutVersion": "1.0.0"}))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    (dest / "index.json").write_bytes(dumps(index))
    return dest
