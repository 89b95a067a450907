"""What the real image producers are given: layer by layer, the entries (bytes, mode, link target), the
paths removed and the directories made opaque, and how to lay them out on disk for a tool to copy.

Everything is derived from fixed seeds, so a record loaded from the between-sessions cache gets the same
bytes back without storing them (see producer_fixtures). Names are chosen so that a tool that sorts its
tar entries (buildah, umoci and ctr-remote all do) puts `000-first.txt` first and `zzz-last.txt` last.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Every source file's mtime (buildah/podman --timestamp overrides it with the same value).
MTIME = 1_700_000_000
MIB = 1024 * 1024
BIG_FILE = "big/blob-20m.bin"  # the eStargz-chunked cost bench's file: 20 MiB, many 64 KiB chunks
OVER_4MIB = "data/random-5m.bin"


@dataclass(frozen=True)
class Entry:
    """One thing a tool was given. A hard link's `data` is the bytes it shares with its `target`."""
    path: str  # inside the image, relative ("etc/app/middle.conf")
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    data: bytes = b""
    mode: int = 0o644
    target: str | None = None  # symlink: the link text as written; hardlink: the path it links to

    def __repr__(self) -> str:  # a 20 MiB `data` must not flood a failing assertion
        extra = f" -> {self.target}" if self.target else f" {len(self.data)} bytes"
        return f"Entry({self.path!r} {self.kind} {self.mode:o}{extra})"


@dataclass(frozen=True)
class LayerInput:
    """What one layer was made from: entries added or changed, paths removed, directories made opaque."""
    entries: tuple[Entry, ...] = ()
    removed: tuple[str, ...] = ()
    opaque: tuple[str, ...] = ()
    note: str = ""  # how the tool was given it ("buildah copy", "files removed under buildah mount", ...)

    def entry(self, path: str) -> Entry:
        return next(e for e in self.entries if e.path == path)


@dataclass(frozen=True)
class ImageInput:
    """All layers of one image, bottom first, and the view a reader of the final image should see."""
    name: str
    layers: tuple[LayerInput, ...]
    files: dict[str, Entry] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "files", merged(self.layers))


def merged(layers: Iterable[LayerInput]) -> dict[str, Entry]:
    """Apply layers in order (OCI image-spec layer.md: removals and opaque dirs hide what is below)."""
    view: dict[str, Entry] = {}
    for layer in layers:
        for gone in layer.removed:
            view = {p: e for p, e in view.items() if p != gone and not p.startswith(gone + "/")}
        for opaque in layer.opaque:
            view = {p: e for p, e in view.items() if not p.startswith(opaque + "/")}
        for e in layer.entries:
            view[e.path] = e
    return dict(sorted(view.items()))


def seeded(seed: int, size: int) -> bytes:
    """Incompressible bytes, the same in every session (random.Random.randbytes is stable for a seed)."""
    return random.Random(seed).randbytes(size)


def text(path: str, version: int = 1, lines: int = 3) -> Entry:
    body = "".join(f"{path} v{version} line {i}: the quick brown fox\n" for i in range(lines))
    return Entry(path, "file", body.encode())


def dirs(*paths: str) -> tuple[Entry, ...]:
    return tuple(Entry(p, "dir", mode=0o755) for p in paths)


def write_tree(root: Path, entries: Iterable[Entry]) -> Path:
    """Lay entries out under `root` as a tool will copy them: modes, symlinks, hard links and mtimes set."""
    root.mkdir(parents=True, exist_ok=True)
    entries = list(entries)
    for e in entries:  # directories first, so files can go in them; hard links after their targets
        if e.kind == "dir":
            (root / e.path).mkdir(parents=True, exist_ok=True)
    for e in sorted(entries, key=lambda e: e.kind == "hardlink"):
        dest = root / e.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if e.kind == "file":
            dest.write_bytes(e.data)
        elif e.kind == "symlink":
            os.symlink(e.target, dest)
        elif e.kind == "hardlink":
            os.link(root / e.target, dest)
    for e in sorted(entries, key=lambda e: e.path.count("/"), reverse=True):  # children before parents
        dest = root / e.path
        if e.kind != "symlink":
            os.chmod(dest, e.mode)
        os.utime(dest, (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))
    return root


# --- the images ------------------------------------------------------------------------------------


