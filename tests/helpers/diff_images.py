"""Two images buildah wrote for rx.diff's hardest cases: types changed, modes and owners changed, links, removals.

`a` is one `buildah copy` of a tree holding every kind of entry; `b` starts from `a` and is edited under
`buildah mount` (vfs), so buildah's own layer differ writes the second layer: a file that became a
directory and back, a directory that became a file or a symlink, a symlink that became a file, a mode and
an owner changed, content changed at the same size, removals (whiteouts) and hard links in the new layer.
Nothing runs inside an image (producers.py's rules: a private namespace, storage in the work dir).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from helpers.producers import ToolBox, require_tools
from helpers.producers_content import MTIME, Entry, dirs, text, write_tree
from registry_explorer.sandbox.registry import RunningRegistry

REPOSITORY = "inventory/diff-"
TAG = "v1"


def _tree_a() -> list[Entry]:
    target = text("m/hard-target.txt")
    return [*dirs("t", "t/d2f", "t/d2l", "m", "m/gone-dir"),
            text("t/f2d"), text("t/d2f/child.txt"), Entry("t/l2f", "symlink", target="f2d", mode=0o777),
            text("t/f2l"), text("t/d2l/c.txt"), Entry("m/mode.sh", "file", b"#!/bin/sh\necho mode\n", mode=0o644),
            text("m/owner.txt"), Entry("m/content.txt", "file", b"aaaa\n"), text("m/same.txt"), text("m/gone.txt"),
            text("m/gone-dir/x.txt"), target, Entry("m/hard-link", "hardlink", target.data, target="m/hard-target.txt")]


def _edit(root: Path) -> None:
    """What `b`'s second layer does, as a RUN step would (buildah's vfs differ turns it into the layer)."""
    os.unlink(root / "t/f2d")
    (root / "t/f2d").mkdir()
    (root / "t/f2d/inner.txt").write_text("now a directory\n")
    shutil.rmtree(root / "t/d2f")
    (root / "t/d2f").write_text("now a file\n")
    os.unlink(root / "t/l2f")
    (root / "t/l2f").write_text("was a symlink\n")
    os.unlink(root / "t/f2l")
    os.symlink("../m/same.txt", root / "t/f2l")
    shutil.rmtree(root / "t/d2l")
    os.symlink("/etc", root / "t/d2l")
    os.chmod(root / "m/mode.sh", 0o755)
    os.chown(root / "m/owner.txt", 1000, 1000)
    (root / "m/content.txt").write_bytes(b"bbbb\n")  # same size: only the digest tells
    os.utime(root / "m/content.txt", (MTIME + 60, MTIME + 60))  # vfs compares size and mtime
    os.unlink(root / "m/gone.txt")
    shutil.rmtree(root / "m/gone-dir")
    (root / "m/up-target.txt").write_text("a hard link pair in the new layer\n")
    os.link(root / "m/up-target.txt", root / "m/up-link")


def build_pair(reg: RunningRegistry, workdir: Path) -> tuple[str, str]:
    """Push `a` and `b` to `reg`; their references."""
    require_tools("buildah")
    box = ToolBox(workdir / "buildah-diff")
    b = ("buildah", *box.storage_flags)
    src = write_tree(workdir / "src-a", _tree_a())
    refs = []
    for name in ("a", "b"):
        ctr = box.run(*b, "from", "scratch" if name == "a" else "rx-diff-a").strip()
        if name == "a":
            box.run(*b, "copy", ctr, f"{src}/", "/")
        else:
            rootfs = Path(box.run(*b, "mount", ctr).strip())  # vfs hands out the container's directory
            _edit(rootfs)
            box.run(*b, "unmount", ctr)
        box.run(*b, "commit", "--rm", "--timestamp", str(MTIME), "--format", "oci", ctr, f"rx-diff-{name}")
        dest = f"docker://{reg.host}/{REPOSITORY}{name}:{TAG}"
        box.run(*b, "push", *box.registry_flags(reg), "--compression-format", "gzip", f"rx-diff-{name}", dest)
        refs.append(f"{reg.host}/{REPOSITORY}{name}:{TAG}")
    return refs[0], refs[1]
