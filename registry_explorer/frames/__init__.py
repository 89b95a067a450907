"""pandas DataFrames of registry content: stable snake_case columns.

Every `<name>_frame` is a pure builder (models or rows in, DataFrame out). The `<name>` of the
same pair (`files`, `image_files`, `wasted`, `compare`, `tags`, `referrers`) is a convenience
that fetches through a `Source` first (see `sources/batch.py` and `imagefs/listing.py`). `entries_frame`,
`merged_frame` and `compare_images` are the former names of `files_frame`, `image_files_frame`
and `compare_frame`.
"""

from .census_tables import base_images, census_frame, layer_sharing, tag_timeline
from .changes import changes_frame, diff, diff_summary
from .files import (
    entries_frame,
    files,
    files_frame,
    image_files,
    image_files_frame,
    merged_frame,
    wasted,
    wasted_frame,
)
from .inventory_tables import errors_frame, packages, packages_frame, sbom_compare_frame
from .manifests import (
    compare,
    compare_frame,
    compare_images,
    history,
    layers,
    platforms,
    referrers,
    referrers_frame,
    tags,
    tags_frame,
    trace,
)
from .supply_chain import supply_chain, supply_chain_frame

__all__ = [
    "base_images", "census_frame", "layer_sharing", "tag_timeline",
    "compare", "compare_frame", "compare_images", "entries_frame", "files", "files_frame", "history",
    "image_files", "image_files_frame", "layers", "merged_frame", "platforms", "referrers", "referrers_frame",
    "tags", "tags_frame", "trace", "wasted", "wasted_frame", "supply_chain", "supply_chain_frame",
    "changes_frame", "diff", "diff_summary", "errors_frame", "packages", "packages_frame", "sbom_compare_frame",
]
