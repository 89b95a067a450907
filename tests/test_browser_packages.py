"""The Explorer's Packages tab in a real JupyterLab, driven by Playwright + chromium (issue 25).

The sandbox's demo/inventory:1.1 is small enough that opening the tab reads its packages unasked; the table
shows each package with the layer and build step that installed it, the filter narrows it, and the SBOM
switch puts the attached SBOM next to it.
"""

from __future__ import annotations

import time

import pytest
from helpers.browser.notebook import write_notebook

from registry_explorer.sandbox import samples_inventory

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ref(open_registry):
    return samples_inventory.seed(open_registry.url, auth=open_registry.auth, verify=open_registry.verify)["inventory-1.1"]


def _wait_text(page, selector: str, text: str, timeout: float = 90, present: bool = True) -> None:
    page.wait_for_function(
        """([sel, txt, present]) => { const e = document.querySelector(sel);
                                      return !!e && e.offsetParent !== null && e.innerText.includes(txt) === present; }""",
        arg=[selector, text, present], polling="raf", timeout=timeout * 1000,
    )


def _settle(page, quiet: float = 0.4, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet:
        if page.locator(".rx-explorer .rx-status .rx-spinner").count():
            quiet_since = time.monotonic()
        assert time.monotonic() < deadline, "the Explorer stayed busy: " + page.locator(".rx-status").inner_text()
        time.sleep(0.02)


def test_packages_tab(lab, lab_page, open_registry, ref):
    cells = ["import registry_explorer as rx\n"
             f"client = rx.Client(insecure=({open_registry.host!r},), docker_config={{}}, cache=False)\n"
             f"ex = rx.Explorer(client, reference={ref!r})\n"
             "display(ex)"]
    write_notebook(lab.root_dir / "packages.ipynb", cells)
    lab_page.open_notebook("packages.ipynb")
    lab_page.run_all()
    page = lab_page.page
    page.wait_for_selector(".rx-explorer", state="visible", timeout=180_000)
    lab_page.wait_all_executed()
    _wait_text(page, ".rx-explorer .rx-status", "5 layers")
    _settle(page)

    page.locator(".rx-tab-buttons button", has_text="Packages").first.click()
    _wait_text(page, ".rx-packages", "libssl3")
    _settle(page)
    table = page.locator(".rx-packages").inner_text()
    assert "3.0.13-1~deb12u1" in table and "apt-get upgrade" in table and "RUN pip install requests==2.32.3" in table
    assert "request" in page.locator(".rx-packages-cost").inner_text()

    page.locator(".rx-packages-filter input").fill("urllib")
    page.locator(".rx-packages-filter input").press("Enter")
    _wait_text(page, ".rx-packages", "libssl3", present=False)
    assert "urllib3" in page.locator(".rx-packages").inner_text()

    page.locator(".rx-packages-filter input").fill("")
    page.locator(".rx-packages-filter input").press("Enter")
    page.locator(".rx-packages-sbom input").check()
    page.locator(".rx-packages-load").click()
    _wait_text(page, ".rx-packages", "only in SBOM")
    _settle(page)
    table = page.locator(".rx-packages").inner_text()
    assert "version differs" in table and "only installed" in table and "charset-normalizer" in table
