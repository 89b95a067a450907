"""Issue 26, defect 7: the suite leaves the work tree as it found it (see helpers/worktree_guard.py)."""

from __future__ import annotations

from helpers import worktree_guard


def test_the_suite_left_no_files_in_the_work_tree():
    """Before: `-o sha256-…` replays wrote layer blobs to the repository root, and they got committed."""
    new = worktree_guard.gained()
    assert not new, f"tests wrote into the work tree (use tmp_path): {sorted(new)}"


def test_the_guard_sees_a_new_file(tmp_path):
    (tmp_path / ".git").mkdir()
    # A real git work tree: the guard lists what git would add, not what it ignores.
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    before = worktree_guard.untracked(tmp_path)
    (tmp_path / "sha256-abc").write_bytes(b"x")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "y").write_bytes(b"y")
    assert worktree_guard.untracked(tmp_path) - before == {"sha256-abc"}
