"""Several requests at once for the frames: every tag HEADed concurrently, the two images of a comparison.

Each function takes a `Source` and returns models and plain rows, never DataFrames:
`registry_explorer.frames` turns them into DataFrames, so the frames stay pure (no HTTP library is
imported on their account) and notebook code can use the rows without pandas. The listings of
layers and images (one verified pass per layer at most) are `imagefs/listing.py`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..core.errors import RegistryExplorerError
from ..core.models import ImageConfig, Manifest
from .protocol import Source

__all__ = ["TAG_WORKERS", "image_pair", "tag_rows"]

# HEADing thousands of tags one by one is slow; too many at once trips registry rate limits.
TAG_WORKERS = 8


def tag_rows(source: Source, repo: Any, *, workers: int = TAG_WORKERS) -> list[dict[str, Any]]:
    """One dict per tag (tag, digest, media_type, size): each tag HEADed concurrently.

    A tag that fails to resolve (deleted between listing and HEAD, or a manifest type the
    registry refuses to serve for our Accept header) keeps its row with None values, so one
    bad tag does not hide the others.
    """
    ref = source.parse(repo)
    names = source.tags(ref)

    def head(tag: str) -> dict[str, Any]:
        try:
            d = source.resolve(ref.with_tag(tag))
        except RegistryExplorerError:
            return {"tag": tag, "digest": None, "media_type": None, "size": None}
        return {"tag": tag, "digest": d.digest, "media_type": d.media_type, "size": d.size}

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names) or 1)), thread_name_prefix="rx-tags") as pool:
        return list(pool.map(head, names))


def image_pair(source: Source, ref_a: Any, ref_b: Any, *, platform: Any = None
               ) -> tuple[Manifest, ImageConfig, Manifest, ImageConfig]:
    """The manifests and configs of two images (for `platform` when they are indexes)."""
    ma, mb = source.image(ref_a, platform), source.image(ref_b, platform)
    return ma, source.config(ma), mb, source.config(mb)
