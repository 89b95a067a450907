"""List what is inside layer blobs: stream, decompress and walk the tar without writing to disk.

A layer is read once, front to back: blob -> decompressor -> `tarfile` in stream mode (`r|`),
skipping file contents as it goes, so memory stays bounded whatever the layer size. The
compressed stream is read to its end afterwards, so the digest check of `Client.open_blob`
always runs. Hostile layers meet named limits (entries, path length, header size, decompressed
bytes) and every malformed input becomes an `InvalidManifest` or `TooLarge`, never a raw
tarfile/zlib traceback.

Layer format and whiteouts: https://github.com/opencontainers/image-spec/blob/main/layer.md
No pandas here; `registry_explorer.frames.files` builds DataFrames from these entries.

The work is split by job: layers.compress (gzip/zstd streams), layers.tar (the tar walk
and its limits) and layers.merge (whiteouts and dive's efficiency). This module is the public
face: every name below is importable as `registry_explorer.layers.X`.
"""

from __future__ import annotations

from .compress import GZIP_FEED, GZIP_MAGIC, IN_CHUNK, ZSTD_MAGIC, ZSTD_MAX_WINDOW, decompressed
from .merge import Efficiency, PathUsage, Placed, efficiency, merge_layers
from .tar import (
    MAX_DECOMPRESSED_BYTES,
    MAX_ENTRIES,
    MAX_HEADER_BYTES,
    MAX_HEADER_CHAIN,
    MAX_PATH_LENGTH,
    OPAQUE_WHITEOUT,
    RESERVED_PREFIX,
    TAR_BUFSIZE,
    WHITEOUT_PREFIX,
    Entry,
    entry_from_tarinfo,
    iter_entries,
    iter_layer,
    iter_members,
    normalize_path,
)

__all__ = [
    "GZIP_FEED", "GZIP_MAGIC", "IN_CHUNK", "MAX_DECOMPRESSED_BYTES", "MAX_ENTRIES", "MAX_HEADER_BYTES",
    "MAX_HEADER_CHAIN", "MAX_PATH_LENGTH", "OPAQUE_WHITEOUT", "RESERVED_PREFIX", "TAR_BUFSIZE", "WHITEOUT_PREFIX",
    "ZSTD_MAGIC", "ZSTD_MAX_WINDOW", "Efficiency", "Entry", "PathUsage", "Placed", "decompressed",
    "efficiency", "entry_from_tarinfo", "iter_entries", "iter_layer", "iter_members", "merge_layers",
    "normalize_path",
]
