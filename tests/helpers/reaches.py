"""`@pytest.mark.reaches(TARGET, ...)`: under CI, a test that never runs the code its name promises fails.

Fallbacks and error paths are easy to test without ever taking them: a proxy fault that did not
fire, a server that honoured Range after all, a resume that restarted from zero. Each such test
names the code it must reach; under CI (helpers.ci.in_ci) or with RX_REACHES=1 the test's call
phase is traced and the test fails when a target was never entered. Elsewhere the marker only
documents (tracing slows the test).

A TARGET is `module:qualname` (the function must be entered at least once) or
`module:qualname#text` (the one line of that function whose source contains `text` must run;
`#text+N` means N lines below it, for a line whose own text is not unique). The text is looked up
when the test runs, so a target that no longer exists is a usage error, never a silent pass.

Tracing is `sys.settrace` plus `threading.settrace` (threads started during the test, such as a
ThreadPoolExecutor's, are traced too); line events are switched on only inside the target
functions' frames. Code run in another process (a subprocess, a process pool) is not seen: such
tests assert on what the other process left (a trace, a file). Under a debugger or coverage
(another tracer already installed) the check is not made, with a warning.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
import warnings
from types import CodeType

import pytest

from helpers.ci import in_ci

MARKER = "reaches"


def enabled() -> bool:
    """Checked under CI, or when RX_REACHES=1 asks for it locally."""
    return in_ci() or os.environ.get("RX_REACHES", "") == "1"


def resolve(target: str) -> tuple[CodeType, int | None]:
    """(code object, line number or None) of a TARGET; pytest.UsageError when it names nothing."""
    where, _, text = target.partition("#")
    module, _, qualname = where.partition(":")
    if not module or not qualname:
        raise pytest.UsageError(f"reaches({target!r}): write module:qualname[#text]")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = inspect.unwrap(obj.fget if isinstance(obj, property) else obj)
    code = getattr(obj, "__code__", None)
    if code is None:
        raise pytest.UsageError(f"reaches({target!r}): {qualname} is not a Python function")
    if not text:
        return code, None
    offset = 0
    head, plus, tail = text.rpartition("+")
    if plus and tail.isdigit():
        text, offset = head, int(tail)
    lines, first = inspect.getsourcelines(obj)
    hits = [first + i for i, line in enumerate(lines) if text in line]
    if len(hits) != 1:
        raise pytest.UsageError(f"reaches({target!r}): {len(hits)} lines of {qualname} contain {text!r}, not one")
    return code, hits[0] + offset


class Recorder:
    """A settrace function that notes which target functions were entered and which target lines ran."""

    def __init__(self, targets: dict[tuple[CodeType, int | None], str]):
        self.lines: dict[CodeType, set[int]] = {}
        self.functions: set[CodeType] = set()
        for code, line in targets:
            if line is None:
                self.functions.add(code)
            else:
                self.lines.setdefault(code, set()).add(line)
        self.seen: set[tuple[CodeType, int | None]] = set()

    def __call__(self, frame, event, arg):
        if event != "call":
            return None
        code = frame.f_code
        if code in self.functions:
            self.seen.add((code, None))
        wanted = self.lines.get(code)
        if not wanted:
            return None

        def local(frame, event, arg):
            if event == "line" and frame.f_lineno in wanted:
                self.seen.add((code, frame.f_lineno))
            return local

        return local


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(*targets): under CI the test must run each target "
                                       "(module:qualname or module:qualname#line text); see helpers/reaches.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    targets = [t for mark in item.iter_markers(MARKER) for t in mark.args]
    if not targets or not enabled():
        return (yield)
    if sys.gettrace() is not None:
        warnings.warn(f"{item.nodeid}: another tracer is installed (debugger, coverage): reaches() not checked",
                      stacklevel=1)
        return (yield)
    wanted = {resolve(t): t for t in targets}
    recorder = Recorder(wanted)
    threading.settrace(recorder)
    sys.settrace(recorder)
    try:
        result = yield
    finally:
        sys.settrace(None)
        threading.settrace(None)
    missed = [t for key, t in wanted.items() if key not in recorder.seen]
    if missed:
        pytest.fail(f"{item.name} passed without reaching the code it is about: {', '.join(missed)}", pytrace=False)
    return result
