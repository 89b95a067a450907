"""The Explorer view built headlessly: buttons are clicked, widgets must reflect the state.

Widgets are found by their CSS class hooks, the same contract the browser tests rely on.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from helpers.clients import client_for

pytest.importorskip("ipywidgets")

import registry_explorer as rx  # noqa: E402
from registry_explorer.widgets import Explorer  # noqa: E402
from registry_explorer.widgets.ui.explorer import TABS  # noqa: E402

pytestmark = pytest.mark.integration

HOOKS = ["rx-explorer", "rx-reference", "rx-resolve", "rx-status", "rx-error", "rx-descriptor", "rx-platform",
         "rx-tabs", "rx-layers-table", "rx-layer-select", "rx-dest", "rx-fetch", "rx-cancel",
         "rx-progress-overall", "rx-fetched", "rx-back", "rx-forward", "rx-trace", "rx-tags", "rx-files",
         "rx-referrers"]


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def find_all(root, cls):
    return [x for x in walk(root) if cls in getattr(x, "_dom_classes", ())]


def find(root, cls):
    hits = find_all(root, cls)
    assert len(hits) == 1, f"{len(hits)} widgets with class {cls}"
    return hits[0]


@pytest.fixture
def host(open_registry):
    return open_registry.host


@pytest.fixture
def client(open_registry):
    return client_for(open_registry)


def test_every_class_hook_is_present(client, host):
    ex = rx.Explorer(client, f"{host}/test/single:v1")
    for cls in HOOKS:
        find_all(ex, cls) or pytest.fail(f"no widget has class {cls}")
    assert "rx-explorer" in ex._dom_classes
    assert type(ex) is Explorer
    assert find(ex, "rx-reference").value == f"{host}/test/single:v1"


def test_view_reflects_state_and_fetch(client, host, images, tmp_path):
    img = images["multi"]
    ex = rx.Explorer(client, f"{host}/test/multi:v1")
    assert ex.reference == f"{host}/test/multi:v1" and ex.error == ""
    dropdown = find(ex, "rx-platform")
    assert list(dropdown.options)[:3] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert dropdown.value == "linux/amd64"
    assert "attestation for" in dropdown.options[3]
    assert img.digest in find(ex, "rx-descriptor").value
    select = find(ex, "rx-layer-select")
    amd64 = [label for label, _ in select.options]
    assert amd64[0].startswith("0  sha256:") and amd64[-1].startswith("config  sha256:")

    dropdown.value = "linux/arm64"  # what the browser does when the user picks it
    assert ex.platform == "linux/arm64"
    assert ex.state.manifest.digest == img.extra["platforms"]["linux/arm64"]
    assert [label for label, _ in select.options] != amd64
    layer_digest = ex.state.manifest.layers[0].digest
    assert select.options[0][0].startswith("0  " + layer_digest[:19])
    assert layer_digest[7:19] in find(ex, "rx-layers-table").value

    select.value = tuple(d for _, d in select.options)  # the layer and the config
    assert ex.selected == list(select.value)
    find(ex, "rx-dest").value = str(tmp_path / "out")
    find(ex, "rx-fetch").click()
    assert ex.state.wait(10)
    assert ex.error == ""
    assert len(ex.fetched) == 2
    for path, digest in zip(ex.fetched, ex.selected):
        assert "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    bars = find_all(ex, "rx-progress-blob")
    assert len(bars) == 2 and all(b.value == b.max for b in bars)
    overall = find(ex, "rx-progress-overall")
    assert overall.value == overall.max == sum(s for _, s in ex.state.progress.values())
    fetched_html = find(ex, "rx-fetched").value
    assert all(p in fetched_html for p in ex.fetched)
    assert find(ex, "rx-fetch").disabled is False and find(ex, "rx-cancel").disabled is True


def test_cancel_button(client, host, images, tmp_path):
    big = images["single"].extra["big_layer"]
    ex = rx.Explorer(client, f"{host}/test/single:v1")
    ex.select([1])
    assert find(ex, "rx-layer-select").value == (big.digest,)
    cancel = find(ex, "rx-cancel")
    ex.state.observe(lambda change: cancel.click(), names="progress")  # click while it runs
    ex.fetch(dest=str(tmp_path / "out"))
    assert ex.wait(10)
    # Information in the status line, not a red error (issue 16).
    assert ex.error == "" and ex.status == "Fetch cancelled; partial files removed."
    assert "Fetch cancelled" not in find(ex, "rx-error").value and "Fetch cancelled" in find(ex, "rx-status").value
    assert list((tmp_path / "out").iterdir()) == []
    assert find(ex, "rx-progress-blob").bar_style == "warning"


def test_error_box_and_history_buttons(client, host):
    ex = rx.Explorer(client)
    error = find(ex, "rx-error")
    assert error.layout.display == "none"
    text, resolve = find(ex, "rx-reference"), find(ex, "rx-resolve")
    text.value = f"{host}/test/single:v1"  # Enter in the field resolves (continuous_update=False)
    assert ex.state.manifest is not None and ex.reference == text.value
    resolve.click()  # the click that blurred the field: not a second resolve
    assert len([x for x in ex.state.trace["purpose"] if x == "resolve"]) == 1
    text.value = f"{host}/test/single:nope"
    resolve.click()
    assert "Not found" in error.value and error.layout.display != "none"
    resolve.click()  # a later click on the same text resolves again (tags move)
    assert len([x for x in ex.state.trace["purpose"] if x == "resolve"]) == 3
    assert ex.state.manifest is None and find(ex, "rx-layers-table").value == ""
    back, forward = find(ex, "rx-back"), find(ex, "rx-forward")
    assert not back.disabled and forward.disabled
    back.click()
    assert ex.reference == f"{host}/test/single:v1" and text.value == ex.reference
    assert error.layout.display == "none" and ex.state.manifest is not None
    assert forward.disabled, "history holds only what loaded: the failed reference is not an entry (issue 26)"


def test_tabs_tags_referrers_http_and_files(client, host, images):
    ex = rx.Explorer(client, f"{host}/test/single:v1")
    tabs = find(ex, "rx-tabs")
    assert tuple(tabs.titles) == TABS
    assert "/usr/bin/hello" in find(ex, "rx-config").value and "8080/tcp" in find(ex, "rx-config").value
    assert "history entries" in find(ex, "rx-history").value

    tabs.selected_index = TABS.index("Tags")
    tags = find(ex, "rx-tags")
    # Other tests may add tags to test/single (e.g. a referrers tag schema index); these two are ours.
    assert {"sbom", "v1"} <= set(tags.options) and list(tags.options) == sorted(tags.options)
    assert tags.value == "v1"
    tags.value = "sbom"  # clicking a tag resolves it
    assert ex.state.descriptor.digest == images["artifact"].digest

    tabs.selected_index = TABS.index("Referrers")
    subject = find(ex, "rx-open-subject")
    assert subject.layout.display != "none" and images["single"].digest in find(ex, "rx-descriptor").value
    subject.click()
    assert ex.state.descriptor.digest == images["single"].digest
    ex.open_referrer(images["artifact"].digest)
    assert ex.state.manifest.artifact_type == "application/spdx+json"
    ex.back()

    tabs.selected_index = TABS.index("HTTP")
    assert "/v2/test/single/manifests/" in find(ex, "rx-trace").value
    rows = find(ex, "rx-trace-select")
    rows.value = rows.options[-1][1]
    assert find(ex, "rx-curl").value.startswith("curl ")

    tabs.selected_index = TABS.index("Files")  # a small image lists itself on opening the tab
    files = find(ex, "rx-files")
    assert "etc" in [v for _, v in files.options] and "etc/motd" not in [v for _, v in files.options]
    files.value = "etc"  # a click on a folder opens it: its children appear under it
    assert "etc/motd" in [v for _, v in files.options]
    find(ex, "rx-files-filter").value = "motd"
    assert [v for _, v in files.options] == ["etc/motd"]
    files.value = "etc/motd"
    assert "Welcome to the registry-explorer test image." in find(ex, "rx-file-info").value


def test_widget_messages_are_routed_to_the_main_shell():
    from registry_explorer.widgets.ui.explorer import _route_to_main_shell

    class Comm:  # ipykernel 7's comm: incoming messages go where _reply_subshell_for says
        def _reply_subshell_for(self, data, default):
            return default

    class Widget:
        comm = Comm()

    widget = Widget()
    _route_to_main_shell(widget)
    assert widget.comm._reply_subshell_for({"method": "update"}, "subshell-1") is None
    _route_to_main_shell(object())  # no comm (or an older kernel): nothing to do


def test_fetch_click_returns_while_the_download_runs(open_registry, images, tmp_path):
    """The Fetch button must hand the download to a thread: a click that blocks freezes the notebook.

    A proxy holds the blob body for 2 s after its first kilobyte (then closes; the client resumes),
    so a fetch that ran inside the click handler would make click() take over 2 s.
    """
    from helpers.proxy import FaultProxy

    img = images["single"]
    layer = img.extra["big_layer"]  # 2.4 MB, so the stall after 1 KiB happens mid-body
    with FaultProxy(open_registry.url) as proxy:
        ex = rx.Explorer(rx.Client(docker_config={}), f"{proxy.host}/test/single:v1")
        ex.select([1])
        assert find(ex, "rx-layer-select").value == (layer.digest,)
        find(ex, "rx-dest").value = str(tmp_path / "out")
        proxy.stall_blob_after, proxy.stall_seconds, proxy.stall_count = 1024, 2.0, 1
        t0 = time.monotonic()
        find(ex, "rx-fetch").click()
        clicked = time.monotonic() - t0
        assert clicked < 0.5, f"the click blocked for {clicked:.2f} s"
        assert ex.state.fetching and ex.fetched == [], "the download is still running after the click returned"
        assert find(ex, "rx-fetch").disabled is True and find(ex, "rx-cancel").disabled is False
        assert ex.wait(30)
    assert ex.error == ""
    (path,) = ex.fetched
    assert "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest() == layer.digest
    assert find(ex, "rx-fetch").disabled is False
