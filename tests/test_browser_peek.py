"""Peek without pulling in the Explorer (issue 12), in a real JupyterLab driven by Playwright + chromium.

The Files tab previews `data/last.txt` (124 bytes, the last entry) of the >= 64 MiB gzip layer of
the big sample once the layer's index is known (built in the kernel by `client.layer_index`, as a
read_file earlier in the session or a cache on disk would): the FaultProxy in front of the
registry counts what crosses the wire, so the test does not rely on the client's own accounting.
The preview shows how its bytes are vouched for (`verified-index`) and what the read moved.
"""

from __future__ import annotations

import re
import time

import pytest
from helpers.browser.notebook import write_notebook
from helpers.proxy import FaultProxy

from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples_peek import big_image

pytest_plugins = ["helpers.browser.fixtures"]
pytestmark = pytest.mark.integration

SPAN = 1 << 20  # the default span of a layer index
LAST = "data/last.txt"
LAST_TEXT = "the last file of the big layer"


@pytest.fixture(scope="module")
def big(open_registry):
    from registry_explorer.sources.cache import default_cache_dir

    img = big_image(64, cache_dir=default_cache_dir() / "samples")  # built once, then kept on disk
    push_image(open_registry.url, img, verify=open_registry.verify)
    return img


def _cells(host: str, ref: str, cache: str) -> list[str]:
    return [
        "import registry_explorer as rx\n"
        f"client = rx.Client(insecure=({host!r},), docker_config={{}}, cache={cache!r})\n"
        f"REF = {ref!r}",
        # The index of the big layer: one verified pass, as any earlier read_file of it would do.
        "layer = client.image(REF).layers[0]\n"
        "idx = client.layer_index(REF, layer)\n"
        "print(f'index ready: {idx.kind}, {len(idx.entries)} entries')",
        "ex = rx.Explorer(client)\n"
        "display(ex)",
    ]


def _wait_text(page, selector: str, text: str, timeout: float = 60) -> None:
    page.wait_for_function(
        """([sel, txt]) => { const e = document.querySelector(sel);
                             return !!e && e.offsetParent !== null && e.innerText.includes(txt); }""",
        arg=[selector, text], polling="raf", timeout=timeout * 1000,
    )


def _settle(page, quiet: float = 0.4, timeout: float = 60) -> None:
    """Wait until the Explorer shows no busy spinner for `quiet` seconds (see test_browser_explorer._settle)."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet:
        if page.locator(".rx-explorer .rx-status .rx-spinner").count():
            quiet_since = time.monotonic()
        assert time.monotonic() < deadline, "the Explorer stayed busy: " + page.locator(".rx-status").inner_text()
        time.sleep(0.02)


def _blob_gets(proxy) -> list[dict]:
    return [r for r in proxy.requests if "/blobs/" in r["path"] and r["method"] == "GET"]


def test_files_tab_previews_big_layer_file_without_full_download(lab, lab_page, open_registry, big, tmp_path):
    layer = big.extra["layers"][0]
    assert layer.size >= 64 << 20
    timings = lab_page.timings
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as proxy:
        ref = f"{proxy.host}/{big.repository}:{big.tag}"
        write_notebook(lab.root_dir / "peek.ipynb", _cells(proxy.host, ref, str(tmp_path / "cache")))
        lab_page.open_notebook("peek.ipynb")
        t0 = time.monotonic()
        lab_page.run_all()
        page = lab_page.page
        page.wait_for_selector(".rx-explorer", state="visible", timeout=180_000)
        lab_page.wait_all_executed()
        assert "index ready: gzip-checkpoints" in lab_page.cell_output_text(1), lab_page.cell_output_text(1)
        timings["run_all_with_index_build_s"] = round(time.monotonic() - t0, 3)

        proxy.reset()  # from here on, only what the Explorer itself asks for
        page.locator(".rx-reference input").fill(ref)
        page.locator(".rx-resolve").click()
        _wait_text(page, ".rx-layers-table", layer.digest.split(":")[1][:12])
        _settle(page)

        page.locator(".rx-tab-buttons button", has_text="Files").click()
        _settle(page)
        # A big image is not listed unasked; the tab says what to click (issue 26), not an empty box.
        assert "Click List files" in page.locator(".rx-files-hint").inner_text()
        t_list = time.monotonic()
        page.locator(".rx-files-load").click()
        page.wait_for_function("() => document.querySelectorAll('.rx-files select option').length > 0",
                               polling="raf", timeout=120_000)
        timings["tree_shown_after_list_files_s"] = round(time.monotonic() - t_list, 3)  # the index is warm
        _wait_text(page, ".rx-explorer .rx-status", " entries", timeout=120)
        _settle(page)
        # Only the big layer counts: resolving also GETs the (small) config blob.
        listing_gets = [(r["status"], r["headers"].get("Range")) for r in _blob_gets(proxy)
                        if r["path"].endswith(layer.digest)]

        page.locator(".rx-files-filter input").fill("last.txt")
        # A filtered row's label ends with the full path (an option's value is its label in ipywidgets).
        label = page.wait_for_function("() => [...document.querySelectorAll('.rx-files select option')]"
                                       ".map(o => o.value).find(v => v.endsWith(' /data/last.txt'))",
                                       timeout=30_000).json_value()
        before_bytes, before_n = proxy.body_bytes, len(proxy.requests)
        t1 = time.monotonic()
        page.locator(".rx-files select").select_option(value=label)
        _wait_text(page, ".rx-file-info", LAST_TEXT, timeout=120)
        timings["preview_s"] = round(time.monotonic() - t1, 3)
        _settle(page)
        info = page.locator(".rx-file-info").inner_text()
        preview = proxy.requests[before_n:]
        preview_bytes = proxy.body_bytes - before_bytes
        print(f"\n[browser] listing blob GETs {listing_gets}; preview: {len(preview)} requests, "
              f"{preview_bytes:,} bytes of a {layer.size:,}-byte layer; info {info!r}")

    # The preview: one Range of about a span, never the layer (counted at the proxy).
    assert len(preview) <= 2, preview
    assert all(r["headers"].get("Range") for r in preview if "/blobs/" in r["path"]), preview
    assert preview_bytes <= SPAN + len(LAST_TEXT) * 4 + (64 << 10), preview_bytes
    # It says how its bytes are vouched for, and what the read moved ("moved  502.7 KiB in 1 request").
    # What vouched for the bytes in a sentence, and why a 124-byte read moves a span (issue 26).
    assert "each compressed block read by Range matched" in info and "(verified-index)" in info, info
    assert re.search(r"moved\s+[\d.,]+\s*[KMG]?i?B", info), info
    assert "seek point" in info, info
    # Listing a layer whose index is known reads no blob either.
    assert not [g for g in listing_gets if g[0] == 200], f"the listing streamed the layer: {listing_gets}"
