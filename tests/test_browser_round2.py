"""Issue 26 in a real JupyterLab + chromium: the student's experience, round 2, one test per defect.

Each test was run against main before the fix (see docs/screenshots/issue-26.md) and failed there for
the reason its docstring gives. Heavy on a 2-core machine: run this file alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from helpers.browser.bigimage import ThrottledProxy
from helpers.browser.lab import ARTIFACTS
from helpers.browser.notebook import write_notebook
from test_browser_explorer import _settle, _status, _wait_text

from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import push_image

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _open(lab, lab_page, name: str, cells: list[str], *, timeout: float = 120):
    """Write a notebook of `cells`, open it, Run All, wait for the Explorer; returns the page."""
    write_notebook(lab.root_dir / name, cells)
    lab_page.open_notebook(name)
    lab_page.run_all()
    page = lab_page.page
    page.wait_for_selector(".rx-explorer", state="visible", timeout=timeout * 1000)
    lab_page.wait_all_executed(timeout=timeout)
    _settle(page)
    return page


def _explorer_cells(client: str = "rx.Client(docker_config={})", extra: str = "") -> list[str]:
    return ["import registry_explorer as rx\n" f"client = {client}\n{extra}",
            "ex = rx.Explorer(client)\ndisplay(ex)"]


def _submit(page, reference: str) -> None:
    field = page.locator(".rx-reference input")
    field.fill(reference)
    field.press("Enter")


def _tab(page, name: str) -> None:
    page.locator(".rx-tab-buttons button", has_text=name).first.click()
    _settle(page)


def _error(page) -> str:
    box = page.locator(".rx-explorer .rx-error")
    return box.inner_text().strip() if box.count() and box.is_visible() else ""


def _text_content(page, selector: str) -> list[str]:
    """textContent of every match (a closed <details> renders no innerText)."""
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")


def _bash(lines: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    script = ["set -euo pipefail"]
    for i, line in enumerate(lines):
        script.append(line if line.startswith(("#", "TOKEN=")) else f"{line} > out-{i}")
    full = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    full.update(NO_PROXY="127.0.0.1,localhost", **(env or {}))
    return subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=full, capture_output=True, timeout=120)


# -- 1: a refused resolve names the image asked for, and its box goes when the fetch ends -------------------


def test_refused_resolve_names_the_image_asked_for_and_goes(lab, lab_page, open_registry, images, tmp_path):
    """Before: 'A fetch of …/test/single:v1 is running; resolving …/test/single:v1 would mix…' (the field
    was put back, then the Resolve click resolved that), with a spinner, and the box stayed after the fetch."""
    big = images["single"].extra["big_layer"]
    with ThrottledProxy(open_registry.url, bytes_per_second=big.size / 8) as proxy:
        page = _open(lab, lab_page, "r2-refused.ipynb", _explorer_cells())
        _submit(page, f"{proxy.host}/test/single:v1")
        _wait_text(page, ".rx-layers-table", big.digest.split(":")[1][:12])
        _settle(page)
        page.evaluate(
            """([digest]) => { const s = document.querySelector('.rx-layer-select select');
                               [...s.options].forEach(o => { o.selected = o.textContent.includes(digest); });
                               s.dispatchEvent(new Event('change', {bubbles: true})); }""",
            [big.digest.split(":")[1][:12]])
        page.locator(".rx-dest input").fill(str(tmp_path / "out"))
        time.sleep(0.5)
        page.locator(".rx-fetch").click()
        _wait_text(page, ".rx-explorer .rx-status", "Fetching 1 blob")
        # What a student does: type another reference and click Resolve (the click blurs the field first).
        page.locator(".rx-reference input").fill(f"{proxy.host}/test/multi:v1")
        page.locator(".rx-resolve").click()
        _wait_text(page, ".rx-explorer .rx-error", "test/multi:v1")
        time.sleep(1)
        error = _error(page)
        assert f"{proxy.host}/test/multi:v1" in error and f"resolving {proxy.host}/test/single" not in error, error
        assert "Not resolving" in error and "test/multi" not in _status(page)
        _wait_text(page, ".rx-explorer .rx-status", "Fetched and verified 1 blob", timeout=90)
        _settle(page)
        assert _error(page) == "", "the refusal is out of date once the fetch ended"


# -- 2: history holds only what loaded ------------------------------------------------------------------------


def test_back_skips_references_that_failed(lab, lab_page, open_registry, images):
    """Before: ◀ re-requested the missing repository, then the missing tag, each time blanking the panes."""
    page = _open(lab, lab_page, "r2-history.ipynb", _explorer_cells())
    host = open_registry.host
    layer = images["single"].extra["layers"][0].digest.split(":")[1][:12]
    _submit(page, f"{host}/test/single:v1")
    _wait_text(page, ".rx-layers-table", layer)
    _settle(page)
    for missing in (f"{host}/test/single:nope", f"{host}/test/nothing-here:v1"):
        _submit(page, missing)
        _wait_text(page, ".rx-explorer .rx-error", "Not found")
        _settle(page)
    page.locator(".rx-back").click()
    _wait_text(page, ".rx-layers-table", layer)
    _settle(page)
    assert _error(page) == "" and page.locator(".rx-reference input").input_value() == f"{host}/test/single:v1"
    assert page.locator(".rx-back").is_disabled() and page.locator(".rx-forward").is_disabled()


# -- 3: Run All leaves the sandbox running (notebooks 01 and 07) -----------------------------------------------


def _copy_notebook(lab, name: str) -> str:
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    (lab.root_dir / name).write_text(json.dumps(nb))
    return name


def _wait_idle_after_run_all(lab_page, timeout: float = 300) -> None:
    """Long notebooks are drawn lazily (cells off screen have no prompt): wait for a steady idle kernel."""
    page = lab_page.page
    deadline = time.monotonic() + timeout
    quiet = 0.0
    while quiet < 3.0:
        busy = "Busy" in page.locator("#jp-main-statusbar").inner_text()
        quiet = 0.0 if busy else quiet + 0.25
        assert time.monotonic() < deadline, "the notebook kept running"
        time.sleep(0.25)


def test_run_all_of_notebook_01_keeps_the_explorer_working(lab, lab_page, tmp_path):
    """Before: the last cell stopped the sandbox; every button then failed with 'connection refused'."""
    lab_page.open_notebook(_copy_notebook(lab, "01-quickstart.ipynb"))
    lab_page.run_all()
    page = lab_page.page
    page.wait_for_selector(".rx-explorer", state="visible", timeout=180_000)
    _wait_idle_after_run_all(lab_page)
    page.locator(".rx-explorer").first.scroll_into_view_if_needed()
    for tab, button, expect in (("Tags", ".rx-load-tags", "showing"), ("Referrers", ".rx-load-referrers", "referrer"),
                                ("Supply chain", ".rx-load-supply", "attached")):
        _tab(page, tab)
        page.locator(button).click()
        _wait_text(page, ".rx-explorer .rx-status", expect, timeout=60)
        _settle(page)
        assert _error(page) == "", f"{tab}: {_error(page)}"
    # The commands of the index card it showed still replay (the card's <details> block).
    lines = [x for x in _text_content(page, ".rx-descriptor details pre")]
    assert any(x.startswith("skopeo inspect --raw --tls-verify=false ") for x in lines), lines
    run = _bash(lines, tmp_path)
    assert run.returncode == 0, (lines, run.stderr.decode())


def test_run_all_of_notebook_07_keeps_its_curl_line_working(lab, lab_page, tmp_path):
    """Before: the last cell stopped the sandbox, and the printed Range curl failed with exit 7."""
    lab_page.open_notebook(_copy_notebook(lab, "07-peek-inside-without-pulling.ipynb"))
    lab_page.run_all()
    _wait_idle_after_run_all(lab_page, timeout=600)
    page = lab_page.page
    outputs = page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.textContent)")
    text = "\n".join(outputs)
    curl = [x.strip() for x in text.splitlines() if x.strip().startswith("curl ") and "Range: bytes=" in x]
    if not curl:  # the notebook is drawn lazily: scroll to the end, where the line is
        page.keyboard.press("Control+End")
        time.sleep(2)
        text = "\n".join(page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.textContent)"))
        curl = [x.strip() for x in text.splitlines() if x.strip().startswith("curl ") and "Range: bytes=" in x]
    assert curl, "notebook 07 printed no ranged curl line"
    run = _bash(curl[:1], tmp_path)
    assert run.returncode == 0, (curl[0], run.stderr.decode())
    assert (tmp_path / "out-0").read_bytes().startswith(b"HTTP 206"), "the status of a Range is shown"


# -- 4: the card's commands run against the sandbox they came from (token auth) ---------------------------------


def test_card_commands_run_against_the_token_sandbox(lab, lab_page, tmp_path):
    """Before: skopeo needed --tls-verify=false, and the card's curl had no token (401)."""
    cells = ["import registry_explorer as rx\nimport registry_explorer.sandbox\n"
             "sb = rx.sandbox.start(auth='token')\nclient = sb.client()\n"
             "print('export USERNAME=' + sb.username + ' PASSWORD=' + sb.password)",
             "ex = rx.Explorer(client, sb.references['multiarch'])\ndisplay(ex)"]
    page = _open(lab, lab_page, "r2-card.ipynb", cells)
    export = lab_page.cell_output_text(0).strip().split()
    env = dict(x.split("=", 1) for x in export[1:])
    lines = _text_content(page, ".rx-descriptor details pre")
    assert lines and lines[0].startswith("# expects $USERNAME $PASSWORD"), lines
    run = _bash(lines, tmp_path, env)
    assert run.returncode == 0, (lines, run.stderr.decode())
    digest = page.locator(".rx-descriptor-card").inner_text()
    outs = {sha256((tmp_path / f"out-{i}").read_bytes()) for i, x in enumerate(lines) if x.startswith(("curl", "skopeo"))}
    assert len(outs) == 1 and next(iter(outs))[7:19] in digest, (outs, digest[:200])


