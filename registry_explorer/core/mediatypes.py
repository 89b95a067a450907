"""Media types as plain strings with predicates.

Not an enum: unknown artifact types must flow through untouched.
Specs: https://github.com/opencontainers/image-spec/blob/main/media-types.md and
https://distribution.github.io/distribution/spec/manifest-v2-2/
"""

from __future__ import annotations

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IN_TOTO = "application/vnd.in-toto+json"

# What we send in Accept when resolving. Distribution returns 404 for OCI content unless the
# OCI types are listed, and converts schema2 to schema1 when Accept is missing, so list them all.
# Schema1 comes last: only registries that hold nothing newer should answer with it.
MANIFEST_ACCEPT = (
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
)


def base(media_type: str | None) -> str:
    """The media type without parameters (`; charset=utf-8`) and whitespace, lower-cased."""
    return (media_type or "").split(";", 1)[0].strip().lower()


def is_index(media_type: str | None) -> bool:
    """True for OCI image indexes and Docker manifest lists."""
    return base(media_type) in (OCI_INDEX, DOCKER_LIST)


def is_manifest(media_type: str | None) -> bool:
    """True for single-image manifests (OCI, Docker schema2, Docker schema1)."""
    return base(media_type) in (OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)


def is_schema1(media_type: str | None) -> bool:
    """True for the deprecated Docker schema1 manifests."""
    return base(media_type) in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)


def is_docker(media_type: str | None) -> bool:
    """True for Docker (not OCI) media types."""
    return base(media_type).startswith("application/vnd.docker.")


def is_config(media_type: str | None) -> bool:
    """True for image config blobs (OCI or Docker)."""
    return base(media_type) in (OCI_CONFIG, DOCKER_CONFIG)


def is_layer(media_type: str | None) -> bool:
    """True for filesystem layer blobs (OCI or Docker, any compression, foreign included)."""
    mt = base(media_type)
    return mt.startswith("application/vnd.oci.image.layer.") or mt.startswith(
        "application/vnd.docker.image.rootfs."
    )


def compression(media_type: str | None) -> str:
    """'gzip', 'zstd', 'none' or 'unknown' for a layer media type."""
    mt = base(media_type)
    if mt.endswith("+gzip") or mt.endswith(".gzip") or mt == DOCKER_LAYER_GZIP:
        return "gzip"
    if mt.endswith("+zstd") or mt.endswith(".zstd"):
        return "zstd"
    if mt.endswith(".tar") or mt == "application/vnd.docker.image.rootfs.diff.tar":
        return "none"
    return "unknown"
