"""Images whose layers a real package manager wrote step by step: install in three layers, remove in a fourth.

Each step runs the real tool on one root directory, and the layer is what changed since the step before,
as a container builder's layer differ records it (containers/storage, buildah with vfs): every file added
or changed, with its parent directories, and one whiteout per removed path (the top-most one).

- `rpm_layers()`: ``rpm --dbpath -i --justdb`` of the rpm fixture's packages (tests/helpers/packagedbs_rpm.py)
  in three steps, then ``rpm -e --justdb`` of one: four copies of ``var/lib/rpm/rpmdb.sqlite``. Truth:
  ``rpm -qa`` of the final database.
- `pip_layers()`: ``pip install`` of the Python fixture's three wheels into a virtual environment, one per
  layer, then ``pip uninstall`` of one: its files become whiteouts. Truth: ``pip list --path``.

Each returns a `Steps`: the layers (tar bytes, created_by), the truth rows, and the layer each name was
installed in.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from registry_explorer.inventory.python_dists import canonical_name

from .packagedbs_common import TAR_MTIME, TruthRow, need, run
from .packagedbs_lang import SITE, python_cache
from .packagedbs_rpm import DBPATH, QF
from .packagedbs_rpm import _cache as rpm_cache

# (packages installed, created_by) per step; the fourth step removes REMOVED_RPM.
RPM_STEPS = [(["rx-alpha"], "RUN rpm -i rx-alpha"), (["rx-beta", "rx-beta-libs"], "RUN rpm -i rx-beta rx-beta-libs"),
             (["rx-gamma-tools", "rx-kmod-1.0", "rx-kmod-1.1"], "RUN rpm -i rx-gamma-tools rx-kmod-1.0 rx-kmod-1.1")]
# (the created_by of each step is "RUN rpm <op> <names>")
REMOVED_RPM = "rx-beta-libs"
REMOVED_WHEEL = "rx-beta"


@dataclass
class Steps:
    """Layers written step by step, the tool's final listing, and which layer installed each name."""

    layers: list[tuple[bytes, str]]
    truth: list[TruthRow]
    installed_in: dict[str, int] = field(default_factory=dict)


def snapshot(root: Path, prefix: str = "") -> dict[str, tuple[str, bytes]]:
    """{prefix + relative path: (kind, content or link target)} of a tree (no __pycache__, no rpm lock)."""
    out: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = prefix + path.relative_to(root).as_posix()
        if "__pycache__" in rel or rel.endswith(".rpm.lock"):
            continue
        if path.is_symlink():
            out[rel] = ("symlink", os.readlink(path).encode())
        elif path.is_dir():
            out[rel] = ("dir", b"")
        else:
            out[rel] = ("file", path.read_bytes())
    return out


def layer_between(before: dict[str, tuple[str, bytes]], after: dict[str, tuple[str, bytes]]) -> bytes:
    """The layer tar that turns `before` into `after`: changes with their parents, whiteouts for removals."""
    members: dict[str, tuple[str, bytes]] = {}

    def with_parents(path: str, value: tuple[str, bytes]) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            members.setdefault("/".join(parts[:i]), ("dir", b""))
        members[path] = value

    for path, value in after.items():
        if before.get(path) != value:
            with_parents(path, value)
    removed = [p for p in before if p not in after]
    for path in removed:
        if not any(path.startswith(q + "/") for q in removed):  # the top-most removed path only
            with_parents(_whiteout(path), ("file", b""))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(members):
            kind, data = members[path]
            info = tarfile.TarInfo(path)
            info.mtime = TAR_MTIME
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _whiteout(path: str) -> str:
    head, _, base = path.rpartition("/")
    return f"{head}/.wh.{base}" if head else f".wh.{base}"


def rpm_layers(work: Path, steps_: list[tuple[str, list[str]]] | None = None) -> Steps:
    """Three `rpm -i --justdb` steps and one `rpm -e --justdb`, each a layer holding the whole rpmdb.sqlite.

    `steps_` replaces them: (``"-i"`` or ``"-e"``, package names) per layer; `installed_in` then names the
    layer of each name's last install.
    """
    need("rpm")
    files = sorted((rpm_cache() / "rpmbuild" / "RPMS").glob("*/*.rpm"))

    def rpm_file(name: str) -> str:  # "rx-beta" names rx-beta-0.9.1-..., not rx-beta-libs-...
        return str(next(p for p in files if re.fullmatch(re.escape(name) + r"(-[0-9][^-]*)?-[0-9].*\.rpm", p.name)))

    root = work / "rpm-root"
    (root / DBPATH).mkdir(parents=True)
    steps = Steps([], [])
    before = snapshot(root)
    dbpath = str(root / DBPATH)
    if steps_ is None:
        steps_ = [("-i", names) for names, _ in RPM_STEPS] + [("-e", [REMOVED_RPM])]
    commands = [([op, "--justdb", "--nodeps", *(rpm_file(n) if op == "-i" else n for n in names)],
                 f"RUN rpm {op} {' '.join(names)}", names if op == "-i" else []) for op, names in steps_]
    for i, (args, step, names) in enumerate(commands):
        run(["rpm", "--dbpath", dbpath, *args])
        after = snapshot(root)
        steps.layers.append((layer_between(before, after), step))
        steps.installed_in.update(dict.fromkeys((re.sub(r"-[0-9.]+$", "", n) for n in names), i))
        before = after
    out = run(["rpm", "-qa", "--dbpath", dbpath, "--qf", QF.replace("\\t", "\t").replace("\\n", "\n")])
    for line in out.splitlines():
        name, evr, arch, *_ = line.split("\t")
        steps.truth.append(TruthRow("rpm", name, evr, None if arch == "(none)" else arch))
    return steps


def pip_layers(work: Path) -> Steps:
    """`pip install` of each fixture wheel in its own layer, then `pip uninstall` of one.

    pip uninstalls only inside the environment it manages, so the steps run on a virtual environment of
    their own (``pip --python VENV``); its site-packages becomes the image's SITE.
    """
    wheels = sorted((python_cache() / "wheels").glob("*.whl"))
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    steps = Steps([], [])
    before = snapshot(site, SITE + "/")
    for i, wheel in enumerate(wheels):
        run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)])
        after = snapshot(site, SITE + "/")
        steps.layers.append((layer_between(before, after), f"RUN pip install {wheel.name}"))
        steps.installed_in[canonical_name(wheel.name.split("-", 1)[0])] = i
        before = after
    run([*pip, "uninstall", "-q", "-y", REMOVED_WHEEL])
    after = snapshot(site, SITE + "/")
    steps.layers.append((layer_between(before, after), f"RUN pip uninstall -y {REMOVED_WHEEL}"))
    listing = json.loads(run([sys.executable, "-m", "pip", "list", "--path", str(site), "--format", "json"]))
    steps.truth = [TruthRow("python", d["name"], d["version"], None) for d in listing]
    return steps
