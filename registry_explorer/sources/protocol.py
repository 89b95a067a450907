"""`Source`: the one contract behind which a registry and a layout have the same signatures.

A `Client` (a registry, `remote.py`) and a `Layout` (an OCI image layout directory, `layout.py`)
both satisfy it, with the same signatures (regclient's model: one interface, a registry and a
layout behind it), so code that takes "a source" never asks which one it has: no `hasattr` or
`isinstance` switch on sources exists outside `rebuild.build_source`. The shared implementation
is `common.SourceBase`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..core.models import Descriptor, ImageConfig, Index, Manifest

__all__ = ["Source", "SourceSettings"]


@runtime_checkable
class Source(Protocol):
    """Where images come from: resolve, verified manifests and blobs, ranged reads, listings, files."""
    workers: int
    cache: Any  # the rx.Cache of this source, or None
    indexes: Any  # peek.indexes.LayerIndexes: the layer indexes this source holds
    trace: Any  # http.trace.Trace: every exchange (a layout makes none) and every cache hit
    rate_limit: dict | None  # the registry's latest RateLimit headers (None for a layout)
    deadline: float | None  # seconds allowed for one document (None for a layout)
    origin: str  # "registry" or "layout": where bytes come from, for DigestMismatch messages

    def parse(self, text: Any) -> Any:
        """Parse a reference in this source's syntax (`host/repo:tag`, or `oci:PATH:TAG`)."""
    def locate(self, registry: str | None, repository: str, tag: str | None = None) -> Any:
        """The reference of `repository` (and `tag`) on `registry` (a layout ignores the registry)."""
    def settings(self, *, docker_config: Any = None, credential_provider: str | None = None) -> SourceSettings:
        """How to rebuild this source in another process (no secret in it)."""
    def resolve(self, ref: Any) -> Descriptor:
        """The descriptor of the manifest or index that `ref` names."""
    def manifest(self, ref: Any, descriptor: Descriptor | None = None) -> Manifest | Index:
        """A verified manifest or index."""
    def image(self, ref: Any, platform: Any = None) -> Manifest:
        """The image manifest for a platform, walking indexes."""
    def config(self, ref_or_manifest: Any, platform: Any = None) -> ImageConfig:
        """The image config, verified."""
    def blob(self, ref: Any, descriptor: Descriptor, *, limit: int = ...) -> bytes:
        """A small blob in memory, verified."""
    def open_blob(self, ref: Any, descriptor: Descriptor) -> Any:
        """A context manager yielding a reader that verifies the blob at EOF."""
    def raw_blob(self, ref: Any, descriptor: Descriptor, offset: int = 0) -> Any:
        """A context manager yielding the UNVERIFIED blob from `offset` (its callers verify)."""
    def read_range(self, ref: Any, descriptor: Descriptor, start: int, end: int) -> bytes:
        """Exactly bytes [start, end) of a blob, unverified (RangeRefused if the source cannot)."""
    def fetch_blobs(self, ref: Any, descriptors: Sequence[Descriptor], dest: Any, **kw: Any) -> list:
        """Blobs downloaded to files, verified."""
    def tags(self, ref: Any) -> list[str]:
        """The tags of a repository (or of a layout)."""
    def catalog(self, registry: Any) -> list[str]:
        """The repositories of a registry (a layout is one repository: its path)."""
    def referrers(self, ref: Any, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Descriptors of the manifests whose subject is `ref`."""
    def has_referrers_api(self, ref: Any, digest: str) -> bool:
        """Whether referrers come from the OCI 1.1 API (else the tag schema, or a layout's own scan)."""
    def open_file(self, ref: Any, path: str, **kw: Any) -> Any:
        """A verified, seekable file of the image's merged filesystem (imagefs.ImageFS)."""
    def read_file(self, ref: Any, path: str, **kw: Any) -> bytes:
        """The verified bytes of one file of the image."""
    def layer_index(self, ref: Any, layer_descriptor: Descriptor, **kw: Any) -> Any:
        """The LayerIndex of one layer (known, from a TOC, or built in one verified pass)."""
    def cached_layer_index(self, layer_descriptor: Descriptor) -> Any:
        """The LayerIndex that serves this descriptor if one is known, without any request."""


@dataclass(frozen=True)
class SourceSettings:
    """How a worker rebuilds the source: no secrets, only names and paths it resolves itself."""
    kind: str = "registry"  # or "layout"
    path: str | None = None  # the layout directory
    insecure: tuple[str, ...] = ()
    ca_bundle: str | None = None
    timeout: tuple[float, float] = (5.0, 30.0)
    retries: int = 3
    deadline: float | None = None
    docker_config: str | None = None  # a path the worker reads; None: the worker's own ~/.docker/config.json
    credential_provider: str | None = None  # "module:function" returning a credentials mapping, called on the worker
    cache: str | None = None  # the content-addressed cache directory (rx.Cache), shared by workers
    extra: tuple[tuple[str, Any], ...] = field(default=())  # further Client keywords (picklable values)
