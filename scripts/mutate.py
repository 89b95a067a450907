"""Mutation testing for registry-explorer: break the library on purpose and see what an area of the suite catches.

Each mutation in scripts/mutations.toml names a file, an exact `old` text, the `new` text that breaks
it, and the AREA of the suite it is run against (`[areas]` in the same file: folders, test files or
`-m MARKER` expressions), not the one test written to catch it: a run shows what the area catches,
so a mutation that only one forgotten test would notice shows up as a weakness of its area.
`pinned_by` names the test(s) written for it; `--prove` runs the area once more WITHOUT them
(`--deselect`) and expects the mutation to survive there, which shows the test is what catches it.

The checkout is copied to a temporary directory (the real checkout is never touched), one copy per
worker (`--jobs`, default: the cores, at most 2); a worker applies ONE mutation at a time to its
copy, runs the area there with the copy first on sys.path, and restores the file. A guard plugin
makes every pytest run check that `registry_explorer` was imported from the copy, so a mutation can
never look survived (or caught) because the wrong package was tested.

Exit status: 0 when every mutation is caught (and, with --prove, every pinned one survives without
its test); 1 when one survived, is stale (its `old` text is not found exactly once: re-point it), or
its run errored. Not part of `make test`.

    python scripts/mutate.py                       # all of them (make mutate)
    python scripts/mutate.py --list                # ids, areas and pinning tests
    python scripts/mutate.py --area peek hostile   # the mutations of some areas
    python scripts/mutate.py --only ID ...         # a few
    python scripts/mutate.py --only ID --pinned    # against the pinning tests only (while writing a test)
    python scripts/mutate.py --only ID --prove     # caught by the area, survives it without the pinning tests
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
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
    """One deliberate defect, the area of the suite it is run against, and the tests written for it."""

    id: str
    file: str
    old: str
    new: str
    area: str
    why: str = ""
    pinned_by: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What happened to one mutation (and, with --prove, to it without its pinning tests)."""

    mutation: Mutation
    status: str  # caught | survived | stale | error
    seconds: float = 0.0
    detail: str = ""
    without: str = ""  # --prove: survived | caught | error ("" when not proved)


def load(path: Path = MUTATIONS) -> tuple[dict[str, list[str]], list[Mutation]]:
    """(areas, mutations), refusing duplicate ids and areas that are not defined."""
    doc = tomllib.loads(path.read_text())
    areas = {name: list(args) for name, args in doc.get("areas", {}).items()}
    out = [Mutation(**e) for e in doc["mutation"]]
    ids = Counter(m.id for m in out)
    dupes = sorted(i for i, n in ids.items() if n > 1)
    if dupes:
        raise SystemExit(f"duplicate mutation ids in {path}: {', '.join(dupes)}")
    unknown = sorted({m.area for m in out} - set(areas))
    if unknown:
        raise SystemExit(f"mutations name areas that [areas] does not define: {', '.join(unknown)}")
    return areas, out


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


def make_copy(workdir: Path, name: str) -> Path:
    """A copy of the checkout to mutate."""
    copy = workdir / name
    shutil.copytree(ROOT, copy, ignore=IGNORE, symlinks=True)
    return copy