@functools.cache
def buildah_input() -> ImageInput:
    """Three layers: a tree with every entry kind; removals and a changed file; the 20 MiB file.

    Pushed by buildah as gzip, zstd and zstd:chunked, re-pushed by skopeo and converted by ctr-remote,
    so all of those records share these bytes.
    """
    hard_target = text("data/hl-a-target.txt")
    base = LayerInput(note="buildah copy of a directory", entries=(
        *dirs("bin", "data", "etc", "etc/app", "gone", "gone-dir", "gone-dir/sub", "links", "replaced-dir"),
        text("000-first.txt"),
        Entry("bin/tool.sh", "file", b"#!/bin/sh\necho tool\n", mode=0o755),
        hard_target,
        Entry("data/hl-b-link.txt", "hardlink", hard_target.data, target="data/hl-a-target.txt"),
        Entry(OVER_4MIB, "file", seeded(1, 5 * MIB + 123)),  # > 4 MiB, not a whole number of tar blocks
        text("etc/app/middle.conf"),
        text("gone/kept.txt"), text("gone/removed.txt"),
        text("gone-dir/a.txt"), text("gone-dir/sub/b.txt"),
        Entry("links/abs-link", "symlink", target="/etc/app/middle.conf", mode=0o777),
        Entry("links/rel-link", "symlink", target="../000-first.txt", mode=0o777),
        text("replaced-dir/old.txt"),
        text("zzz-last.txt"),
    ))
    # vfs computes this layer by comparing directories: a file whiteout, a directory whiteout, and for
    # the re-created directory a whiteout per old file (vfs cannot write an opaque marker).
    changes = LayerInput(note="edited under buildah mount (vfs)", removed=("gone/removed.txt", "gone-dir", "replaced-dir"),
                         entries=(*dirs("layer2", "replaced-dir"),
                                  # longer than v1: vfs spots a change by size and mtime, not by content
                                  text("etc/app/middle.conf", version=2, lines=5),
                                  text("layer2/note.txt"), text("replaced-dir/new.txt")))
    big = LayerInput(note="buildah copy of a directory", entries=(
        *dirs("big"), text("big/000-first.txt"), Entry(BIG_FILE, "file", seeded(20, 20 * MIB)),
        text("big/zzz-last.txt")))
    return ImageInput("buildah", (base, changes, big))


@functools.cache
def opaque_input() -> ImageInput:
    """buildah with the overlay driver: re-creating a directory writes `.wh..wh..opq` (vfs cannot)."""
    base = LayerInput(note="buildah copy (overlay driver)", entries=(
        *dirs("opaque-dir"), text("keep.txt"), text("opaque-dir/old-1.txt"), text("opaque-dir/old-2.txt")))
    top = LayerInput(note="rm -rf + mkdir under buildah mount (overlay driver)", opaque=("opaque-dir",),
                     entries=(*dirs("opaque-dir"), text("opaque-dir/new.txt")))
    return ImageInput("buildah-opaque", (base, top))


@functools.cache
def arch_input(arch: str) -> ImageInput:
    return ImageInput(f"arch-{arch}", (LayerInput(entries=(Entry("arch.txt", "file", f"{arch}\n".encode()),),
                                                  note="buildah copy"),))


@functools.cache
def podman_input() -> ImageInput:
    """Two COPY instructions of a Containerfile (podman build keeps one layer per instruction)."""
    target = text("data/hl-a-target.txt")
    first = LayerInput(note="podman build: COPY p1/ /", entries=(
        *dirs("data", "links"), text("000-first.txt"), target,
        Entry("data/hl-b-link.txt", "hardlink", target.data, target="data/hl-a-target.txt"),
        Entry("data/random-4m.bin", "file", seeded(2, 4 * MIB + 7)),
        Entry("links/abs-link", "symlink", target="/000-first.txt", mode=0o777),
        Entry("links/rel-link", "symlink", target="../data/hl-a-target.txt", mode=0o777),
        text("zzz-last.txt")))
    second = LayerInput(note="podman build: COPY p2/ /second/", entries=(
        *dirs("second"), text("second/a.txt"), text("second/z.txt")))
    return ImageInput("podman", (first, second))


@functools.cache
def umoci_input() -> ImageInput:
    """Three `umoci insert`s: a tree at /, a whiteout, an opaque directory.

    umoci 0.4.7's insert never closes its tar writer (umoci issue #436, fixed after 0.4.7 by PR #534), so a
    layer ends right after the last entry's data, with neither the end-of-archive blocks nor the last
    entry's padding: the first layer ends with `zzz-last.txt`'s unpadded bytes (GNU tar exits 2, Python's
    tarfile raises after the last member); the third ends with a symlink's header, on a block boundary.
    """
    target = text("data/hl-a-target.txt")
    tree = LayerInput(note="umoci insert SRC /", entries=(
        *dirs("bin", "data", "gone", "links", "opaque-dir"), text("000-first.txt"),
        Entry("bin/tool.sh", "file", b"#!/bin/sh\necho umoci\n", mode=0o755), target,
        Entry("data/hl-b-link.txt", "hardlink", target.data, target="data/hl-a-target.txt"),
        Entry(OVER_4MIB, "file", seeded(3, 5 * MIB + 123)),
        text("gone/kept.txt"), text("gone/removed.txt"),
        Entry("links/abs-link", "symlink", target="/000-first.txt", mode=0o777),
        Entry("links/rel-link", "symlink", target="../000-first.txt", mode=0o777),
        text("opaque-dir/old-1.txt"), text("opaque-dir/old-2.txt"), text("zzz-last.txt")))
    whiteout = LayerInput(note="umoci insert --whiteout /gone/removed.txt", removed=("gone/removed.txt",))
    opaque = LayerInput(note="umoci insert --opaque SRC /opaque-dir", opaque=("opaque-dir",), entries=(
        *dirs("opaque-dir"), text("opaque-dir/new.txt"),
        Entry("opaque-dir/zzz-link", "symlink", target="new.txt", mode=0o777)))
    return ImageInput("umoci", (tree, whiteout, opaque))


IMAGES = {"buildah": buildah_input, "buildah-opaque": opaque_input, "podman": podman_input,
          "umoci": umoci_input, "arch-amd64": lambda: arch_input("amd64"),
          "arch-arm64": lambda: arch_input("arm64")}


def image_input(name: str) -> ImageInput:
    """The input of a record by its name (how a record loaded from the cache gets its bytes back)."""
    return IMAGES[name]()
