"""The suite must leave the work tree as it found it: a pytest plugin and its last test.

Issue 26, defect 7: three layer blobs were committed at the repository root, written there by a test
that replayed `curl -o sha256-…` lines in the current directory. The plugin lists the untracked
files git does not ignore when the session starts; `test_the_suite_left_no_files_in_the_work_tree`
(moved to the very end of the run) fails if any appeared since. Tests write into `tmp_path`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUARD_TEST = "test_the_suite_left_no_files_in_the_work_tree"
_start: set[str] | None = None


def untracked(root: Path = ROOT) -> set[str] | None:
    """Files git would add (untracked, not ignored), or None outside a git work tree."""
    if not shutil.which("git") or not (root / ".git").exists():
        return None
    run = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
                         capture_output=True, timeout=60)
    if run.returncode != 0:
        return None
    return {p for p in run.stdout.decode(errors="replace").split("\0") if p}


def pytest_sessionstart(session):
    global _start
    _start = untracked()


def pytest_collection_modifyitems(session, config, items):
    """The guard runs last, after every test that could write."""
    guards = [i for i in items if i.name == GUARD_TEST]
    items[:] = [i for i in items if i.name != GUARD_TEST] + guards


def gained() -> set[str]:
    """Files that appeared in the work tree since the session started."""
    now = untracked()
    if _start is None or now is None:
        pytest.skip("not a git work tree (an installed wheel, an sdist)")
    return now - _start