# -- 5: the last fetch's bars go with their image ---------------------------------------------------------------


def test_a_new_image_does_not_show_the_last_fetch_as_its_own(lab, lab_page, open_registry, images, tmp_path):
    """Before: the bars and '1 verified file' stayed under test/multi, naming no image."""
    page = _open(lab, lab_page, "r2-bars.ipynb", _explorer_cells())
    host = open_registry.host
    layer = images["single"].extra["layers"][0].digest
    _submit(page, f"{host}/test/single:v1")
    _wait_text(page, ".rx-layers-table", layer.split(":")[1][:12])
    _settle(page)
    page.evaluate("""([d]) => { const s = document.querySelector('.rx-layer-select select');
                                [...s.options].forEach(o => { o.selected = o.textContent.includes(d); });
                                s.dispatchEvent(new Event('change', {bubbles: true})); }""", [layer[7:19]])
    page.locator(".rx-dest input").fill(str(tmp_path))
    time.sleep(0.5)
    page.locator(".rx-fetch").click()
    _wait_text(page, ".rx-fetched", "verified file")
    assert page.locator(".rx-progress-blob").count() == 1
    _submit(page, f"{host}/test/multi:v1")
    _wait_text(page, ".rx-explorer .rx-status", "test/multi:v1 is ")
    _settle(page)
    assert page.locator(".rx-progress-blob").count() == 0, "the bars of the last fetch stayed"
    assert f"from {host}/test/single@sha256:" in page.locator(".rx-fetched").inner_text()


