"""Run the benchmark suite: `python -m benchmarks [--smoke] [--cases 1,3] [--repeat N] [--out PATH]`.

A full run of every case writes benchmarks/results.json and benchmarks/README.md. `--smoke`
runs every case with tiny sizes to check that the harness works (figures meaningless) and
writes nothing unless --out is given. Exit status: 0 when every case ran (targets missed are
reported, not fatal; `--strict` makes them fatal), 1 when a case failed to run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from pathlib import Path

from . import (
    case_blob,
    case_census,
    case_import,
    case_listing,
    case_parallel,
    case_peek,
    case_roundtrips,
    case_tags,
)
from .common import HERE, CaseResult, Run, loadavg, machine_info

CASES = {
    "1": case_blob,
    "2": case_parallel,
    "3": case_roundtrips,
    "4": case_listing,
    "5": case_tags,
    "6": case_import,
    "7": case_peek,
    "8": case_census,
}
RESULTS = HERE / "results.json"
README = HERE / "README.md"


def _fmt(v) -> str:
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3g}"
    return str(v)


def _spread(row: dict) -> str:
    runs = row.get("runs")
    if not runs or len(runs) < 2:
        return ""
    return f"{_fmt(min(runs))}–{_fmt(max(runs))} (n={len(runs)})"


def print_table(results: list[CaseResult]) -> None:
    for r in results:
        print(f"\n[{r.id}] {r.title}  ({r.seconds:.0f} s)")
        if r.error:
            print(f"    ERROR: {r.error.strip().splitlines()[-1]}")
            continue
        w = max([len(f["name"]) for f in r.figures] + [len(x["name"]) for x in r.ratios] + [10])
        for f in r.figures:
            print(f"    {f['name']:<{w}}  {_fmt(f['value']):>8} {f['unit']:<6} {_spread(f)}  {f.get('detail', '')}".rstrip())
        for x in r.ratios:
            print(f"    {x['name']:<{w}}  {_fmt(x['value']):>8} x")
        for t in r.targets:
            mark = "MET   " if t["met"] else "MISSED"
            print(f"    {mark} {t['name']}: {_fmt(t['value'])} (target {t['target']})")
        for n in r.notes:
            print(f"    note: {n}")


def _md(text) -> str:
    return str(text).replace("|", "\\|")


def markdown(doc: dict) -> str:
    m = doc["machine"]
    lines = [
        "| case | measurement | median | unit | spread (min–max, runs) | detail |",
        "|---|---|---:|---|---|---|",
    ]
    for r in doc["cases"]:
        if r.get("error"):
            lines.append(f"| {r['id']} | **error**: {_md(r['error'].strip().splitlines()[-1])} | | | | |")
            continue
        for f in r["figures"]:
            lines.append(f"| {r['id']} | {_md(f['name'])} | {_fmt(f['value'])} | {f['unit']} | {_spread(f)} | "
                         f"{_md(f.get('detail', ''))} |")
        for x in r["ratios"]:
            lines.append(f"| {r['id']} | {_md(x['name'])} | {_fmt(x['value'])} | × | | |")
    lines += ["", "| case | target | value | required | met |", "|---|---|---:|---|---|"]
    for r in doc["cases"]:
        for t in r.get("targets", []):
            lines.append(f"| {r['id']} | {_md(t['name'])} | {_fmt(t['value'])} | {t['target']} | "
                         f"{'yes' if t['met'] else '**no**'} |")
    notes = [f"- case {r['id']}: {n}" for r in doc["cases"] for n in r.get("notes", [])]
    head = (f"Run {doc['date']} ({doc['mode']}, {doc['duration_s']:.0f} s) on {m['cpu_model']}, {m['cores']} cores"
            f"{' with SHA-NI' if m.get('sha_ni') else ''}, Python {m['python']}; load average "
            f"{doc['load_average']['start']} at start, {doc['load_average']['end']} at end; scratch on "
            f"{doc['scratch_dir']}.")
    return head + "\n\n" + "\n".join(lines) + ("\n\nNotes:\n" + "\n".join(notes) if notes else "") + "\n"


def write_readme(doc: dict) -> None:
    template = (HERE / "README.template.md").read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    before, _, rest = template.partition(start)
    _, _, after = rest.partition(end)
    README.write_text(before + start + "\n" + markdown(doc) + end + after)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check the harness, not the figures")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case numbers (default: all)")
    ap.add_argument("--repeat", type=int, default=None, help="rounds per case (default: per case)")
    ap.add_argument("--out", type=Path, default=None, help="write results JSON here")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

    started = time.perf_counter()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_start = loadavg()
    print(f"registry-explorer benchmarks ({'smoke' if args.smoke else 'full'}), cases {','.join(wanted)}; "
          f"load average {load_start}", flush=True)
    run = Run(smoke=args.smoke, repeat=args.repeat)
    results: list[CaseResult] = []
    try:
        for cid in wanted:
            t = time.perf_counter()
            try:
                res = CASES[cid].run(run)
            except Exception:  # noqa: BLE001 - one broken case is reported as a failed row; the others still run
                mod = CASES[cid]
                res = CaseResult(cid, mod.__name__.rsplit(".", 1)[-1], mod.__doc__.splitlines()[0],
                                 error=traceback.format_exc())
                print(res.error, file=sys.stderr)
            res.seconds = round(time.perf_counter() - t, 1)
            results.append(res)
            print(f"  case {cid} done in {res.seconds:.0f} s", flush=True)
    finally:
        run.close()
    duration = time.perf_counter() - started
    doc = {
        "date": date,
        "mode": "smoke" if args.smoke else "full",
        "duration_s": round(duration, 1),
        "load_average": {"start": load_start, "end": loadavg()},
        "scratch_dir": str(run.tmp.parent),
        "machine": machine_info(),
        "cases": [r.as_dict() for r in results],
    }
    targets = [t for r in results for t in r.targets]
    doc["summary"] = {
        "targets": len(targets),
        "met": sum(t["met"] for t in targets),
        "missed": [f"case {r.id}: {t['name']}" for r in results for t in r.targets if not t["met"]],
        "errors": [r.id for r in results if r.error],
    }
    print_table(results)
    print(f"\n{doc['summary']['met']}/{len(targets)} targets met; total {duration:.0f} s; "
          f"load average {doc['load_average']['start']} -> {doc['load_average']['end']} "
          f"on {doc['machine']['cores']} cores")
    out = args.out
    if out is None and not args.smoke and wanted == list(CASES):
        out = RESULTS
        write_readme(doc)
        print(f"wrote {README.relative_to(HERE.parent)}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {out}")
    if doc["summary"]["errors"]:
        return 1
    if args.strict and doc["summary"]["missed"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
