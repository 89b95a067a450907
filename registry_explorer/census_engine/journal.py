"""Where a census's files go under `out=`, and the resume journal that says which of them are done.

Names come from the registry, and the directory from whoever can write to it, so (issue 21):
- A repository's directory is a short key, never its name: a readable prefix and a hash of the
  exact name (`plain_app-3f2a...`), at most ~100 bytes whatever the name (179 characters, 90
  components, `..`, control characters). The exact name is a column in every file.
- A journal line is believed only if it validates: the right types, and files that are exactly
  the ones this census would have written for that line (`<table>/<key of its repository>/
  part-<its seq>.parquet`), regular files reached without a symbolic link. Anything else (`{}`,
  `[]`, `"tags": null`, `../`, an absolute path, a link out of `out=`) is ignored like a line
  torn by a kill: its tags are redone.
- `out=` itself may be a link (the user's choice), but nothing inside it is followed: a link in
  place of `_census/`, the journal, the settings file, a table or a repository directory is refused
  with a ValueError saying so; unknown part files and links inside table directories are removed
  (the links themselves, never what they point to).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ..core import jsontext
from ..frames.census_tables import CENSUS_COLUMNS

__all__ = ["JOURNAL", "META", "Journal", "partition_dir", "part_path"]

JOURNAL = Path("_census") / "journal.jsonl"
META = Path("_census") / "meta.json"
# Bumped when the files' layout changes: 2 = key directories, the repository in a column (issue 21).
FORMAT = 2
# A readable prefix of the name, then a hash that makes the key unique: 64 + 1 + 20 bytes.
READABLE = 64
HASH_HEX = 20
# Sequence numbers of chunks: six digits in file names, far more chunks than a census writes.
MAX_SEQ = 10**9
_OUR_FILE = re.compile(r"\.?part-\d{6,}\.parquet")


def partition_dir(repository: str | None) -> str:
    """The directory of one repository's files: a readable prefix of the name and a hash of all of it."""
    name = "" if repository is None else repository
    readable = re.sub(r"[^a-z0-9._-]+", "_", name.lower())[:READABLE].strip("._-")
    # Parquet readers skip names starting with '.' or '_'; the run's own rows (no repository) say so.
    readable = readable or "registry"
    exact = ("\0" if repository is None else "r:" + name).encode("utf-8", "surrogatepass")
    return f"{readable}-{hashlib.sha256(exact).hexdigest()[:HASH_HEX]}"


def part_path(table: str, repository: str | None, seq: int) -> str:
    """The one file (relative to out=) a chunk `seq` of `repository` writes for `table`."""
    return f"{table}/{partition_dir(repository)}/part-{seq:06d}.parquet"


def _refuse_link(path: Path, root: Path) -> None:
    if path.is_symlink():
        raise ValueError(f"{path} is a symbolic link; a census never writes or reads through links inside "
                         f"out={root}: remove it, or use another out=")


class Journal:
    """The validated journal of one `out=` directory: what is done, and the files that hold it."""

    def __init__(self, root: Path, meta: dict[str, Any]):
        self.root = Path(root)
        self.real = Path(os.path.realpath(self.root))
        self.done: set[tuple[str | None, str]] = set()
        self.listed: set[str | None] = set()
        self.files: dict[str, list[Path]] = {t: [] for t in CENSUS_COLUMNS}
        self.seq = 0
        self._seqs: set[int] = set()
        census = self.root / JOURNAL.parent
        _refuse_link(census, self.root)
        census.mkdir(parents=True, exist_ok=True)
        for path in (self.root / JOURNAL, self.root / META, *(self.root / t for t in CENSUS_COLUMNS)):
            _refuse_link(path, self.root)
        self._settings(dict(meta, format=FORMAT))
        self._load()

    def _settings(self, meta: dict[str, Any]) -> None:
        path = self.root / META
        if not path.exists():
            path.write_text(json.dumps(meta, sort_keys=True))
            return
        try:
            old = jsontext.loads(path.read_bytes())
        except (ValueError, RecursionError):
            old = None
        if not isinstance(old, dict):
            raise ValueError(f"{path} is not a census's settings file (edited or damaged); use another out= "
                             "or delete that directory")
        if old.get("format") != FORMAT:
            raise ValueError(f"out={self.root} holds a census written in another layout (format "
                             f"{old.get('format', 1)!r}, this version writes {FORMAT}); use another out=")
        if old != meta:
            raise ValueError(f"out={self.root} holds a census with other settings ({old}); use another out=")

    def _load(self) -> None:
        path = self.root / JOURNAL
        lines = path.read_bytes().split(b"\n") if path.exists() else []
        kept = [line for line in lines if self._believe(line)]
        if path.exists():
            path.write_bytes(b"".join(x + b"\n" for x in kept))
        self._remove_orphans()

    def _believe(self, line: bytes) -> bool:
        """Take in one journal line if it validates (see the module docstring); False to drop it."""
        try:
            entry = jsontext.loads(line)
        except (ValueError, RecursionError):
            return False  # a line torn by a kill (or edited): its chunk is redone
        if not isinstance(entry, dict):
            return False
        seq, repo, tags = entry.get("seq"), entry.get("repository"), entry.get("tags")
        listed, files = entry.get("listed"), entry.get("files")
        if type(seq) is not int or not 0 < seq < MAX_SEQ or seq in self._seqs:
            return False
        if not (repo is None or isinstance(repo, str)) or not isinstance(listed, bool):
            return False
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return False
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return False
        ours = {part_path(t, repo, seq): t for t in CENSUS_COLUMNS}
        if len(set(files)) != len(files) or not all(f in ours and self._intact(f) for f in files):
            return False
        self._seqs.add(seq)
        self.seq = max(self.seq, seq)
        self.done.update((repo, t) for t in tags)
        if listed:
            self.listed.add(repo)
        for rel in files:
            self.files[ours[rel]].append(self.root / rel)
        return True

    def _intact(self, rel: str) -> bool:
        """A regular file at exactly out=/rel, reached through no symbolic link."""
        path = self.root / rel
        return not path.is_symlink() and path.is_file() and Path(os.path.realpath(path)) == self.real / rel

    def _remove_orphans(self) -> None:
        known = {p for ps in self.files.values() for p in ps}
        for table in CENSUS_COLUMNS:
            top = self.root / table
            for dirpath, dirnames, filenames in os.walk(top) if top.is_dir() else ():
                for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    p = Path(dirpath, name)
                    # Written by a run killed before its journal line, or planted: never followed.
                    if p not in known and (p.is_symlink() or _OUR_FILE.fullmatch(name)):
                        p.unlink()

    def directory(self, table: str, repository: str | None) -> Path:
        """The directory a chunk of `repository` writes `table` into, created; ValueError if a link leads elsewhere."""
        rel = Path(table, partition_dir(repository))
        path = self.root / rel
        _refuse_link(path, self.root)
        path.mkdir(parents=True, exist_ok=True)
        if Path(os.path.realpath(path)) != self.real / rel:
            raise ValueError(f"{path} leads outside out={self.root} through a symbolic link; remove it")
        return path

    def append(self, entry: dict[str, Any]) -> None:
        """Add one chunk's line, synced, and take it in."""
        with open(self.root / JOURNAL, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._seqs.add(entry["seq"])
        self.done.update((entry["repository"], t) for t in entry["tags"])
        if entry["listed"]:
            self.listed.add(entry["repository"])
