"""Read one small file out of a layer blob, streaming, for the Explorer's file preview.

The layer streams through `layerfs.decompressed` and `tarfile` in stream mode, so nothing is
written to disk and only the wanted file is held in memory. The blob is then read to its end so
its digest is checked before the content is shown: a preview never shows unverified bytes.
"""

from __future__ import annotations

import tarfile

from ..layerfs import IN_CHUNK, TAR_BUFSIZE, decompressed, normalize_path

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


def as_text(data: bytes) -> str | None:
    """`data` decoded as UTF-8 if it looks like text (no NUL bytes), else None."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
