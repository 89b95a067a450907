"""`Source`: the contract that the frames, the queries and the widget accept.

A `Client` (a registry) and a `Layout` (an OCI image layout directory) both satisfy it; so
can anything else that provides these methods. Code that takes "a client" names this type
instead of checking `hasattr(...)`. The shared implementation lives in `source.SourceBase`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # typing only: the protocol must not import the models at runtime cost
    from ..core.models import Descriptor, ImageConfig, Index, Manifest


@runtime_checkable
class Source(Protocol):
    """Where images come from: resolve, verified manifests and blobs, listings."""

    workers: int

    def parse(self, text: Any) -> Any:
        """Parse a reference in this source's syntax (`host/repo:tag`, or `oci:PATH:TAG`)."""

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

    def fetch_blobs(self, ref: Any, descriptors: Sequence[Descriptor], dest: Any, **kw: Any) -> list:
        """Blobs downloaded to files, verified."""

    def tags(self, ref: Any) -> list[str]:
        """The tags of a repository (or of a layout)."""

    def referrers(self, ref: Any, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Descriptors of the manifests whose subject is `ref`."""
