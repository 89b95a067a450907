"""Execute the tutorial notebooks in place and save them with their outputs.

    python notebooks/build.py [--out DIR] [--html DIR] [--timeout S] [NAMES...]

NAMES are notebook file names, with or without `.ipynb`, or their number prefix (`01`); none
means every `notebooks/[0-9]*.ipynb`. Each notebook runs with nbclient in a kernel of the
interpreter running this script (not whatever `python` a kernelspec names), with the notebooks
directory as its working directory, exactly as `pytest --nbval --nbval-current-env` runs them.

What is saved is what nbval compares later, so it is kept quiet: no per-cell execution timing,
no widget state (random model ids), stream outputs coalesced. `--out DIR` writes the executed
notebooks into DIR and leaves the sources alone. With `--html DIR` an HTML copy of each notebook
(nbconvert's HTMLExporter, widget state included so the Explorer can render) is written to DIR.
A notebook whose cell raises is not saved; the script goes on with the others and exits 1 at the end.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # tracebacks from the kernel come coloured
WIDGET_STATE = "widgets"


def find_notebooks(names: list[str], folder: Path = HERE) -> list[Path]:
    """The notebooks NAMES refers to (all numbered ones when empty), in name order."""
    every = sorted(p for p in folder.glob("[0-9]*.ipynb") if not p.name.startswith("."))
    if not names:
        return every
    out: list[Path] = []
    for name in names:
        stem = Path(name).name.removesuffix(".ipynb")
        hits = [p for p in every if p.stem == stem] or [p for p in every if p.stem.startswith(stem + "-")]
        if len(hits) != 1:
            known = ", ".join(p.stem for p in every)
            raise SystemExit(f"build.py: {name!r} names {len(hits)} notebooks; known: {known}")
        if hits[0] not in out:
            out.append(hits[0])
    return out


def quiet(nb) -> None:
    """Remove what changes on every run but teaches nothing: timing and widget state."""
    nb.metadata.pop(WIDGET_STATE, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)


def _kernel_manager(socket_dir: str):
    """A KernelManager whose 'python3' kernel is this interpreter (ipykernel's own kernel.json).

    It talks to the kernel over unix sockets in `socket_dir` rather than unencrypted TCP.
    """
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class CurrentInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return KernelManager(kernel_name="python3", kernel_spec_manager=CurrentInterpreter(), transport="ipc",
                         ip=os.path.join(socket_dir, "kernel"))


class NotebookFailed(Exception):
    """A cell of the notebook raised."""


def first_error(nb) -> str | None:
    """The first error output of an executed notebook, as text (None when every cell succeeded)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
                return f"cell {cell.get('id')}:\n{cell.source}\n\n{trace}"
    return None


def execute(path: Path, timeout: int):
    """Run every cell of the notebook at `path`; returns the executed notebook (raises on a cell error).

    Like nbval, it runs the cells after a failing one too: the last cell stops the sandbox, and
    a kernel being shut down does not run the sandbox's atexit clean-up.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="rx-nbbuild-") as sockets:
        km = _kernel_manager(sockets)
        client = NotebookClient(
            nb, km=km, timeout=timeout, record_timing=False, coalesce_streams=True, allow_errors=True,
            store_widget_state=True, resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            client.execute()
        finally:
            if km.has_kernel:  # nbclient leaves running a kernel it was handed
                km.shutdown_kernel()
    error = first_error(nb)
    if error:
        raise NotebookFailed(error)
    return nb


def write_html(nb, dest: Path) -> None:
    """An HTML copy (widget state included, so a browser with the widget manager can draw it)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python notebooks/build.py", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAMES", help="notebooks to build (default: all)")
    p.add_argument("--out", metavar="DIR", type=Path, help="write executed notebooks into DIR (default: in place)")
    p.add_argument("--html", metavar="DIR", type=Path, help="also write HTML copies into DIR")
    p.add_argument("--timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    args = p.parse_args(argv)

    import nbformat

    # The sandbox serves 127.0.0.1 over plain http; a configured proxy must never see that traffic.
    for var in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])

    failed: list[str] = []
    started = time.perf_counter()
    for path in find_notebooks(args.names):
        t0 = time.perf_counter()
        try:
            nb = execute(path, args.timeout)
        except Exception as exc:  # a cell error, a timeout, a kernel that died or never started
            failed.append(path.name)
            detail = ANSI.sub("", str(exc)) or type(exc).__name__
            print(f"FAILED {path.name} after {time.perf_counter() - t0:.1f}s (not saved):\n{detail}", file=sys.stderr)
            continue
        if args.html:
            write_html(copy.deepcopy(nb), args.html / f"{path.stem}.html")
        quiet(nb)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, args.out / path.name if args.out else path)
        print(f"ok     {path.name} {time.perf_counter() - t0:.1f}s", flush=True)
    total = time.perf_counter() - started
    if failed:
        print(f"build.py: {len(failed)} notebook(s) failed: {', '.join(failed)} ({total:.1f}s)", file=sys.stderr)
        return 1
    print(f"build.py: done in {total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
