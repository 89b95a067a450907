"""Case 6: `import registry_explorer` against `import requests`, each in a fresh interpreter; lazy heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .common import ROOT, CaseResult, Run, child_env, median, rotated

TARGET_RATIO = 1.5
HEAVY = ("pandas", "numpy", "ipywidgets", "IPython", "zstandard", "tarfile", "gzip")

_PROBE = r"""
import sys, time, json
t = time.perf_counter()
c = time.process_time()
import {module}
imported = time.perf_counter() - t
cpu = time.process_time() - c
first = None
if {first_call}:
    t = time.perf_counter()
    c = registry_explorer.Client(docker_config={{}})
    registry_explorer.parse_reference("alpine:3.20")
    first = time.perf_counter() - t
print(json.dumps({{"import_s": imported, "import_cpu_s": cpu, "first_call_s": first, "modules": len(sys.modules),
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _probe(module: str, env: dict) -> dict:
    code = _PROBE.format(module=module, first_call=module == "registry_explorer", heavy=HEAVY)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def run(run: Run) -> CaseResult:
    reps = run.repeats(15, 3)
    res = CaseResult("6", "import", f"Import time in fresh interpreters (median of {reps})", params={"runs": reps})
    mods = ["registry_explorer", "requests"]
    # Both packages imported from bytecode caches, as after any `pip install` (which compiles them).
    # A private cache prefix keeps the repository clean and overrides PYTHONDONTWRITEBYTECODE, which
    # would otherwise make the editable registry_explorer compile from source on every import
    # while requests loads the .pyc files pip wrote.
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(run.tmp / "pycache")
    raw_env = child_env()
    for m in mods:  # bytecode caches written, page cache warm: not timed
        _probe(m, env)
    runs: dict[str, list[dict]] = {m: [] for m in mods}
    run.log(f"case 6: {len(mods)} imports x {reps} rounds, alternating")
    for i in range(reps):
        for m in rotated(mods, i):
            runs[m].append(_probe(m, env))
    ms = {m: [r["import_s"] * 1000 for r in v] for m, v in runs.items()}
    cpu = {m: [r["import_cpu_s"] * 1000 for r in v] for m, v in runs.items()}
    for m in mods:
        res.figure(f"import {m}", median(ms[m]), "ms", runs=ms[m], modules_loaded=runs[m][0]["modules"])
    for m in mods:
        res.figure(f"import {m}, CPU time", median(cpu[m]), "ms", runs=cpu[m])
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        nocache = [_probe("registry_explorer", raw_env)["import_s"] * 1000 for _ in range(min(reps, 5))]
        res.figure("import registry_explorer as this environment runs it (PYTHONDONTWRITEBYTECODE set)",
                   median(nocache), "ms", runs=nocache)
        res.notes.append("PYTHONDONTWRITEBYTECODE is set here: an editable registry_explorer then compiles its "
                         "modules on every import, while requests loads the .pyc files pip wrote; the target "
                         "compares both with bytecode caches, as after a normal install")
    first = [r["first_call_s"] * 1000 for r in runs["registry_explorer"]]
    res.figure("first call: rx.Client() + parse_reference()", median(first), "ms", runs=first)
    ratio = median(ms["registry_explorer"]) / median(ms["requests"])
    res.ratio("import registry_explorer / import requests", ratio)
    res.ratio("same, CPU time", median(cpu["registry_explorer"]) / median(cpu["requests"]))
    # Best-of-N: the least disturbed run of each, far steadier than medians on a busy machine.
    res.ratio(f"same, fastest of {reps} each", min(ms["registry_explorer"]) / min(ms["requests"]))
    res.target(f"import registry_explorer < {TARGET_RATIO}x import requests", ratio, f"< {TARGET_RATIO}",
               ratio < TARGET_RATIO)
    heavy = runs["registry_explorer"][0]["heavy"]
    lazy_bad = [m for m in ("pandas", "ipywidgets") if m in heavy]
    res.figure(f"modules `import registry_explorer` loads among {', '.join(HEAVY)}", len(heavy), "",
               loaded=heavy)
    res.target("pandas and ipywidgets not imported by `import registry_explorer` (sys.modules)",
               ", ".join(lazy_bad) or "neither", "neither", not lazy_bad)
    return res
