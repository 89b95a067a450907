"""What the package-database fixtures share: the tree type, the truth rows, the cache and the runner.

A fixture is an image-layer file tree (`FixtureTree.files`: image path -> bytes, paths relative to the
root as in a layer tar) plus the truth: what the package manager itself lists (`TruthRow`s), asked of
the very files in the tree. Slow fixtures are built once and kept between sessions under
``$TMPDIR/rx-test-pkgdbs-<uid>/<name>-<key>/``, keyed by everything that shapes them; a directory
appears there only when complete (built beside it, then renamed), so two test runs at once are safe.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

# Every tar member gets this mtime, owner and mode, so a tree's tar bytes (and digest) repeat.
TAR_MTIME = 1_700_000_000


class ToolMissing(RuntimeError):
    """A program a fixture needs (mmdebstrap, rpmbuild, npm, ...) is not installed, or cannot run here."""


class TruthRow(NamedTuple):
    """One package as the package manager lists it; architecture None where it has none."""

    ecosystem: str
    name: str
    version: str
    architecture: str | None


@dataclass
class FixtureTree:
    """Files of an image layer and the package manager's own listing of them.

    `databases` are the paths a parser should read (the rest is context, e.g. dpkg's info/*.list).
    `sources` and `licenses` map a truth row to what the tool says of it, where it says.
    """

    files: dict[str, bytes]
    truth: list[TruthRow]
    databases: list[str]
    sources: dict[TruthRow, str | None] = field(default_factory=dict)
    licenses: dict[TruthRow, str | None] = field(default_factory=dict)
    notes: str = ""

    def write(self, root: str | os.PathLike) -> Path:
        """The tree as files under `root` (created); returns it."""
        root = Path(root)
        for path, data in self.files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root

    def tar_bytes(self) -> bytes:
        """The tree as an uncompressed layer tar: sorted, with parent directories, fixed mtime and owner."""
        out = io.BytesIO()
        dirs: set[str] = set()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.files):
                parts = path.split("/")
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        info = tarfile.TarInfo(d + "/")
                        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, TAR_MTIME
                        tar.addfile(info)
                info = tarfile.TarInfo(path)
                info.size, info.mode, info.mtime = len(self.files[path]), 0o644, TAR_MTIME
                tar.addfile(info, io.BytesIO(self.files[path]))
        return out.getvalue()

    def database_files(self) -> dict[str, bytes]:
        return {p: self.files[p] for p in self.databases}


def cache_root() -> Path:
    """The between-sessions cache of built fixtures (RX_PKGDBS_DIR overrides it)."""
    default = Path(tempfile.gettempdir()) / f"rx-test-pkgdbs-{os.getuid()}"
    return Path(os.environ.get("RX_PKGDBS_DIR", default))


def cached(name: str, params: dict, build: Callable[[Path], None]) -> Path:
    """The directory `build(dir)` fills for these params: built once, then reused between sessions."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    final = cache_root() / f"{name}-{key}"
    if (final / ".complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        build(work)
        (work / "params.json").write_text(json.dumps(params, sort_keys=True, indent=1))
        (work / ".complete").write_text("")
        try:
            os.rename(work, final)
        except OSError:
            if not (final / ".complete").exists():  # lost a race to a finished build: use that one
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def need(*programs: str) -> None:
    """ToolMissing naming the first of `programs` that is not on PATH."""
    for program in programs:
        if shutil.which(program) is None:
            raise ToolMissing(f"{program} is not installed (scripts/system-deps.sh installs it)")


def run(cmd: list[str], *, cwd: str | os.PathLike | None = None, env: dict | None = None, timeout: float = 600) -> str:
    """Run a tool with a C locale; its stdout, or RuntimeError with its stderr when it fails."""
    full_env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def read_tree(root: Path, under: str = "", *, keep: Callable[[str], bool] = lambda p: True) -> dict[str, bytes]:
    """{path relative to root: bytes} for the regular files below root/under that `keep` accepts."""
    files: dict[str, bytes] = {}
    base = root / under if under else root
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and keep(rel):
            files[rel] = path.read_bytes()
    return files

