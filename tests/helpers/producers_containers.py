"""Builders for the containers/image family (buildah, podman, skopeo) and umoci.

Each builder takes a running registry and a work directory, runs the real tool, pushes every image to a
repository of its own (`producers/<name>`), checks it (producers.check_pushed) and returns its records.
Nothing is ever run inside an image: buildah uses `from scratch` + `copy` + `commit`, and edits a
working container's files through `buildah mount` for removals.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from helpers.producers import (
    OCI_INDEX,
    Layout,
    ProducerError,
    Pushed,
    PushedIndex,
    ToolBox,
    check_index,
    layout_record,
    manifest_bytes,
    pushed_record,
    require_tools,
    sha256,
)
from helpers.producers_content import (
    MTIME,
    arch_input,
    buildah_input,
    opaque_input,
    podman_input,
    umoci_input,
    write_tree,
)
from registry_explorer.sandbox.registry import RunningRegistry

PREFIX = "producers/"
TAG = "v1"
BUILDAH_IMAGE = "localhost/rx-buildah:latest"  # the three-layer image in the buildah box's storage
CREATED = "2023-11-14T22:13:20Z"  # MTIME as RFC 3339, for umoci's config and history


def _dest(reg: RunningRegistry, name: str) -> str:
    return f"docker://{reg.host}/{PREFIX}{name}:{TAG}"


def _commit(box: ToolBox, ctr: str, image: str) -> None:
    box.run("buildah", *box.storage_flags, "commit", "--rm", "--timestamp", MTIME, "--format", "oci", ctr, image)


def build_buildah(reg: RunningRegistry, workdir: Path) -> tuple[dict[str, Pushed | PushedIndex], ToolBox]:
    """The three-layer image as gzip, zstd and zstd:chunked, and a two-platform list. Also the box, whose
    storage skopeo reads the image from."""
    require_tools("buildah")
    box = ToolBox(workdir / "buildah")
    b = ("buildah", *box.storage_flags)
    base, changes, big = buildah_input().layers
    src = workdir / "buildah" / "src"

    ctr = box.run(*b, "from", "scratch").strip()
    box.run(*b, "copy", ctr, f"{write_tree(src / 'base', base.entries)}/", "/")
    _commit(box, ctr, "rx-buildah-1")
    ctr = box.run(*b, "from", "rx-buildah-1").strip()
    # vfs "mounts" by handing out the container's directory, so the edits need no mount namespace.
    rootfs = Path(box.run(*b, "mount", ctr).strip())
    for gone in changes.removed:
        path = rootfs / gone
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    write_tree(rootfs, changes.entries)
    box.run(*b, "unmount", ctr)
    _commit(box, ctr, "rx-buildah-2")
    ctr = box.run(*b, "from", "rx-buildah-2").strip()
    box.run(*b, "copy", ctr, f"{write_tree(src / 'big', big.entries)}/", "/")
    _commit(box, ctr, BUILDAH_IMAGE)

    records: dict[str, Pushed | PushedIndex] = {}
    for variant in ("gzip", "zstd", "zstd:chunked"):
        name = "buildah-" + variant.replace(":", "-")
        box.run(*b, "push", *box.registry_flags(reg), "--compression-format", variant, BUILDAH_IMAGE, _dest(reg, name))
        records[name] = pushed_record(reg, name=name, tool="buildah", variant=variant, repository=PREFIX + name,
                                      tag=TAG, input_name="buildah")
    records["buildah-opaque"] = _buildah_opaque(reg, workdir)
    records["buildah-multiarch"] = _buildah_list(reg, box, src)
    return records, box


# One namespace for the whole overlay-driver sequence: the overlay that `buildah mount` makes lives only
# as long as the namespace it was made in, and buildah's storage remembers it as mounted.
_OPAQUE_SCRIPT = """set -e
b="buildah --root $ROOT --runroot $RUNROOT --storage-driver overlay"
c=$($b from scratch)
$b copy "$c" "$SRC_BASE/" /
$b commit --rm --timestamp "$MTIME" --format oci "$c" rx-opaque-1 >/dev/null
c=$($b from rx-opaque-1)
m=$($b mount "$c")
rm -rf "$m/opaque-dir"
cp -a "$SRC_TOP/opaque-dir" "$m/opaque-dir"
$b unmount "$c" >/dev/null
$b commit --rm --timestamp "$MTIME" --format oci "$c" rx-opaque >/dev/null
$b push --compression-format gzip "$@" rx-opaque "$DEST"
"""


def _buildah_opaque(reg: RunningRegistry, workdir: Path) -> Pushed:
    """A directory re-created in an upper layer: overlay marks it opaque and buildah writes `.wh..wh..opq`."""
    box = ToolBox(workdir / "buildah-overlay", driver="overlay")
    base, top = opaque_input().layers
    src = box.workdir / "src"
    env = {"ROOT": box.root, "RUNROOT": box.runroot, "MTIME": MTIME, "DEST": _dest(reg, "buildah-opaque"),
           "SRC_BASE": write_tree(src / "base", base.entries), "SRC_TOP": write_tree(src / "top", top.entries)}
    box.run("env", *(f"{k}={v}" for k, v in env.items()), "sh", "-c", _OPAQUE_SCRIPT, "sh", *box.registry_flags(reg))
    return pushed_record(reg, name="buildah-opaque", tool="buildah", variant="gzip", repository=PREFIX + "buildah-opaque",
                         tag=TAG, input_name="buildah-opaque")


def _buildah_list(reg: RunningRegistry, box: ToolBox, src: Path) -> PushedIndex:
    """`buildah manifest create/add/push --all`: an OCI index of two one-layer images (nothing runs, so
    an arm64 image is only its config's architecture)."""
    b = ("buildah", *box.storage_flags)
    for arch in ("amd64", "arm64"):
        ctr = box.run(*b, "from", "scratch").strip()
        box.run(*b, "copy", ctr, f"{write_tree(src / arch, arch_input(arch).layers[0].entries)}/", "/")
        box.run(*b, "config", "--arch", arch, "--os", "linux", ctr)
        _commit(box, ctr, f"localhost/rx-arch-{arch}:latest")
    box.run(*b, "manifest", "create", "rx-list")
    for arch in ("amd64", "arm64"):
        box.run(*b, "manifest", "add", "rx-list", f"containers-storage:localhost/rx-arch-{arch}:latest")
    name = "buildah-multiarch"
    box.run(*b, "manifest", "push", "--all", "--format", "oci", *box.registry_flags(reg), "rx-list", _dest(reg, name))
    raw, content_type = manifest_bytes(reg, PREFIX + name, TAG)
    if content_type != OCI_INDEX:
        raise ProducerError(f"buildah manifest push --format oci gave {content_type}")
    rec = PushedIndex(name=name, tool="buildah", repository=PREFIX + name, tag=TAG, digest=sha256(raw),
                      media_type=content_type, host=reg.host)
    for m in json.loads(raw)["manifests"]:
        arch = m["platform"]["architecture"]
        rec.platforms[f"linux/{arch}"] = pushed_record(reg, name=f"{name}-{arch}", tool="buildah", variant="gzip",
                                                       repository=PREFIX + name, tag=m["digest"], input_name=f"arch-{arch}")
    check_index(reg, rec)
    return rec


def build_podman(reg: RunningRegistry, workdir: Path) -> dict[str, Pushed]:
    """`podman build` of a Containerfile with two COPYs (no RUN), pushed as gzip and as zstd."""
    require_tools("podman")
    # podman 4.3 refuses a runroot longer than 50 characters ("the specified runroot is longer than 50
    # characters"): pytest's temp paths are longer, so the runroot gets a short directory of its own.
    runroot = Path(tempfile.mkdtemp(prefix="rx-podman-"))
    try:
        return _build_podman(reg, ToolBox(workdir / "podman", runroot=runroot))
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _build_podman(reg: RunningRegistry, box: ToolBox) -> dict[str, Pushed]:
    first, second = podman_input().layers
    ctx = box.workdir / "context"
    write_tree(ctx / "p1", first.entries)
    write_tree(ctx / "p2", second.entries)
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY p1/ /\nCOPY p2/ /\n")
    p = ("podman", *box.storage_flags)
    box.run(*p, "build", "--layers", "--timestamp", MTIME, "--format", "oci", "-t", "localhost/rx-podman:latest", ctx)
    records = {}
    for variant in ("gzip", "zstd"):
        name = f"podman-{variant}"
        box.run(*p, "push", *box.registry_flags(reg), "--compression-format", variant, "localhost/rx-podman:latest",
                _dest(reg, name))
        records[name] = pushed_record(reg, name=name, tool="podman", variant=variant, repository=PREFIX + name,
                                      tag=TAG, input_name="podman")
    return records


def build_skopeo(reg: RunningRegistry, workdir: Path, layouts: Path, buildah_box: ToolBox) -> dict[str, Pushed | Layout]:
    """skopeo as a writer: buildah's image as an uncompressed OCI layout; that layout pushed with gzip and
    with zstd compression done by skopeo; and a pushed image copied back into an OCI layout."""
    require_tools("skopeo")
    box = ToolBox(workdir / "skopeo")
    unc = layouts / "skopeo-uncompressed"
    box.run("skopeo", "copy", "--dest-oci-accept-uncompressed-layers", buildah_box.storage_ref + BUILDAH_IMAGE,
            f"oci:{unc}:{TAG}")
    records: dict[str, Pushed | Layout] = {
        "skopeo-uncompressed": layout_record(unc, name="skopeo-uncompressed", tool="skopeo", variant="none", tag=TAG,
                                             input_name="buildah")}
    for variant in ("gzip", "zstd"):
        name = f"skopeo-{variant}"
        box.run("skopeo", "copy", *box.registry_flags(reg, "dest-"), "--dest-compress-format", variant,
                f"oci:{unc}:{TAG}", _dest(reg, name))
        records[name] = pushed_record(reg, name=name, tool="skopeo", variant=variant, repository=PREFIX + name,
                                      tag=TAG, input_name="buildah")
    oci = layouts / "skopeo-oci"
    box.run("skopeo", "copy", *box.registry_flags(reg, "src-"), _dest(reg, "buildah-gzip"), f"oci:{oci}:{TAG}")
    records["skopeo-oci"] = layout_record(oci, name="skopeo-oci", tool="skopeo", variant="gzip", tag=TAG, input_name="buildah")
    return records


def build_umoci(reg: RunningRegistry, workdir: Path, layouts: Path) -> dict[str, Pushed | Layout]:
    """`umoci init/new/insert` (a tree, a whiteout, an opaque directory), then pushed by skopeo unchanged."""
    require_tools("umoci", "skopeo")
    box = ToolBox(workdir / "umoci")
    tree, whiteout, opaque = umoci_input().layers
    lay, image = layouts / "umoci", f"{layouts / 'umoci'}:{TAG}"
    hist = ("--history.created", CREATED)
    box.run("umoci", "init", "--layout", lay, isolate=False)
    box.run("umoci", "new", "--image", image, isolate=False)
    box.run("umoci", "config", "--image", image, "--created", CREATED, "--os", "linux", "--architecture", "amd64",
            "--no-history", isolate=False)
    box.run("umoci", "insert", *hist, "--image", image, write_tree(box.workdir / "tree", tree.entries), "/", isolate=False)
    (gone,) = whiteout.removed
    box.run("umoci", "insert", *hist, "--image", image, "--whiteout", "/" + gone, isolate=False)
    (od,) = opaque.opaque
    top = write_tree(box.workdir / "opaque", opaque.entries) / od
    box.run("umoci", "insert", *hist, "--image", image, "--opaque", top, "/" + od, isolate=False)
    records: dict[str, Pushed | Layout] = {
        "umoci": layout_record(lay, name="umoci", tool="umoci", variant="gzip", tag=TAG, input_name="umoci")}
    box.run("skopeo", "copy", "--preserve-digests", *box.registry_flags(reg, "dest-"), f"oci:{image}", _dest(reg, "umoci"))
    records["umoci-pushed"] = pushed_record(reg, name="umoci-pushed", tool="umoci", variant="gzip",
                                            repository=PREFIX + "umoci", tag=TAG, input_name="umoci")
    if records["umoci-pushed"].digest != records["umoci"].digest:
        raise ProducerError("skopeo --preserve-digests changed umoci's manifest")
    return records