# -- 7 and 9: Save to is not the notebook's folder ---------------------------------------------------------------


def test_default_save_to_is_outside_the_notebook_folder(lab, lab_page, open_registry, images):
    """Before: 'blobs' next to the notebook, i.e. inside the repository for its notebooks."""
    page = _open(lab, lab_page, "r2-saveto.ipynb", _explorer_cells())
    note = page.locator(".rx-dest-note").inner_text()
    assert str(lab.root_dir) not in note and str(ROOT) not in note, note
    assert note.endswith("/registry-explorer"), note


# -- 8: wording -------------------------------------------------------------------------------------------------


def test_supply_note_counts_in_english_and_signatures_say_verified(lab, lab_page, open_registry):
    """Before: '6 attached object(s)', and a signature row said nothing about verification (defect 10)."""
    img = ss.build_supply()
    push_image(open_registry.url, img, verify=open_registry.verify, repository="supply/r2")
    ref = f"{open_registry.host}/supply/r2:{ss.TAG}"
    cells = ["import registry_explorer as rx\nfrom registry_explorer.sandbox import samples_supply as ss\n"
             "client = rx.Client(docker_config={})",
             f"ex = rx.Explorer(client, {ref!r}, public_key=ss.public_key_pem())\ndisplay(ex)"]
    page = _open(lab, lab_page, "r2-supply.ipynb", cells)
    _tab(page, "Supply chain")
    page.locator(".rx-load-supply").click()
    _wait_text(page, ".rx-explorer .rx-status", "attached object")
    _settle(page)
    text = page.locator(".rx-explorer").inner_text()
    assert "(s)" not in text and re.search(r"\d+ attached objects; click one", text), text[-600:]
    rows = [r.replace("\xa0", " ") for r in page.locator(".rx-supply select option").all_inner_texts()]
    assert any("verified with key sha256:" in r for r in rows if r.startswith("signature")), rows


