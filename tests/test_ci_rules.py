"""The CI rules of tests/conftest.py: one definition of "in CI", and skips, xfails and xpasses fail there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.ci import in_ci, silent_outcomes

TESTS = Path(__file__).parent


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", " yes "])
def test_ci_values_that_mean_yes(value):
    assert in_ci({"CI": value}) is True


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "ci"])
def test_ci_values_that_mean_no(value):
    assert in_ci({"CI": value}) is False
    assert in_ci({}) is False


def test_silent_outcomes_counts_skip_xfail_and_xpass():
    stats = {"passed": [1, 2], "skipped": [1], "xfailed": [1, 2], "xpassed": [1], "failed": []}
    assert silent_outcomes(stats) == {"skipped": 1, "xfailed": 2, "xpassed": 1}
    assert silent_outcomes({"passed": [1]}) == {}


_CONFTEST = """
from helpers.ci import enforce_in_ci

def pytest_sessionfinish(session, exitstatus):
    enforce_in_ci(session)
"""


@pytest.mark.parametrize("body, outcome", [
    ("import pytest\n\ndef test_x():\n    pytest.skip('no binary')\n", "1 skipped"),
    ("import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_x():\n    assert False\n", "1 xfailed"),
    ("import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_x():\n    assert True\n", "1 xpassed"),
])
@pytest.mark.parametrize("ci, want_rc", [("yes", 1), ("", 0)])
def test_a_silent_outcome_fails_the_run_only_in_ci(tmp_path, body, outcome, ci, want_rc):
    """A real pytest run with the same session hook: green locally, red in CI."""
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_one.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(CI=ci, PYTHONPATH=os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                          "-c", os.devnull, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == want_rc, run.stdout + run.stderr
    assert outcome in run.stdout
    assert ("are failures in CI" in run.stdout) == bool(want_rc)
