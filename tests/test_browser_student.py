"""Issue 16 in a real JupyterLab + chromium: the Explorer as a student meets it.

Covers the browser acceptance items: resolve during a fetch, the Files filter reset, the single
error display, and a 1024x768 window with Lab's file browser open in which the layers table's
last column can be scrolled into view. Screenshots go to tests/artifacts/student-*.png (the
before/after pictures in docs/screenshots/ were taken with this file).
"""

from __future__ import annotations

import time

import pytest
from helpers.browser.bigimage import ThrottledProxy
from helpers.browser.lab import ARTIFACTS
from test_browser_explorer import _open_explorer, _settle, _status, _wait_text

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration


def _submit(page, reference: str) -> None:
    """Type a reference and press Enter (the field sends its value once; see test_browser_explorer)."""
    field = page.locator(".rx-reference input")
    field.fill(reference)
    field.press("Enter")


def _shot(page, name: str, *, window: bool = False):
    """A small picture of the Explorer alone, or of the whole window as the student sees it."""
    path = ARTIFACTS / f"student-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if window:
        page.screenshot(path=str(path))
    else:
        page.locator(".rx-explorer").first.screenshot(path=str(path))
    return path


def _layer_prefix(images, name: str, i: int = 0) -> str:
    return images[name].extra["layers"][i].digest.split(":")[1][:12]


def test_an_error_is_shown_once(lab, lab_page, open_registry):
    page = _open_explorer(lab, lab_page, "student-error.ipynb")
    _submit(page, f"{open_registry.host}/test/single:nope")
    _wait_text(page, ".rx-explorer .rx-error", "Not found")
    _settle(page)
    _shot(page, "error-display")
    error = page.locator(".rx-explorer .rx-error").inner_text()
    status = _status(page)
    assert "Not found" in error
    assert "Not found" not in status, f"the error is repeated in the status line: {status!r}"
    everything = page.locator(".rx-explorer").inner_text()
    assert everything.count("does not exist on") == 1, everything


def test_narrow_window_scrolls_wide_tables(lab, lab_page, open_registry, images):
    page = lab_page.page
    page.set_viewport_size({"width": 1024, "height": 768})
    page = _open_explorer(lab, lab_page, "student-narrow.ipynb")
    # Lab's file browser open on the left, as a student has it.
    if not page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.wait_for_selector(".jp-FileBrowser", state="visible")
    _submit(page, f"{open_registry.host}/test/single:v1")
    _wait_text(page, ".rx-layers-table", _layer_prefix(images, "single"))
    _settle(page)
    page.locator(".rx-layers-table").scroll_into_view_if_needed()
    geometry = page.evaluate(
        """() => {
             const pane = document.querySelector('.rx-explorer .rx-layers-table');
             const ths = pane.querySelectorAll('th');
             const last = ths[ths.length - 1];
             const before = {scrollWidth: pane.scrollWidth, clientWidth: pane.clientWidth};
             pane.scrollLeft = pane.scrollWidth;  // what a student's scroll gesture does
             const r = last.getBoundingClientRect(), p = pane.getBoundingClientRect();
             const out = document.querySelector('.jp-NotebookPanel').getBoundingClientRect();
             return {...before, lastText: last.innerText, lastLeft: r.left, lastRight: r.right,
                     paneLeft: p.left, paneRight: p.right, notebookRight: out.right, width: window.innerWidth};
           }""")
    page.wait_for_timeout(200)
    _shot(page, "narrow-layout", window=True)  # scrolled to the last column
    print(f"\n[browser] narrow geometry: {geometry}")
    assert geometry["lastText"].strip() == "created by"
    assert geometry["scrollWidth"] > geometry["clientWidth"], f"the table fits without scrolling: {geometry}"
    # After scrolling, the last column is inside the pane, the notebook and the window.
    assert geometry["paneLeft"] - 1 <= geometry["lastLeft"] and geometry["lastRight"] <= geometry["paneRight"] + 1
    assert geometry["lastRight"] <= min(geometry["notebookRight"], geometry["width"]) + 1
    # The descriptor card folds away, bringing the tabs up.
    tabs_top = page.locator(".rx-tabs").bounding_box()["y"]
    page.locator('.rx-descriptor-card [class*="Collapse-header"]').first.click()
    page.wait_for_function("() => !document.querySelector('.rx-explorer .rx-descriptor').offsetParent")
    assert page.locator(".rx-tabs").bounding_box()["y"] < tabs_top


