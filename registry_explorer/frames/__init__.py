"""pandas DataFrames of registry content: stable snake_case columns, pure where possible."""

from .files import entries_frame, files, image_files, merged_frame, wasted, wasted_frame
from .manifests import compare, compare_images, history, layers, platforms, referrers, tags, trace

__all__ = [
    "compare", "compare_images", "entries_frame", "files", "history", "image_files", "layers", "merged_frame",
    "platforms", "referrers", "tags", "trace", "wasted", "wasted_frame",
]
