"""Navigation by digest and the Supply chain tab, driven headless through ExplorerState (no kernel)."""

from __future__ import annotations

import pytest
from helpers.clients import client_for

from registry_explorer.core.models import ImageConfig
from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import push_image
from registry_explorer.supply.sbom import Sbom
from registry_explorer.supply.slsa import Provenance
from registry_explorer.widgets.state import ExplorerState

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def signed(open_registry):
    img = ss.build_supply()
    push_image(open_registry.url, img, auth=open_registry.auth, verify=open_registry.verify, repository="supply/nav")
    return img, f"{open_registry.host}/supply/nav:{ss.TAG}"


def test_index_manifest_config_referrer_then_back_twice(open_registry, signed):
    img, ref = signed
    image, config = img.extra["image"], img.extra["image"].json()["config"]["digest"]
    referrer = img.extra["referrers"][0].digest
    s = ExplorerState(client_for(open_registry))
    assert s.resolve(ref)
    assert (s.shown_kind, s.shown_digest) == ("index", img.root.digest)
    assert {lk["digest"] for lk in s.links} >= {image.digest, img.extra["attestation"].digest}

    assert s.open_digest(image.digest)
    assert (s.shown_kind, s.shown_digest) == ("manifest", image.digest) and s.document is None
    assert s.index is None and s.manifest.digest == image.digest
    s.open_tab("Referrers")
    assert {lk["digest"] for lk in s.links if lk["label"].startswith("referrer")} == {r.digest for r in img.extra["referrers"]}

    assert s.open_digest(config)
    assert (s.shown_kind, s.shown_digest) == ("config", config)
    assert isinstance(s.document, ImageConfig) and s.document.descriptor.digest == config

    assert s.open_digest(referrer)
    assert (s.shown_kind, s.shown_digest) == ("manifest", referrer) and s.subject.digest == image.digest

    assert s.back() and (s.shown_kind, s.shown_digest) == ("config", config)
    assert s.back() and (s.shown_kind, s.shown_digest) == ("manifest", image.digest)
    assert s.forward() and s.shown_digest == config
    assert s.back() and s.back() and s.shown_digest == img.root.digest and not s.back()


def test_supply_chain_tab_rows_open_as_decoded_documents(open_registry, signed):
    img, ref = signed
    s = ExplorerState(client_for(open_registry))
    s.open_tab("Supply chain")
    assert s.resolve(ref)  # the open tab loads by itself
    assert s.supply_for == img.root.digest and len(s.supply) == 6
    kinds = [(r["found"], r["type"]) for r in s.supply]
    prov = kinds.index(("referrers tag schema", "https://slsa.dev/provenance/v1"))
    assert s.open_supply_row(prov)
    assert isinstance(s.document, Provenance) and s.document.statement.envelope is not None
    assert s.shown_kind == "document" and s.shown_digest == s.supply[prov]["digest"]
    cdx = kinds.index(("referrers tag schema", "application/vnd.cyclonedx+json"))
    assert s.open_supply_row(cdx) and isinstance(s.document, Sbom) and s.document.format == "cyclonedx"
    assert s.back() and isinstance(s.document, Provenance)
    assert s.back() and s.shown_kind == "index" and s.document is None
    assert not s.open_supply_row(99) and "no supply-chain row 99" in s.error


def test_a_digest_that_is_nothing_here_is_an_error_sentence(open_registry, signed):
    s = ExplorerState(client_for(open_registry))
    assert s.resolve(signed[1])
    assert not s.open_digest("sha256:" + "0" * 64)
    assert s.error and s.shown_digest == ""


def test_view_buttons_carry_full_digests_and_open_them(open_registry, signed):
    from registry_explorer.widgets.ui.explorer import Explorer

    img, ref = signed
    ex = Explorer(client_for(open_registry), ref)

    def buttons():
        return {b.tooltip: b for b in ex.nav_box.children}

    image = img.extra["image"].digest
    assert img.root.digest in ex.shown_html.value
    buttons()[image].click()
    assert f'rx-shown-digest">{image}</code>' in ex.shown_html.value
    config = img.extra["image"].json()["config"]["digest"]
    buttons()[config].click()
    assert f'rx-shown-digest">{config}</code>' in ex.shown_html.value and "Image config" in ex.document_html.value
    ex.back_button.click()
    assert f'rx-shown-digest">{image}</code>' in ex.shown_html.value and ex.document_html.layout.display == "none"
    ex.tabs.selected_index = list(ex.tabs.titles).index("Supply chain")
    # The image alone: its three referrers (the signature and the BuildKit attestation belong to the index).
    assert {ex.state.supply[i]["digest"] for _, i in ex.supply_select.options} == {r.digest for r in img.extra["referrers"]}
    ex.supply_select.value = 2
    assert ex.state.document is not None and "cyclonedx" in ex.document_html.value