def test_resolve_during_a_fetch_is_blocked_and_said(lab, lab_page, open_registry, images, tmp_path):
    big = images["single"].extra["big_layer"]
    with ThrottledProxy(open_registry.url, bytes_per_second=big.size / 8) as proxy:  # ~8 s for the layer
        page = _open_explorer(lab, lab_page, "student-fetch.ipynb")
        _submit(page, f"{proxy.host}/test/single:v1")
        _wait_text(page, ".rx-layers-table", big.digest.split(":")[1][:12])
        _settle(page)
        page.evaluate(
            """([digest]) => { const s = document.querySelector('.rx-layer-select select');
                               [...s.options].forEach(o => { o.selected = o.textContent.includes(digest); });
                               s.dispatchEvent(new Event('input', {bubbles: true}));
                               s.dispatchEvent(new Event('change', {bubbles: true})); }""",
            [big.digest.split(":")[1][:12]])
        page.locator(".rx-dest input").fill(str(tmp_path / "out"))
        time.sleep(0.5)
        page.locator(".rx-fetch").click()
        _wait_text(page, ".rx-explorer .rx-status", "Fetching 1 blob")
        # Mid-fetch: resolve another image.
        _submit(page, f"{proxy.host}/test/multi:v1")
        _wait_text(page, ".rx-explorer .rx-error", "a fetch from")
        assert "Cancel" in page.locator(".rx-explorer .rx-error").inner_text()
        layers = page.locator(".rx-layers-table").inner_text()
        assert big.digest.split(":")[1][:12] in layers, "the old image stays on screen while its fetch runs"
        _shot(page, "resolve-during-fetch")
        _wait_text(page, ".rx-explorer .rx-status", "Fetched and verified 1 blob", timeout=60)
        assert (tmp_path / "out" / big.digest.replace(":", "-", 1)).is_file()
        # Now it resolves.
        _submit(page, f"{proxy.host}/test/multi:v1")
        _wait_text(page, ".rx-explorer .rx-status", "test/multi:v1 is ")


def test_files_filter_resets_for_a_new_image(lab, lab_page, open_registry):
    page = _open_explorer(lab, lab_page, "student-filter.ipynb")
    _submit(page, f"{open_registry.host}/test/single:v1")
    _wait_text(page, ".rx-explorer .rx-status", "test/single:v1 is ")
    _settle(page)
    page.locator(".rx-tab-buttons button", has_text="Files").click()
    page.wait_for_function("() => document.querySelectorAll('.rx-files select option').length > 0", timeout=30_000)
    page.locator(".rx-files-filter input").fill("no-such-path-anywhere")
    page.wait_for_function("() => document.querySelectorAll('.rx-files select option').length === 0")
    _wait_text(page, ".rx-explorer", "filtered: 0 of")
    _submit(page, f"{open_registry.host}/test/multi:v1")
    _wait_text(page, ".rx-explorer .rx-status", "test/multi:v1 is ")
    _settle(page)
    page.wait_for_function("() => document.querySelector('.rx-files-filter input').value === ''", timeout=10_000)
    page.wait_for_function("() => document.querySelectorAll('.rx-files select option').length > 0", timeout=30_000)
    assert "filtered:" not in page.locator(".rx-explorer").inner_text()


def test_unrun_notebook_shows_the_explorer_fallback(lab, lab_page):
    """`make demo` opens notebook 01 with its saved outputs: the Explorer cell must read well unrun."""
    import shutil
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "notebooks" / "01-quickstart.ipynb"
    shutil.copy(src, lab.root_dir / "unrun-01.ipynb")
    lab_page.open_notebook("unrun-01.ipynb")
    page = lab_page.page
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-OutputArea-output')]
                   .some(o => o.innerText.includes('registry-explorer Explorer'))""", timeout=30_000)
    text = page.locator(".jp-Notebook").inner_text()
    assert "Explorer(children=" not in text
    assert "demo/multiarch:1.0 is an OCI image index" in text
    _shot(page, "unrun-notebook", window=True)