# -- 9: layout at 1024 and 1366 px --------------------------------------------------------------------------------

_GEOMETRY = """() => {
  const out = {tabs: [], panes: [], buttons: []};
  for (const t of document.querySelectorAll('.rx-tab-buttons button'))
    out.tabs.push({text: t.textContent, clipped: t.scrollWidth > t.clientWidth + 1});
  for (const b of document.querySelectorAll('.rx-explorer button'))
    if (b.offsetParent) out.buttons.push({text: b.textContent, clipped: b.scrollWidth > b.clientWidth + 1});
  // The pane's scroll container: a horizontal scrollbar shows when it is wider than its box and scrolls.
  for (const c of document.querySelectorAll('.rx-explorer .rx-tabs')) {
    const box = [...c.children].find(p => p.offsetParent);
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(c).overflowX);
    // A wide table scrolls inside its own .rx-scroll box, on purpose; a pane of fields must not.
    const wide = box && box.classList.contains('rx-scroll');
    out.panes.push({scroll: c.scrollWidth, client: c.clientWidth, scrolls,
                    box: box && !wide ? box.scrollWidth - box.clientWidth : 0}); }
  const th = [...document.querySelectorAll('.rx-descriptor th')].find(h => h.textContent === 'artifactType');
  const card = document.querySelector('.rx-descriptor');
  if (th) { const r = th.getBoundingClientRect(), c = card.getBoundingClientRect();
            out.artifact = {right: r.right, cardRight: c.right, scrollable: card.scrollWidth > card.clientWidth}; }
  return out; }"""


@pytest.mark.parametrize("width", [1024, 1366])
def test_layout_fits_a_small_screen_with_the_file_browser_open(lab, lab_page, open_registry, width):
    """Before: 'Supply c', 'Find attached obj…', a horizontal scrollbar in every pane, artifactType cut off."""
    page = lab_page.page
    page.set_viewport_size({"width": width, "height": 768})
    page = _open(lab, lab_page, f"r2-layout-{width}.ipynb", _explorer_cells())
    if not page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    _submit(page, f"{open_registry.host}/test/multi:v1")
    _wait_text(page, ".rx-explorer .rx-status", "test/multi:v1 is ")
    _settle(page)
    problems = []
    for tab in ("Layers", "Config", "History", "Files", "Referrers", "HTTP", "Tags", "Supply chain"):
        _tab(page, tab)
        g = page.evaluate(_GEOMETRY)
        problems += [f"tab label {t['text']!r} clipped" for t in g["tabs"] if t["clipped"]]
        problems += [f"{tab}: button {b['text']!r} clipped" for b in g["buttons"] if b["clipped"]]
        problems += [f"{tab}: the pane scrolls sideways ({p})" for p in g["panes"]
                     if (p["scrolls"] and p["scroll"] > p["client"] + 1) or p["box"] > 1]
        if g.get("artifact") and not g["artifact"]["scrollable"]:
            assert g["artifact"]["right"] <= g["artifact"]["cardRight"] + 1, f"artifactType cut off: {g['artifact']}"
    page.screenshot(path=str(ARTIFACTS / f"round2-layout-{width}.png"))
    assert not sorted(set(problems)), sorted(set(problems))


# -- the Files tab as dive shows it ------------------------------------------------------------------------------


def _pick_row(page, name: str) -> None:
    """Click the tree row whose label holds `name` (ipywidgets' options carry their label as value)."""
    label = page.evaluate("""(n) => [...document.querySelectorAll('.rx-files option')]
                                       .map(o => o.value).find(v => v.includes(' ' + n))""", name)
    assert label, f"no row {name!r}"
    page.locator(".rx-files select").select_option(value=label)


