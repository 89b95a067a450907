"""Navigation by digest in a real JupyterLab (Playwright + Debian chromium), issue 14.

From an index: click a manifest digest, then its config, then a referrer, then back twice; after
each click the Explorer must show that object, checked by the full digest it displays (.rx-shown).
"""

from __future__ import annotations

import time

import pytest
from helpers.browser.notebook import write_notebook

from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import push_image

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration


def _wait_shown(page, digest: str, timeout: float = 30) -> None:
    """Until the visible `.rx-shown` line holds `digest` as the shown digest, and nothing is busy."""
    page.wait_for_function(
        """(d) => { const e = document.querySelector('.rx-explorer .rx-shown .rx-shown-digest');
                    return !!e && e.offsetParent !== null && e.innerText.trim() === d; }""",
        arg=digest, polling="raf", timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.4:  # as test_browser_explorer._settle: act like a person would
        if page.locator(".rx-explorer .rx-status .rx-spinner").count():
            quiet_since = time.monotonic()
        assert time.monotonic() < deadline, "the Explorer stayed busy"
        time.sleep(0.02)
    box = page.locator(".rx-error")
    error = box.first.inner_text().strip() if box.count() and box.first.is_visible() else ""
    assert not error, f"the Explorer shows an error: {error}"


def _click_link(page, digest: str) -> None:
    page.locator(f'.rx-nav button.rx-nav-link[title="{digest}"]').click()


def test_click_manifest_config_referrer_then_back_twice(lab, lab_page, open_registry):
    img = ss.build_supply()
    push_image(open_registry.url, img, auth=open_registry.auth, verify=open_registry.verify, repository="supply/browser")
    ref = f"{open_registry.host}/supply/browser:{ss.TAG}"
    image = img.extra["image"].digest
    config = img.extra["image"].json()["config"]["digest"]
    referrer = img.extra["referrers"][1].digest  # the SPDX SBOM artifact
    write_notebook(lab.root_dir / "navigation.ipynb", [
        "import registry_explorer as rx\n"
        f"ex = rx.Explorer(rx.Client(docker_config={{}}), {ref!r})\n"
        "display(ex)"])
    lab_page.open_notebook("navigation.ipynb")
    lab_page.run_all()
    page = lab_page.page
    page.wait_for_selector(".rx-explorer", state="visible", timeout=60_000)
    _wait_shown(page, img.root.digest)
    # Referrer links come with the referrers: keep their tab on screen so each image loads them.
    page.locator(".rx-tab-buttons button", has_text="Referrers").click()

    _click_link(page, image)
    _wait_shown(page, image)
    _click_link(page, config)
    _wait_shown(page, config)
    assert "Image config" in page.locator(".rx-document").inner_text()
    page.locator(f'.rx-nav button.rx-nav-link[title="{referrer}"]').wait_for(state="visible")
    _click_link(page, referrer)
    _wait_shown(page, referrer)
    card = page.locator(".rx-descriptor").inner_text()
    assert "Refers to (subject)" in card and image[:19] in card  # the SBOM artifact, whose subject is the image

    page.locator(".rx-back").click()
    _wait_shown(page, config)
    page.locator(".rx-back").click()
    _wait_shown(page, image)
    assert not page.locator(".rx-document").is_visible()
