"""Where the time goes, for the targets `make bench` misses: `python -m benchmarks.profiling` (`make bench-profile`).

It samples the workloads of `benchmarks.profiled` with py-spy (every thread, 250 Hz, without
pausing the target) and writes `benchmarks/PROFILE.md`: each workload's CPU per MiB or per page
(getrusage) split by thread and source line in proportion to the samples, next to the registry's
CPU over the same run (from /proc). Cases profiled:
- case 1, the verified 256 MiB download: ours `fetch_blobs`, and requests + hashlib (the Python peer);
- case 5, listing 10,000 tags: our client and the paginating proxy, each in its own process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import linecache
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from .common import HERE, MIB, ROOT, Run, child_env, loadavg, machine_info, proc_cpu, push_file, write_random_file

RATE = 250  # samples per second: enough for 1 % resolution over a few seconds of work
OUT = HERE / "PROFILE.md"
TOP = 6  # source lines shown per thread


def _py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]' (or: make bench-profile)")
    return exe


def _spy_cmd(raw: Path, args: list[str]) -> list[str]:
    return [_py_spy(), "record", "--format", "raw", "--output", str(raw), "--rate", str(RATE), "--threads",
            "--full-filenames", "--nonblocking", "--", sys.executable, "-m", "benchmarks.profiled", *args]


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON result in:\n{text[-2000:]}")


def spy(raw: Path, args: list[str]) -> dict:
    """Run one workload under py-spy; return its JSON result."""
    p = subprocess.run(_spy_cmd(raw, args), capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=900)
    if p.returncode:
        raise RuntimeError(f"{args[0]} under py-spy failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return _last_json(p.stdout)


# --- reading py-spy's raw (collapsed) stacks -------------------------------------------------------


def _thread_id(head: str) -> int | None:
    """The native id in `thread (NATIVE_ID)[: NAME]`, py-spy's first raw frame with --threads."""
    tid = head.removeprefix("thread (").partition(")")[0]
    return int(tid) if tid.isdigit() else None


def _role(frames: list[str]) -> str | None:
    """Which thread a sample belongs to, from its frames, or None for samples outside the measured work.

    (py-spy also reports thread names, but only on some samples and not reliably for short-lived
    threads, so the frames decide.)
    """
    if any(f.startswith("pipelined_copy.<locals>.worker (") for f in frames):
        return "hash+write thread (pipeline worker)"
    text = ";".join(frames)
    if "concurrent/futures/thread.py" in text and "registry_explorer/" in text:
        return "fetch pool thread (reads the socket)"
    if "_measured (" in text:
        return "main thread"
    if "harness/proxy.py" in text and "process_request_thread" in text:
        return "proxy request threads"
    return None


def _where(frame: str) -> str:
    """`func (path:line)` -> `path:line  source text`, with the path shortened."""
    name, _, loc = frame.rpartition(" (")
    loc = loc.rstrip(")")
    path, _, line = loc.rpartition(":")
    src = linecache.getline(path, int(line)).strip() if line.isdigit() else ""
    short = path
    for marker in ("site-packages/", "lib/python3.", str(ROOT) + "/"):
        if marker in path:
            short = path.split(marker, 1)[1]
            if marker.startswith("lib/python3."):
                short = "stdlib " + short.split("/", 1)[1]
            break
    return f"{short}:{line} `{src[:70]}`" if src else f"{short}:{line} ({name})"


def summarise(raw: Path, exclude: Iterable[int] = ()) -> dict[str, dict]:
    """Per thread role: samples, and samples per leaf source line.

    Threads in `exclude` did the workload's warm-up; their samples are dropped.
    """
    exclude = set(exclude)
    roles: dict[str, dict] = defaultdict(lambda: {"samples": 0, "lines": Counter()})
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or len(frames) < 2:  # no Python frame: nothing to attribute
            continue
        tid = _thread_id(frames[0])
        frames, n = frames[1:], int(count)
        role = None if tid in exclude else _role(frames)
        if role is None:
            continue
        roles[role]["samples"] += n
        roles[role]["lines"][_where(frames[-1])] += n
    return roles


def _threads_md(roles: dict[str, dict], cpu_ms: float, unit: str) -> list[str]:
    """Markdown: the process's CPU per `unit` (from getrusage), split by the share of py-spy samples
    of each thread and source line.

    py-spy's running-or-waiting guess is approximate (a thread blocked on a lock is sometimes
    sampled as running), so samples are used as shares of the measured CPU, not as time.
    """
    total = sum(d["samples"] for d in roles.values()) or 1
    out = [f"| thread | ms per {unit} | where (innermost Python frame) | ms per {unit} | share of samples |",
           "|---|---:|---|---:|---:|"]
    for role, d in sorted(roles.items(), key=lambda kv: -kv[1]["samples"]):
        thread_ms = f"{cpu_ms * d['samples'] / total:.2f}"
        for i, (where, n) in enumerate(d["lines"].most_common(TOP)):
            out.append(f"| {role if i == 0 else ''} | {thread_ms if i == 0 else ''} | {where.replace('|', '/')} | "
                       f"{cpu_ms * n / total:.2f} | {100 * n / total:.0f} % |")
    return out


# --- the profiled cases ----------------------------------------------------------------------------