def test_files_tab_tree_colours_what_each_layer_did(lab, lab_page, open_registry):
    page = _open(lab, lab_page, "r2-tree.ipynb", _explorer_cells())
    _submit(page, f"{open_registry.host}/test/wasteful:v1")
    _wait_text(page, ".rx-explorer .rx-status", "test/wasteful:v1 is ")
    _settle(page)
    _tab(page, "Files")
    layer2 = page.locator(".rx-files-layer select option").nth(3).get_attribute("value")
    page.locator(".rx-files-layer select").select_option(value=layer2)
    _wait_text(page, ".rx-files-summary", "removes 2")
    _settle(page)
    _pick_row(page, "▸ app/")
    page.wait_for_function("() => [...document.querySelectorAll('.rx-files option')].some(o => o.value.includes(' big.bin'))")
    style = page.evaluate("""() => { const o = [...document.querySelectorAll('.rx-files option')]
                                                .find(o => o.value.includes(' big.bin'));
                                     const c = getComputedStyle(o);
                                     return [c.color, c.textDecorationLine, o.textContent]; }""")
    assert style[0] == "rgb(207, 34, 46)" and style[1] == "line-through" and style[2].startswith("-"), style
    _pick_row(page, "keep.txt")
    _wait_text(page, ".rx-file-info", "00000000  ")
    assert "hex dump" in page.locator(".rx-file-info").inner_text()
    page.screenshot(path=str(ARTIFACTS / "round2-files-tree.png"))


# -- 6: an Explorer at the end of notebook 02 switches tabs, before and after a page reload ----------------------


def test_explorer_at_the_end_of_notebook_02_switches_tabs(lab, lab_page):
    """Before: after the saved notebook was reloaded, the Explorer at the end of notebook 02 (drawn lazily by
    Lab's windowing) ignored every tab click and kept the tab it was saved with (its Lumino tab bar was
    never attached, so it had no click listeners). Tabs are buttons now."""
    nb = json.loads((ROOT / "notebooks" / "02-anatomy-of-a-pull.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    nb["cells"].append({"id": "rx-explorer-02", "cell_type": "code", "metadata": {}, "execution_count": None,
                        "outputs": [], "source": "ex = rx.Explorer(client, REFERENCE)\nex"})
    (lab.root_dir / "r2-nb02.ipynb").write_text(json.dumps(nb))
    lab_page.open_notebook("r2-nb02.ipynb")
    lab_page.run_all()
    page = lab_page.page
    page.wait_for_selector(".rx-explorer .rx-tab-buttons", state="visible", timeout=180_000)
    _wait_idle_after_run_all(lab_page)

    def switch_all() -> None:
        for name in ("HTTP", "Layers", "Config", "Files", "HTTP", "Tags", "Referrers", "History"):
            page.locator(".rx-tab-buttons").scroll_into_view_if_needed()
            page.locator(".rx-tab-buttons button", has_text=name).first.click()
            page.wait_for_function(
                "(n) => document.querySelector('.rx-tab-buttons button.mod-active').textContent.trim() === n",
                arg=name, timeout=10_000)
            _settle(page)

    switch_all()
    page.locator(".rx-tab-buttons button", has_text="HTTP").first.click()
    _settle(page)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Home")
    time.sleep(1)
    page.keyboard.press("Control+End")
    switch_all()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")  # the reviewer's notebook was saved: a reload shows the saved output's view
    time.sleep(2)
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    lab_page.wait_kernel_idle()
    deadline = time.monotonic() + 120
    while not page.locator(".rx-explorer .rx-tab-buttons").count():  # cells far down are drawn when scrolled to
        page.locator(".jp-Notebook .jp-Cell").last.scroll_into_view_if_needed()
        page.keyboard.press("Control+End")
        time.sleep(1)
        assert time.monotonic() < deadline, "the Explorer did not come back after the reload"
    page.locator(".rx-explorer .rx-tab-buttons").wait_for(state="visible", timeout=60_000)
    switch_all()
    # The kernel saw every click: the state's tab is the last one clicked.
    assert page.locator(".rx-tab-buttons button.mod-active").inner_text().strip() == "History"
