"""The reaches() marker (tests/helpers/reaches.py): under CI a test that never runs its target fails.

Real pytest runs in a temporary directory, as test_ci_rules.py does for the skip rule: the
marker is only worth something if a test that misses its path turns red.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent

_TARGET = '''
import threading


def fallback(x):
    if x:
        return "fast"
    x = "slow"  # the fallback line
    return x


def in_a_thread(x):
    out = []
    t = threading.Thread(target=lambda: out.append(fallback(x)))
    t.start()
    t.join()
    return out[0]
'''

_TESTS = '''
import pytest
import rx_target


@pytest.mark.reaches("rx_target:fallback#the fallback line")
def test_reaches_the_line():
    assert rx_target.fallback(False) == "slow"


@pytest.mark.reaches("rx_target:fallback#the fallback line")
def test_misses_the_line():
    assert rx_target.fallback(True) == "fast"


@pytest.mark.reaches("rx_target:fallback#the fallback line")
def test_reaches_it_in_a_thread():
    assert rx_target.in_a_thread(False) == "slow"


@pytest.mark.reaches("rx_target:fallback#x = \\"slow\\"+1")
def test_offset_line():
    assert rx_target.fallback(False) == "slow"


@pytest.mark.reaches("rx_target:in_a_thread")
def test_function_never_called():
    assert rx_target.fallback(True) == "fast"


@pytest.mark.reaches("rx_target:fallback#no such text")
def test_stale_target():
    rx_target.fallback(False)
'''


def _run(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["helpers.reaches"]\n')
    (tmp_path / "rx_target.py").write_text(_TARGET)
    (tmp_path / "test_marked.py").write_text(_TESTS)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "RX_REACHES")}
    env.update(CI=ci, PYTHONPATH=os.pathsep.join([str(TESTS), str(tmp_path)]))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), "-c", os.devnull, str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)


def _outcomes(run: subprocess.CompletedProcess) -> dict[str, str]:
    out = {}
    for line in run.stdout.splitlines():
        for word in ("PASSED", "FAILED", "ERROR"):
            if line.startswith(word + " "):
                out[line.split("::", 1)[1].split(" ")[0]] = word
    return out


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_test_that_misses_its_target_fails_in_ci(tmp_path, ci):
    run = _run(tmp_path, ci)
    got = _outcomes(run)
    if ci:
        assert got == {"test_reaches_the_line": "PASSED", "test_misses_the_line": "FAILED",
                       "test_reaches_it_in_a_thread": "PASSED", "test_offset_line": "PASSED",
                       "test_function_never_called": "FAILED", "test_stale_target": "FAILED"}, run.stdout
        assert "passed without reaching the code it is about: rx_target:fallback#the fallback line" in run.stdout
        assert "0 lines of fallback contain 'no such text', not one" in run.stdout + run.stderr
    else:
        assert set(got.values()) == {"PASSED"} and len(got) == 6, run.stdout
