"""The path-table image (issue 24, class 1): every way a path can resolve in a merged filesystem, in two layers.

The base layer holds the cases of the sandbox's `peek` sample (`etc/abs` an absolute link,
`etc/hard` a hard link, `etc/escape` a `..` chain past the root, `etc/loop`) and what that
sample lacks: relative links (same directory, up a directory, to a directory), an absolute link
to a directory, a directory the upper layer whites out (`.wh.wd` over `wd/x`), a directory the
upper layer makes opaque, a target behind a whited-out directory, a character device.
The upper layer replaces `etc/os-release`, so a hard link (which keeps the base layer's bytes)
and a symlink (which reads the merged file) give different bytes: a resolver that confuses the
two cannot pass.

`ROWS` is the table: each path with what every door must give (bytes, or the error class) and
what a listing must show for that path name (its own entry type, or None when it is not listed).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass

from registry_explorer.core.errors import NotAFile, PathNotFound, SymlinkLoop
from registry_explorer.sandbox import samples as s
from registry_explorer.sandbox.samples_inventory import tar_layer

OS_RELEASE_BASE = b"ID=peek\n"
OS_RELEASE = b"ID=peek\nVERSION=2\n"
LIBX = b"\x7fELF lib x\n"
OLD_TARGET = b"behind a whited-out directory\n"
OPQ_NEW = b"upper opaque\n"
WD_X = b"hidden by .wh.wd\n"
DIR_A = b"plain file in a directory\n"

# (name, kind, payload): kind file|dir|symlink|hardlink|char; members are written in this order.
BASE = [
    ("etc", "dir", b""), ("etc/os-release", "file", OS_RELEASE_BASE), ("etc/gone", "file", b"old\n"),
    ("usr", "dir", b""), ("usr/lib", "dir", b""), ("usr/lib/libx.so", "file", LIBX),
    ("lib", "symlink", "usr/lib"),
    ("etc/abs", "symlink", "/etc/os-release"),
    ("etc/absdir", "symlink", "/usr/lib"),
    ("etc/rel", "symlink", "os-release"),
    ("etc/up", "symlink", "../usr/lib/libx.so"),
    ("etc/escape", "symlink", "../../../../etc/os-release"),
    ("etc/hard", "hardlink", "etc/os-release"),
    ("etc/loop", "symlink", "loop"),
    ("wd", "dir", b""), ("wd/x", "file", WD_X), ("wd/sub", "dir", b""), ("wd/sub/y", "file", WD_X),
    ("old", "dir", b""), ("old/target", "file", OLD_TARGET),
    ("opq", "dir", b""), ("opq/old.txt", "file", b"lower opaque\n"),
    ("dir", "dir", b""), ("dir/a", "file", DIR_A),
    ("dev", "dir", b""), ("dev/null", "char", b""),
]
UPPER = [
    ("etc", "dir", b""), ("etc/.wh.gone", "file", b""), ("etc/os-release", "file", OS_RELEASE),
    (".wh.wd", "file", b""),  # a whited-out directory: wd and everything under it are gone
    (".wh.old", "file", b""),
    ("via", "symlink", "old/target"),  # a link through the whited-out directory
    ("viaabs", "symlink", "/old/target"),
    ("opq", "dir", b""), ("opq/.wh..wh..opq", "file", b""), ("opq/new.txt", "file", OPQ_NEW),
]

SKIP = "skip"  # the listing has no row to compare (the path names no entry: `..` in it)


@dataclass(frozen=True)
class Row:
    """One path of the table: what reading it gives, and what a listing shows for its name."""

    path: str
    expect: bytes | type  # the bytes, or the error class every door raises (or reports)
    listed: str | None  # the listing's entry type for this path name, None if absent, SKIP if n/a
    why: str

    @property
    def id(self) -> str:
        return self.why


ROWS = [
    Row("etc/os-release", OS_RELEASE, "file", "upper-file-replaces-lower"),
    Row("etc/abs", OS_RELEASE, "symlink", "absolute-link"),
    Row("etc/absdir/libx.so", LIBX, None, "through-absolute-dir-link"),
    Row("etc/rel", OS_RELEASE, "symlink", "relative-link"),
    Row("etc/up", LIBX, "symlink", "relative-link-up"),
    Row("lib/libx.so", LIBX, None, "through-relative-dir-link"),
    Row("etc/escape", OS_RELEASE, "symlink", "dotdot-past-root-in-link"),
    Row("../../etc/os-release", OS_RELEASE, SKIP, "dotdot-past-root-in-path"),
    Row("/etc/os-release", OS_RELEASE, SKIP, "absolute-path"),
    Row("etc/hard", OS_RELEASE_BASE, "hardlink", "hard-link-keeps-its-layer"),
    Row("etc/loop", SymlinkLoop, "symlink", "link-loop"),
    Row("via", PathNotFound, "symlink", "link-through-whited-out-dir"),
    Row("viaabs", PathNotFound, "symlink", "absolute-link-through-whited-out-dir"),
    Row("wd", PathNotFound, None, "whited-out-dir"),
    Row("wd/x", PathNotFound, None, "child-of-whited-out-dir"),
    Row("wd/sub/y", PathNotFound, None, "grandchild-of-whited-out-dir"),
    Row("old/target", PathNotFound, None, "target-in-whited-out-dir"),
    Row("etc/gone", PathNotFound, None, "whited-out-file"),
    Row("opq/old.txt", PathNotFound, None, "opaque-dir-hides-lower"),
    Row("opq/new.txt", OPQ_NEW, "file", "opaque-dir-keeps-own"),
    Row("dir/a", DIR_A, "file", "file-in-dir"),
    Row("dir", NotAFile, "dir", "directory"),
    Row("dev/null", NotAFile, "char", "device"),
    Row("nothing/here", PathNotFound, None, "missing"),
    Row("etc/os-release/x", PathNotFound, None, "file-under-a-file"),
]


def _tar(members) -> bytes:
    return tar_layer([(name, kind, payload, 0o755 if kind == "dir" else 0o644) for name, kind, payload in members])


def _layer(members) -> tuple[s.Blob, str]:
    raw = _tar(members)
    return s.Blob(s.OCI_LAYER_GZIP, gzip.compress(raw, mtime=0)), "sha256:" + hashlib.sha256(raw).hexdigest()


def build(repository: str, tag: str, layers) -> s.TestImage:
    """An OCI image of gzip layers, each a list of (name, kind, payload) members (base first)."""
    built = [_layer(members) for members in layers]
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [d for _, d in built]},
              "config": {}, "history": [{"created_by": f"layer {i}"} for i in range(len(built))]}
    config_blob = s.Blob(s.OCI_CONFIG, json.dumps(config, separators=(",", ":")).encode())
    manifest = {"schemaVersion": 2, "mediaType": s.OCI_MANIFEST, "config": config_blob.descriptor(),
                "layers": [b.descriptor() for b, _ in built]}
    root = s.Blob(s.OCI_MANIFEST, json.dumps(manifest, separators=(",", ":")).encode())
    blobs = {b.digest: b for b in (config_blob, *(b for b, _ in built), root)}
    return s.TestImage(name=repository.rsplit("/", 1)[-1], repository=repository, tag=tag, root=root, blobs=blobs,
                       push_order=[(tag, root)], extra={"layers": [b for b, _ in built]})


def image(repository: str = "test/paths", tag: str = "v1", upper_extra=()) -> s.TestImage:
    """The two-layer path-table image (`upper_extra` adds members to the upper layer: another variant)."""
    return build(repository, tag, [BASE, [*UPPER, *upper_extra]])
