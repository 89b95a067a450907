"""Mutation testing for registry-explorer: break the library on purpose and check the tests notice.

Each mutation in scripts/mutations.toml names a file, an exact `old` text, the `new` text that breaks
it, and the pytest node ids that must then fail. This script copies the checkout to a temporary
directory (the real checkout is never touched), applies ONE mutation at a time to the copy, runs the
named tests there with the copy first on sys.path, and reports each mutation as caught or survived.

A guard plugin makes every pytest run check that `registry_explorer` was imported from the copy, so a
mutation can never look "survived" (or "caught") because the wrong package was tested.

Exit status: 0 when every mutation is caught; 1 when one survived, its `old` text is not found exactly
once (stale: the code moved, re-point it), or its test run errored. Not part of `make test`.

    python scripts/mutate.py                 # all of them (make mutate)
    python scripts/mutate.py --list          # ids and the tests that should catch each
    python scripts/mutate.py --only ID ...   # a few, e.g. while writing a test
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS = Path(__file__).resolve().parent / "mutations.toml"
# Not copied: VCS data, environments, caches and build output (the copy must hold no stale bytecode).
IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "__pycache__", ".pytest_cache", ".hypothesis",
                                ".ruff_cache", "*.pyc", "*.egg-info", ".ipynb_checkpoints")
GUARD = '''
import os

import pytest


def pytest_sessionstart(session):
    """Refuse to run unless registry_explorer comes from the mutated copy."""
    import registry_explorer

    root = os.environ["RX_MUTATE_ROOT"]
    where = os.path.realpath(registry_explorer.__file__)
    if not where.startswith(root + os.sep):
        raise pytest.UsageError(f"registry_explorer was imported from {where}, not from the copy in {root}")
'''


@dataclass
class Mutation:
    """One deliberate defect and the tests that must catch it."""

    id: str
    file: str
    old: str
    new: str
    tests: list[str]
    why: str = ""


@dataclass
class Outcome:
    """What happened to one mutation."""

    mutation: Mutation
    status: str  # caught | survived | stale | error
    seconds: float = 0.0
    detail: str = ""


def load(path: Path = MUTATIONS) -> list[Mutation]:
    """The mutation list, with duplicate ids refused."""
    entries = tomllib.loads(path.read_text())["mutation"]
    out = [Mutation(**e) for e in entries]
    ids = [m.id for m in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SystemExit(f"duplicate mutation ids in {path}: {', '.join(dupes)}")
    return out


def stale_reason(m: Mutation, root: Path) -> str | None:
    """Why the mutation cannot be applied to `root` (None when its old text occurs exactly once)."""
    target = root / m.file
    if not target.is_file():
        return f"{m.file} does not exist"
    n = target.read_text().count(m.old)
    if n != 1:
        return f"old text found {n} times in {m.file} (expected exactly once)"
    if m.old == m.new:
        return "old and new text are the same"
    return None


def make_copy(workdir: Path) -> Path:
    """A copy of the checkout to mutate, plus the guard plugin's directory."""
    copy = workdir / "checkout"
    shutil.copytree(ROOT, copy, ignore=IGNORE, symlinks=True)
    guard = workdir / "guard"
    guard.mkdir()
    (guard / "rx_mutate_guard.py").write_text(GUARD)
    return copy


def run_tests(copy: Path, guard: Path, tests: list[str], timeout: float, examples: str) -> tuple[int, str]:
    """Run the tests in the copy: (pytest's exit code, the tail of its output)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTHONPATH")}
    env.update(
        RX_MUTATE_ROOT=str(copy.resolve()), PYTHONPATH=str(guard), PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", RX_HYPOTHESIS_EXAMPLES=examples,
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "rx_mutate_guard",
           "--no-header", "-o", "console_output_style=classic", *tests]
    try:
        run = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    lines = (run.stdout + run.stderr).strip().splitlines()
    return run.returncode, "\n".join(lines[-6:])


def mutate_one(m: Mutation, copy: Path, guard: Path, timeout: float, examples: str) -> Outcome:
    """Apply `m` to the copy, run its tests, restore the file."""
    reason = stale_reason(m, copy)
    if reason:
        return Outcome(m, "stale", detail=reason)
    target = copy / m.file
    original = target.read_text()
    target.write_text(original.replace(m.old, m.new, 1))
    t0 = time.monotonic()
    try:
        rc, tail = run_tests(copy, guard, m.tests, timeout, examples)
    finally:
        target.write_text(original)
    seconds = time.monotonic() - t0
    # pytest: 0 all passed (the mutant lived), 1 some test failed (caught); anything else is an error
    # (collection error, usage error such as the guard refusing, no tests collected, timeout).
    status = {0: "survived", 1: "caught"}.get(rc, "error")
    return Outcome(m, status, seconds, "" if status == "caught" else f"pytest exit {rc}\n{tail}")


def baseline(copy: Path, guard: Path, tests: list[str], timeout: float, examples: str) -> None:
    """Every named test must pass on the unmutated copy, or a 'caught' would mean nothing."""
    rc, tail = run_tests(copy, guard, sorted(set(tests)), timeout, examples)
    if rc != 0:
        raise SystemExit(f"baseline: the named tests do not pass on the unmutated copy (pytest exit {rc}):\n{tail}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutation ids")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per test run (default 120)")
    ap.add_argument("--examples", default="100", help="hypothesis examples per property (default 100)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of all named tests")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    args = ap.parse_args(argv)

    mutations = load()
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutations})
        if unknown:
            ap.error(f"unknown mutation ids: {', '.join(unknown)}")
        mutations = [m for m in mutations if m.id in args.only]
    if args.list:
        for m in mutations:
            print(f"{m.id:42} {m.file}\n{'':42} caught by: {' '.join(m.tests)}")
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="rx-mutate-"))
    try:
        copy = make_copy(workdir)
        guard = workdir / "guard"
        print(f"mutating a copy of {ROOT} in {copy}; {len(mutations)} mutation(s)", flush=True)
        runnable = [m for m in mutations if stale_reason(m, copy) is None]
        if not args.no_baseline and runnable:
            t0 = time.monotonic()
            baseline(copy, guard, [t for m in runnable for t in m.tests], args.timeout * 3, args.examples)
            print(f"baseline: the named tests pass unmutated ({time.monotonic() - t0:.1f} s)", flush=True)
        outcomes = []
        for m in mutations:
            o = mutate_one(m, copy, guard, args.timeout, args.examples)
            outcomes.append(o)
            print(f"{o.status:9} {o.seconds:6.1f} s  {m.id}", flush=True)
            if o.detail:
                print("          " + o.detail.replace("\n", "\n          "), flush=True)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    bad = [o for o in outcomes if o.status != "caught"]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("caught", "survived", "stale", "error")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    for o in bad:
        print(f"  {o.status}: {o.mutation.id} ({o.mutation.file}) - {o.mutation.why}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
