"""The Explorer's file preview: one small file of one layer, read by the one image filesystem.

With the layer's index known (the listing built it) that is one Range request, checked against
digests recorded from the verified pass; the preview shows which chain of trust vouched for the
bytes and what moved on the wire. A preview never shows unverified bytes.
"""

from __future__ import annotations

from ..core.errors import NotAFile, NotFound, SymlinkLoop
from ..imagefs.filesystem import ImageFS

# Previews are for reading config files and scripts in a notebook, not for dumping binaries.
PREVIEW_LIMIT = 64 << 10


def read_preview(client, ref, descriptor, path: str, *, limit: int = PREVIEW_LIMIT) -> tuple[bytes | None, dict]:
    """(bytes or None, how they were read) of regular file `path` in one layer, for the preview.

    The dict has `verification` (the chain: "layer-digest", "verified-index", "estargz-toc", ...),
    `verified_by` (that chain in a sentence), `requests` and `bytes_moved` (what this read cost on
    the wire; 0 when served from memory) and `kind` (the layer index's kind).
    """
    files = ImageFS(client, ref, layer=descriptor)
    try:
        if files.info(path).get("size", 0) > limit:
            return None, {}
        with files.open(path) as f:
            data = f.read()
            meta = {"verification": f.verification, "verified_by": f.verified_by, "requests": f.requests,
                    "bytes_moved": f.bytes_moved, "kind": f.kind}
    except (NotFound, NotAFile, SymlinkLoop):
        return None, {}
    return data, meta


def as_text(data: bytes) -> str | None:
    """`data` decoded as UTF-8 if it looks like text (no NUL bytes), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