def run_tests(copy: Path, guard: Path, args: list[str], timeout: float, examples: str,
              first_failure: bool = True) -> tuple[int, str]:
    """Run pytest with `args` in the copy: (pytest's exit code, the tail of its output)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTHONPATH")}
    env.update(
        RX_MUTATE_ROOT=str(copy.resolve()), PYTHONPATH=str(guard), PYTHONDONTWRITEBYTECODE="1",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", RX_HYPOTHESIS_EXAMPLES=examples,
        RX_TIME_SCALE=os.environ.get("RX_TIME_SCALE", "4"),  # wall-clock bounds (helpers/hostile.py) catch hangs
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", *(["-x"] if first_failure else []), "-p", "no:cacheprovider",
           "-p", "rx_mutate_guard", "--no-header", "-o", "console_output_style=classic", *args]
    try:
        # setpriv: a killed runner takes its pytest (and the registries pytest started) with it.
        pre = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
        run = subprocess.run(pre + cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    lines = (run.stdout + run.stderr).strip().splitlines()
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]  # -rfE: which tests, by name
    return run.returncode, "\n".join(failed[:5] + lines[-6:])


def _status(rc: int) -> str:
    # pytest: 0 all passed (the mutant lived), 1 some test failed (caught); anything else is an error
    # (collection error, usage error such as the guard refusing, no tests collected, timeout).
    return {0: "survived", 1: "caught"}.get(rc, "error")


class Worker:
    """One copy of the checkout and the mutations run in it, one at a time."""

    def __init__(self, workdir: Path, n: int, guard: Path, opts):
        self.copy = make_copy(workdir, f"checkout-{n}")
        self.guard = guard
        self.opts = opts

    def pytest(self, args: list[str], first_failure: bool = True) -> tuple[int, str]:
        return run_tests(self.copy, self.guard, args, self.opts.timeout, self.opts.examples, first_failure)

    def mutate(self, m: Mutation, area: list[str]) -> Outcome:
        """Apply `m` to this copy, run `area` (and with --prove, the area without `m.pinned_by`), restore."""
        reason = stale_reason(m, self.copy)
        if reason:
            return Outcome(m, "stale", detail=reason)
        target = self.copy / m.file
        original = target.read_text()
        target.write_text(original.replace(m.old, m.new, 1))
        t0 = time.monotonic()
        try:
            rc, tail = self.pytest(m.pinned_by if self.opts.pinned else area)
            out = Outcome(m, _status(rc), detail=f"pytest exit {rc}\n{tail}" if rc != 1 else "")
            if self.opts.prove and m.pinned_by:
                deselect = [a for t in m.pinned_by for a in ("--deselect", t)]
                rc2, tail2 = self.pytest(area + deselect)
                out.without = _status(rc2)
                if out.without != "survived":
                    out.detail += f"\nwithout {' '.join(m.pinned_by)}: pytest exit {rc2}\n{tail2}"
        finally:
            target.write_text(original)
        out.seconds = time.monotonic() - t0
        return out


def _pool(workers: list[Worker], jobs: list, run) -> list:
    """Run `run(worker, job)` for every job, each worker taking the next job when it is free."""
    todo: queue.Queue = queue.Queue()
    for j in jobs:
        todo.put(j)
    results: list = []
    lock = threading.Lock()

    def loop(w: Worker) -> None:
        while True:
            try:
                j = todo.get_nowait()
            except queue.Empty:
                return
            r = run(w, j)
            with lock:
                results.append(r)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def baseline(workers: list[Worker], areas: dict[str, list[str]], used: list[str]) -> None:
    """Every area used must pass on the unmutated copy, or a 'caught' would mean nothing."""
    def run(w: Worker, name: str):
        t0 = time.monotonic()
        rc, tail = w.pytest(areas[name], first_failure=False)
        if rc == 1:  # once more: a test that fails only under load is flaky, and named, not a broken area
            rc, again = w.pytest(areas[name], first_failure=False)
            flaky = [line for line in tail.splitlines() if line.startswith(("FAILED ", "ERROR "))]
            if rc == 0:
                print(f"baseline  area {name}: failed once, then passed; flaky under load: {'; '.join(flaky)}")
            tail = again
        print(f"baseline  {time.monotonic() - t0:6.1f} s  area {name}: {'passes' if rc == 0 else f'pytest exit {rc}'}",
              flush=True)
        return name, rc, tail

    bad = [(n, rc, tail) for n, rc, tail in _pool(workers, used, run) if rc != 0]
    if bad:
        raise SystemExit("baseline: these areas do not pass on the unmutated copy:\n"
                         + "\n".join(f"{n} (pytest exit {rc}):\n{tail}" for n, rc, tail in bad))


def report(outcomes: list[Outcome], prove: bool, seconds: float) -> int:
    """Per-area and total counts; the exit status."""
    print("\nby area:")
    for area in sorted({o.mutation.area for o in outcomes}):
        mine = [o for o in outcomes if o.mutation.area == area]
        print(f"  {area:12} {sum(o.status == 'caught' for o in mine)}/{len(mine)} caught")
    counts = Counter(o.status for o in outcomes)
    print(", ".join(f"{counts.get(s, 0)} {s}" for s in ("caught", "survived", "stale", "error"))
          + f" of {len(outcomes)}; {seconds / 60:.1f} min in all")
    bad = [o for o in outcomes if o.status != "caught"]
    if prove:
        proved = [o for o in outcomes if o.without]
        weak = [o for o in proved if o.without != "survived"]
        print(f"--prove: {len(proved) - len(weak)} of {len(proved)} pinned mutations survive their area "
              "without the tests that pin them")
        for o in weak:
            print(f"  also caught without its tests ({o.without}): {o.mutation.id}")
        bad += weak
    for o in outcomes:
        if o.status != "caught":
            print(f"  {o.status}: {o.mutation.id} ({o.mutation.file}, area {o.mutation.area}) - {o.mutation.why}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="ID", help="run only these mutation ids")
    ap.add_argument("--area", nargs="+", metavar="NAME", help="run only the mutations of these areas")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="copies run in parallel")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run (default 900)")
    ap.add_argument("--examples", default="100", help="hypothesis examples per property (default 100)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of each area")
    ap.add_argument("--pinned", action="store_true", help="run each mutation against its pinning tests only")
    ap.add_argument("--prove", action="store_true",
                    help="also run each pinned mutation's area without its pinning tests: it must survive there")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies (their path is printed)")
    ap.add_argument("--mutations", type=Path, default=MUTATIONS, help="the mutation list (default scripts/mutations.toml)")
    args = ap.parse_args(argv)

    areas, mutations = load(args.mutations)
    if args.only:
        unknown = sorted(set(args.only) - {m.id for m in mutations})
        if unknown:
            ap.error(f"unknown mutation ids: {', '.join(unknown)}")
        mutations = [m for m in mutations if m.id in args.only]
    if args.area:
        unknown = sorted(set(args.area) - set(areas))
        if unknown:
            ap.error(f"unknown areas: {', '.join(unknown)}")
        mutations = [m for m in mutations if m.area in args.area]
    if args.pinned:
        mutations = [m for m in mutations if m.pinned_by]
    if args.list:
        for name, a in areas.items():
            print(f"area {name:12} {' '.join(a)}")
        for m in mutations:
            print(f"{m.id:44} area {m.area:10} {m.file}" + (f"\n{'':44} pinned by {' '.join(m.pinned_by)}"
                                                          if m.pinned_by else ""))
        return 0

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="rx-mutate-"))
    try:
        guard = workdir / "guard"
        guard.mkdir()
        (guard / "rx_mutate_guard.py").write_text(GUARD)
        jobs = max(1, min(args.jobs, len(mutations)))
        workers = [Worker(workdir, n, guard, args) for n in range(jobs)]
        print(f"mutating {jobs} cop{'ies' if jobs > 1 else 'y'} of {ROOT} in {workdir}; "
              f"{len(mutations)} mutation(s)", flush=True)
        runnable = [m for m in mutations if stale_reason(m, workers[0].copy) is None]
        used = sorted({m.area for m in runnable}) if not args.pinned else []
        if not args.no_baseline and used:
            baseline(workers, areas, used)

        def run(w: Worker, m: Mutation) -> Outcome:
            o = w.mutate(m, areas[m.area])
            proof = f" (without its tests: {o.without})" if o.without else ""
            print(f"{o.status:9} {o.seconds:6.1f} s  {m.id}  [{m.area}]{proof}", flush=True)
            if o.detail and (o.status != "caught" or (o.without and o.without != "survived")):
                print("          " + o.detail.strip().replace("\n", "\n          "), flush=True)
            return o

        outcomes = _pool(workers, mutations, run)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    order = {m.id: i for i, m in enumerate(mutations)}
    outcomes.sort(key=lambda o: order[o.mutation.id])
    return report(outcomes, args.prove, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
