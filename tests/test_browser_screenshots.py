"""Screenshots of the Explorer at 1024x768 with Lab's file browser open, light and dark (issue 26).

Run alone; the pictures go to tests/artifacts/issue26-<scene>-<theme>-<RX_SHOT_TAG>.png (tag "after" by
default). docs/screenshots/issue-26.md shows the "before" ones (taken with this file from a checkout of
main) next to the "after" ones. Each scene also checks the one thing it shows, so the file is a test.
"""

from __future__ import annotations

import json
import os

import pytest
from helpers.browser.lab import ARTIFACTS
from helpers.browser.notebook import write_notebook
from test_browser_explorer import _settle, _wait_text

from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import push_image

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration
TAG = os.environ.get("RX_SHOT_TAG", "after")
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def _theme(lab, name: str) -> None:
    r = lab.api("../lab/api/settings/@jupyterlab/apputils-extension:themes", method="PUT",
                data=json.dumps({"raw": json.dumps({"theme": name})}))
    assert r.status_code in (200, 204), r.text


def _shot(page, scene: str, theme: str) -> None:
    path = ARTIFACTS / f"issue26-{scene}-{theme}-{TAG}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


@pytest.mark.parametrize("theme", list(THEMES))
def test_screens(lab, lab_page, open_registry, theme):
    img = ss.build_supply()
    push_image(open_registry.url, img, verify=open_registry.verify, repository="supply/shots")
    host = open_registry.host
    _theme(lab, THEMES[theme])
    try:
        page = lab_page.page
        page.set_viewport_size({"width": 1024, "height": 768})
        # The public_key keyword is new in issue 26: the "before" run (main) makes a plain Explorer.
        write_notebook(lab.root_dir / f"shots-{theme}.ipynb", [
            "import inspect\nimport registry_explorer as rx\nfrom registry_explorer.sandbox import samples_supply as ss\n"
            "client = rx.Client(docker_config={})\n"
            "kw = 'public_key' in inspect.signature(rx.Explorer.__init__).parameters\n"
            "ex = rx.Explorer(client, public_key=ss.public_key_pem()) if kw else rx.Explorer(client)\ndisplay(ex)"])
        lab_page.open_notebook(f"shots-{theme}.ipynb")
        lab_page.run_all()
        page.wait_for_selector(".rx-explorer", state="visible", timeout=120_000)
        lab_page.wait_all_executed()
        if not page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count():
            page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
        field = page.locator(".rx-reference input")

        # 1. An index, its card folded, the layers tab: tab labels, the pane's scrollbar.
        field.fill(f"{host}/test/multi:v1")
        field.press("Enter")
        _wait_text(page, ".rx-explorer .rx-status", "test/multi:v1 is ")
        _settle(page)
        page.locator('.rx-descriptor-card [class*="Collapse-header"]').first.click()
        page.locator(".rx-tabs").scroll_into_view_if_needed()
        _settle(page)
        _shot(page, "layers", theme)

        # 2. The Files tab of an image that wastes space, at its last layer, a folder open.
        field.fill(f"{host}/test/wasteful:v1")
        field.press("Enter")
        _wait_text(page, ".rx-explorer .rx-status", "test/wasteful:v1 is ")
        _settle(page)
        page.locator(".rx-tab-buttons button", has_text="Files").click()
        _settle(page)
        layer2 = page.locator(".rx-files-layer select option").nth(3).get_attribute("value")
        page.locator(".rx-files-layer select").select_option(value=layer2)
        _settle(page)
        label = page.evaluate("""() => [...document.querySelectorAll('.rx-files option')].map(o => o.value)
                                         .find(v => v.includes(' app'))""")
        if label:
            page.locator(".rx-files select").select_option(value=label)
            _settle(page)
        page.locator(".rx-files select").scroll_into_view_if_needed()
        _shot(page, "files", theme)

        # 3. The Supply chain tab of a signed image.
        field.fill(f"{host}/supply/shots:{ss.TAG}")
        field.press("Enter")
        _wait_text(page, ".rx-explorer .rx-status", "supply/shots:")
        _settle(page)
        page.locator(".rx-tab-buttons button", has_text="Supply").click()
        page.locator(".rx-load-supply").click()
        _wait_text(page, ".rx-explorer .rx-status", "attached object")
        _settle(page)
        page.locator(".rx-supply").scroll_into_view_if_needed()
        _shot(page, "supply", theme)
        assert page.locator(".rx-supply select option").count() >= 4
    finally:
        _theme(lab, THEMES["light"])
