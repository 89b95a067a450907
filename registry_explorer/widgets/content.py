"""Read one small file out of a layer blob for the Explorer's file preview.

`read_preview` asks the source's `open_file` (issue 12) when it has one: with the layer's index
known (the listing built it) that is one Range request, checked against digests recorded from
the verified pass, and the preview shows how its bytes are vouched for and what moved on the
wire. Otherwise (`read_member`) the layer streams through `layerfs.decompressed` and `tarfile` in stream mode, so nothing is
written to disk and only the wanted file is held in memory. The blob is then read to its end so
its digest is checked before the content is shown: a preview never shows unverified bytes.
"""

from __future__ import annotations

import tarfile

from ..layers import IN_CHUNK, TAR_BUFSIZE, decompressed, normalize_path

# Previews are for reading config files and scripts in a notebook, not for dumping binaries.
PREVIEW_LIMIT = 64 << 10


def read_member(client, ref, descriptor, path: str, *, limit: int = PREVIEW_LIMIT) -> bytes | None:
    """The bytes of regular file `path` in the layer, or None if absent, not a file, or over `limit`."""
    wanted = normalize_path(path)
    found: bytes | None = None
    with client.open_blob(ref, descriptor) as blob:
        stream = decompressed(blob, descriptor.media_type, f"layer {descriptor.digest}")
        with tarfile.open(fileobj=stream, mode="r|", bufsize=TAR_BUFSIZE) as tar:
            for info in tar:
                tar.members.clear()  # stream mode remembers members; a big layer would pile them up
                if normalize_path(info.name) != wanted:
                    continue
                found = None  # a later entry for the same path replaces an earlier one
                if info.isreg() and info.size <= limit:
                    f = tar.extractfile(info)
                    found = f.read() if f is not None else None
        # Drain to EOF: the verifying reader checks size and digest only there.
        while blob.read(IN_CHUNK):
            pass
    return found


def read_preview(client, ref, descriptor, path: str, *, limit: int = PREVIEW_LIMIT) -> tuple[bytes | None, dict]:
    """(bytes or None, how they were read) of regular file `path` in one layer, for the preview.

    The dict has `verification` ("layer-digest", "verified-index", "estargz-entry-digest"),
    `requests` and `bytes_moved` (what this read cost on the wire; 0 when served from memory).
    """
    opener = getattr(client, "open_file", None)
    if not callable(opener):
        return read_member(client, ref, descriptor, path, limit=limit), {"verification": "layer-digest"}
    from ..core.errors import NotFound

    try:
        with opener(ref, path, layer=descriptor) as f:
            if f.size > limit:
                return None, {}
            data = f.read()
            meta = {"verification": f.verification, "requests": getattr(f, "requests", 0),
                    "bytes_moved": getattr(f, "bytes_moved", 0), "kind": getattr(f, "kind", "")}
    except NotFound:
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
