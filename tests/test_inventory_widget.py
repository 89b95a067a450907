"""The Explorer's Packages tab: headless state (ExplorerState, no kernel) and the ipywidgets view built headlessly."""

from __future__ import annotations

import pytest
from helpers import packagedbs
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.sandbox import samples_inventory
from registry_explorer.sandbox.push import push_image
from registry_explorer.widgets import tabs
from registry_explorer.widgets.state import ExplorerState

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def refs(open_registry):
    refs = samples_inventory.seed(open_registry.url, auth=open_registry.auth, verify=open_registry.verify)
    legacy = [(p, "file", data, None) for p, data in packagedbs.rpm_legacy_headers().items()]
    image = samples_inventory.layered_image("legacy", "inventory/widget-legacy", "v1",
                                            [(samples_inventory.tar_layer(legacy), "ADD legacy /")])
    push_image(open_registry.url, image, verify=open_registry.verify)
    return {**refs, "legacy": f"{open_registry.host}/inventory/widget-legacy:v1"}


def test_the_tab_reads_a_small_image_when_opened(refs, open_registry):
    state = ExplorerState(client_for(open_registry))
    assert not state.load_packages() and "Resolve an image first" in state.error
    assert state.resolve(refs["inventory-1.1"])
    assert state.packages is None and not state.tab_needs_loading("Layers")
    assert state.open_tab("Packages")
    want = rx.packages(client_for(open_registry), refs["inventory-1.1"])
    assert state.packages.equals(want) and state.packages_for == state.manifest.digest
    assert "request" in state.packages_cost and "pulling the layers" in state.packages_cost
    assert state.status.startswith("18 packages installed in sha256:")
    assert not state.open_tab("Packages")  # already read for this image: no second read
    state.packages_filter = "lib"
    assert set(state.shown_packages()["name"]) == {n for n in want["name"] if "lib" in n}
    state.packages_filter = "python"  # an ecosystem's name shows its packages (and names containing it)
    assert {"requests", "urllib3", "python3"} <= set(state.shown_packages()["name"])


def test_another_image_on_screen_is_read_again(refs, open_registry):
    state = ExplorerState(client_for(open_registry))
    assert state.resolve(refs["inventory-1.1"]) and state.open_tab("Packages")
    first = state.packages_for
    assert state.resolve(refs["inventory-1.0"])  # the tab stays open: the new image's packages are read
    assert state.packages_for == state.manifest.digest != first
    assert "charset-normalizer" in set(state.packages["name"])
    assert state.back() and "charset-normalizer" not in set(state.packages["name"])


def test_big_images_wait_for_the_button_and_the_sbom_switch(refs, open_registry, monkeypatch):
    state = ExplorerState(client_for(open_registry))
    monkeypatch.setattr(tabs, "AUTO_LIST_BYTES", 10)
    assert state.resolve(refs["inventory-1.1"])
    assert not state.open_tab("Packages") and state.packages is None
    assert state.load_packages(sbom=True)
    status = dict(zip(state.packages["name"], state.packages["status"]))
    assert status["libssl3"] == "version differs" and status["urllib3"] == "only installed"
    assert state.packages_sbom and "next to its SBOM" in state.status


def test_unreadable_databases_are_said(refs, open_registry):
    state = ExplorerState(client_for(open_registry))
    assert state.resolve(refs["legacy"]) and state.open_tab("Packages")
    assert len(state.packages) == 0 and len(state.packages_errors) == 2
    assert "2 databases could not be read" in state.status and not state.error


def test_the_view_renders_the_tab(refs, open_registry):
    pytest.importorskip("ipywidgets")
    from registry_explorer.widgets import Explorer

    ex = Explorer(client_for(open_registry))
    assert "Packages" in ex.tabs.titles
    assert ex.resolve(refs["inventory-1.1"])
    ex.tabs.selected_index = list(ex.tabs.titles).index("Packages")
    assert "libssl3" in ex.packages_html.value and "RUN pip install requests==2.32.3" in ex.packages_html.value
    assert "<script" not in ex.packages_html.value and ex.packages_cost_label.value
    ex.packages_filter_text.value = "urllib"
    assert "urllib3" in ex.packages_html.value and "libssl3" not in ex.packages_html.value
    ex.packages_sbom_box.value = True
    ex.packages_button.click()
    assert "only installed" in ex.packages_html.value and "charset-normalizer" not in ex.packages_html.value  # filtered
    ex.packages_filter_text.value = ""
    assert "charset-normalizer" in ex.packages_html.value and "only in SBOM" in ex.packages_html.value
    assert ex.resolve(refs["legacy"])
    ex.packages_button.click()
    assert "Berkeley DB" in ex.packages_errors_html.value