def case_download(run: Run, size: int, rounds: int) -> list[str]:
    reg = run.registry("open")
    work = run.tmp / "profile1"
    work.mkdir()
    src = work / "blob.bin"
    repo = "bench/profile"
    digest = write_random_file(src, size, seed=11)
    push_file(reg.url, repo, src, digest)
    src.unlink()
    dest = work / "dl"
    dest.mkdir()
    md = [f"## Case 1: verified download of a {size // MIB} MiB blob to a file ({rounds} rounds)", ""]
    workloads = {
        "ours `fetch_blobs`": ["fetch-ours", reg.host, repo, digest, str(size), str(dest), str(rounds)],
        "requests `iter_content(1 MiB)` + hashlib": ["fetch-requests", f"{reg.url}/v2/{repo}/blobs/{digest}",
                                                      digest, str(dest), str(rounds)],
    }
    mib = size / MIB * rounds
    for name, args in workloads.items():
        run.log(f"profile: {name}")
        g = proc_cpu(reg.pid)
        r = spy(work / f"{args[0]}.raw", args)
        reg_ms = (proc_cpu(reg.pid) - g) * 1000 / (mib * (rounds + 1) / rounds)  # warm-up round included
        roles = summarise(work / f"{args[0]}.raw", r.get("exclude_threads", ()))
        if not roles:  # the smoke run in CI checks this: an empty table would be a profile of nothing
            raise RuntimeError(f"py-spy recorded no samples of the measured work of {name}")
        ours_ms = r["cpu_seconds"] * 1000 / mib
        md += [f"### {name}", "",
               f"{size * rounds / r['seconds'] / 1e6:.0f} MB/s while sampled; CPU per MiB: this process "
               f"{ours_ms:.2f} ms, the registry {reg_ms:.2f} ms; together {ours_ms + reg_ms:.2f} ms of the "
               f"{os.cpu_count()} cores' time, a ceiling of {os.cpu_count() / (ours_ms + reg_ms) * 1000 * MIB / 1e6:.0f} "
               "MB/s for any client doing this work on this machine.", ""]
        md += _threads_md(roles, ours_ms, "MiB") + [""]
    return md


def case_tags(run: Run, n_tags: int, page: int, rounds: int) -> list[str]:
    from .case_tags import REPO, _seed

    reg = run.registry("open")
    run.log(f"profile: seeding {n_tags} tags")
    _seed(reg, REPO, n_tags)
    work = run.tmp / "profile5"
    work.mkdir()
    proxy_raw = work / "proxy.raw"
    proxy = subprocess.Popen(_spy_cmd(proxy_raw, ["proxy", reg.url, str(page)]), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)
    try:
        host = None
        deadline = time.monotonic() + 60
        while host is None and time.monotonic() < deadline:
            line = proxy.stdout.readline()
            if not line:
                raise RuntimeError(f"the profiled proxy exited:\n{proxy.stderr.read()[-3000:]}")
            if line.startswith("{"):
                host = json.loads(line)["host"]
        run.log("profile: ours Client.tags through the profiled proxy")
        g = proc_cpu(reg.pid)
        r = spy(work / "tags.raw", ["tags-ours", host, REPO, str(rounds)])
        reg_s = proc_cpu(reg.pid) - g
    finally:
        proxy_out, _ = proxy.communicate(input="", timeout=60)  # closing its stdin stops the proxy
    proxy_cpu = _last_json(proxy_out)["cpu_seconds"]
    per_listing = -(-n_tags // page)
    pages = per_listing * (rounds + 1)  # the registry and the proxy also served the warm-up listing
    client_ms = r["cpu_seconds"] * 1000 / (per_listing * rounds)
    proxy_ms, reg_ms = proxy_cpu * 1000 / pages, reg_s * 1000 / pages
    md = [f"## Case 5: listing {n_tags} tags, {page} per page, through the paginating proxy ({rounds} rounds)", "",
          f"{r['seconds'] / rounds * 1000:.0f} ms per listing of {r['tags']} tags ({per_listing} pages) while "
          f"sampled, {r['seconds'] / (per_listing * rounds) * 1000:.1f} ms per page. CPU per page: our client "
          f"{client_ms:.1f} ms, the proxy {proxy_ms:.1f} ms, the registry {reg_ms:.1f} ms (it reads its whole "
          f"tag list for every page). The client's share is {100 * client_ms / (client_ms + proxy_ms + reg_ms):.0f} % "
          "of the CPU a page costs, so no client can list much faster against this server.", "",
          "### Our client (`Client.tags`)", ""]
    md += _threads_md(summarise(work / "tags.raw"), client_ms, "page") + [""]
    md += ["### The paginating proxy (its request threads, over the same run)", ""]
    md += _threads_md(summarise(proxy_raw), proxy_ms, "page") + [""]
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.profiling", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; writes nothing unless --out is given")
    ap.add_argument("--out", type=Path, default=None, help=f"write the Markdown here (default: {OUT.name})")
    args = ap.parse_args(argv)
    _py_spy()
    size, rounds, n_tags, page = (32 * MIB, 2, 100, 10) if args.smoke else (256 * MIB, 3, 10_000, 1000)
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    load = loadavg()
    run = Run(smoke=args.smoke)
    t = time.perf_counter()
    try:
        md = case_download(run, size, rounds) + case_tags(run, n_tags, page, 10 if not args.smoke else 2)
    finally:
        run.close()
    m = machine_info()
    head = ["# Where the time goes", "",
            f"Written by `make bench-profile` (`python -m benchmarks.profiling`) on {date}, in "
            f"{time.perf_counter() - t:.0f} s, on {m['cpu_model']}, {m['cores']} cores; load average {load} at start. "
            "py-spy samples every thread at 250 Hz without pausing the process. Each table splits the "
            "process's measured CPU time (getrusage) by the share of samples on each thread and source line; "
            "the registry's CPU is read from /proc. Sampling slows the profiled process, so throughputs here "
            "run below `make bench`'s; the split is what matters.", ""]
    text = "\n".join(head + md) + "\n"
    print(text)
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
