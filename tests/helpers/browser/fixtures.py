"""pytest fixtures for browser tests. Load them in a test module with::

    pytest_plugins = ["helpers.browser.fixtures"]

* ``lab`` (session): a private JupyterLab server (see :mod:`browser.lab`);
* ``chromium`` (session): Playwright driving ``/usr/bin/chromium``, headless;
* ``lab_page`` (function): a fresh browser context + :class:`~browser.labpage.LabPage`; on a
  failure it saves ``tests/artifacts/<test>-failure.png`` and prints diagnostics;
* ``browser_timings`` (session): a dict written to ``tests/artifacts/browser_timings.json``.

Outside CI a missing chromium / playwright / jupyterlab skips; under ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import re

import pytest

from .lab import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    BrowserToolMissing,
    child_env,
    require_browser_tools,
    start_lab,
)
from .labpage import LabPage

TIMINGS_FILE = ARTIFACTS / "browser_timings.json"


@pytest.fixture(scope="session")
def browser_timings():
    timings: dict = {}
    yield timings
    if timings:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        TIMINGS_FILE.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="session")
def lab(tmp_path_factory, browser_timings):
    try:
        require_browser_tools()
    except BrowserToolMissing as exc:
        pytest.skip(str(exc))
    server = start_lab(tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-run"))
    browser_timings["lab_server_start_s"] = round(server.startup_seconds, 3)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium(lab):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                     env=child_env())
    except BaseException:
        pw.stop()
        raise
    yield browser
    try:
        browser.close()
    finally:
        pw.stop()


@pytest.fixture
def lab_page(request, lab, chromium, browser_timings):
    context = chromium.new_context(viewport={"width": 1600, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    lp = LabPage(page, lab, timings=browser_timings.setdefault(request.node.name, {}))
    failed_before = request.session.testsfailed
    yield lp
    try:
        if request.session.testsfailed > failed_before:  # the call phase of this test failed
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            shot = lp.screenshot(ARTIFACTS / f"{name}-failure.png", full_page=True)
            print(f"\n[browser] failure screenshot: {shot}\n{lp.diagnostics()}")
    finally:
        context.close()
        # Free the kernels this page started (the server itself lives for the session).
        try:
            for k in lab.api("kernels").json():
                lab.api(f"kernels/{k['id']}", method="DELETE")
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass
