"""The one definition of "running in CI", and the rule that nothing may pass silently there."""

from __future__ import annotations

import os
from collections.abc import Mapping

# CI services set CI to "true" (GitHub, GitLab), "1" or "yes"; any case counts.
_TRUTHY = {"1", "true", "yes"}
# Outcomes that are green locally but hide a test that did not prove anything: under CI they fail the run.
SILENT_OUTCOMES = ("skipped", "xfailed", "xpassed")


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the CI variable says so (1, true or yes, case-insensitive)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in _TRUTHY


def silent_outcomes(stats: Mapping[str, list]) -> dict[str, int]:
    """How many tests ended skipped, xfailed or xpassed (pytest's terminal-reporter stats), non-zero only."""
    return {k: len(stats.get(k, [])) for k in SILENT_OUTCOMES if stats.get(k)}


def enforce_in_ci(session) -> None:
    """pytest_sessionfinish body: under CI a skip, xfail or xpass turns a green run red."""
    if not in_ci():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    counts = silent_outcomes(reporter.stats) if reporter else {}
    if counts and session.exitstatus == 0:
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        reporter.write_line(f"CI: {summary}; skips, xfails and xpasses are failures in CI", red=True)
        session.exitstatus = 1
