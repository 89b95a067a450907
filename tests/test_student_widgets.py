"""Issue 16, the student's experience: the Explorer's errors, stale state and wording, headless.

Each test pins one acceptance item of the issue and fails on the code before it (see the
docstrings). The state tests need no kernel; the view tests build the ipywidgets view headlessly.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.core.errors import ConnectionFailed, Unauthorized
from registry_explorer.widgets import ExplorerState
from registry_explorer.widgets.labels import plural
from registry_explorer.widgets.messages import CANCELLED, error_message
from registry_explorer.widgets.ui import render

pytestmark = pytest.mark.integration


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def find(root, cls):
    hits = [x for x in walk(root) if cls in getattr(x, "_dom_classes", ())]
    assert len(hits) == 1, f"{len(hits)} widgets with class {cls}"
    return hits[0]


@pytest.fixture
def host(open_registry):
    return open_registry.host


# -- errors: once, specific, calm ------------------------------------------------------------------


def test_an_error_is_shown_once(open_registry, host):
    """Before: the status line and the red box both carried the same sentence."""
    ex = rx.Explorer(client_for(open_registry))
    assert not ex.resolve(f"{host}/test/single:nope")
    error, status = find(ex, "rx-error").value, find(ex, "rx-status").value
    assert "Not found" in error
    assert "Not found" not in status, "the error is repeated in the status line"
    # A later success shows its status again, and no error box.
    assert ex.resolve(f"{host}/test/single:v1")
    assert "test/single:v1 is " in find(ex, "rx-status").value
    assert find(ex, "rx-error").value == "" and find(ex, "rx-error").layout.display == "none"


def test_unauthorized_passes_the_library_hint_through(htpasswd_registry):
    """Before: 'pass credentials=' to a student who had, instead of the real cause (plain http)."""
    reg = htpasswd_registry
    client = rx.Client(credentials={reg.host: reg.auth}, docker_config={})  # no insecure=
    state = ExplorerState(client)
    assert not state.resolve(f"{reg.host}/test/single:v1")
    assert "not sent" in state.error and "insecure=" in state.error, state.error
    assert f"insecure=({reg.host!r},)" in state.error and "(R4)" not in state.error
    assert state.error.count("nauthorized") == 0, "one plain sentence, not the word three times (issue 26)"
    assert "rx.Client(credentials={" not in state.error, "the generic advice replaced the real cause"
    # Without credentials the generic advice is the right one, and stays.
    anon = ExplorerState(rx.Client(docker_config={}))
    assert not anon.resolve(f"{reg.host}/test/single:v1")
    assert "rx.Client(credentials=" in anon.error


URLLIB3_REFUSED = ("could not reach 127.0.0.1:9 (GET http://127.0.0.1:9/v2/): HTTPConnection(host='127.0.0.1', "
                   "port=9): Failed to establish a new connection: [Errno 111] Connection refused")
URLLIB3_DNS = ("could not reach nope.invalid (GET https://nope.invalid/v2/): HTTPSConnection(host='nope.invalid', "
               "port=443): Failed to resolve 'nope.invalid' ([Errno -2] Name or service not known)")


@pytest.mark.parametrize(("exc", "why", "check"), [
    (ConnectionFailed(URLLIB3_REFUSED, url="http://127.0.0.1:9/v2/"), "refused", "is running"),
    (ConnectionFailed(URLLIB3_DNS, url="https://nope.invalid/v2/"), "does not resolve", "DNS"),
    (ConnectionFailed("GET https://10.1.2.3/v2/ timed out (connect 5s, read 30s)", url="https://10.1.2.3/v2/",
                      kind="timeout"), "timed out", "firewall"),
])
def test_network_errors_in_one_plain_line(exc, why, check):
    """Before: urllib3's `HTTPConnection(host=...): Failed to establish ... [Errno 111]` text."""
    message = error_message(exc, rx.parse_reference(f"{exc.url.split('/')[2]}/a/b:c"))
    host = exc.url.split("/")[2]
    assert message.startswith(f"Network error: could not talk to {host}: ")
    assert why in message and check in message
    assert "\n" not in message and "Errno" not in message and "HTTPConnection" not in message
    assert "HTTPSConnection" not in message and message.count(host) == 1


def test_network_error_from_a_real_refused_port():
    state = ExplorerState(rx.Client(docker_config={}, timeout=5))
    assert not state.resolve("127.0.0.1:9/test/single:v1")
    assert state.error.startswith("Network error: could not talk to 127.0.0.1:9: the connection was refused;")
    assert "Errno" not in state.error and "\n" not in state.error


def test_tls_network_errors_keep_the_library_hint():
    exc = ConnectionFailed("TLS failed for r.example:443: CERTIFICATE_VERIFY_FAILED. If the registry uses a "
                           "private CA pass ca_bundle='/path/ca.pem'; to skip verification add 'r.example:443' to "
                           "insecure=.", url="https://r.example:443/v2/", kind="tls-verify")
    message = error_message(exc)
    assert "ca_bundle=" in message and "insecure=" in message


def test_generic_unauthorized_keeps_its_advice():
    exc = Unauthorized("unauthorized: GET https://r.example/v2/ (UNAUTHORIZED). To authenticate, pass "
                       "rx.Client(credentials={'r.example': ('user', 'password')}), or log in.", status=401)
    assert "docker login" in error_message(exc, rx.parse_reference("r.example/a:b"))


def test_cancel_is_information_not_an_error(open_registry, host, images, tmp_path):
    """Before: a Cancel the user clicked showed in red, as an error."""
    big = images["single"].extra["big_layer"]
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    ex.select([big.digest])
    ex.state.observe(lambda change: ex.cancel(), names="progress")
    assert ex.fetch(dest=str(tmp_path / "out"))
    assert ex.wait(10)
    assert ex.state.error == "" and ex.state.status == CANCELLED
    assert find(ex, "rx-error").value == ""
    assert CANCELLED in find(ex, "rx-status").value


# -- the HTTP tab ------------------------------------------------------------------------------------


def test_http_tab_labels_the_https_probe_and_the_referrers_fallback(open_registry, host):
    """Before: the https probe of a plain-http registry and the referrers 404s showed as red failures."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    assert ex.state.load_referrers()
    ex.state.refresh_trace()
    ex._render_trace()
    table = find(ex, "rx-trace").value
    df = ex.state.trace
    probe = df[(df["purpose"] == "ping") & df["url"].str.startswith("https://")]
    assert len(probe) == 1 and isinstance(probe.iloc[0]["error"], str), "the sandbox is plain http: one failed probe"
    assert "https probe: no TLS on this port" in table
    assert "no referrers API here" in table and "no referrers tag" in table
    # Nothing expected is painted red: the error class appears on no row.
    assert 'class="rx-err"' not in table, table
    # The curl picker labels them the same way.
    labels = [label for label, _ in find(ex, "rx-trace-select").options]
    assert any("https probe" in label for label in labels)


def test_curl_picker_and_table_list_exchanges_in_one_order(open_registry, host):
    """Before: the picker listed the newest first, the table the oldest first."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    ex.state.refresh_trace()
    ex._render_trace()
    picker = [seq for _, seq in find(ex, "rx-trace-select").options]
    table = list(ex.state.trace.tail(render.TRACE_ROWS)["seq"])
    assert len(picker) >= 3 and picker == table


# -- stale state ---------------------------------------------------------------------------------------


def test_resolve_during_a_fetch_is_blocked_with_a_message(open_registry, host, images, tmp_path, monkeypatch):
    """Before: the new image's layers appeared next to the old fetch's bars and success message."""
    state = ExplorerState(client_for(open_registry))
    assert state.resolve(f"{host}/test/single:v1")
    shown = state.manifest.digest
    state.select([0])
    gate, entered = threading.Event(), threading.Event()
    real = state.client.fetch_blobs

    def slow_fetch(*args, **kwargs):
        entered.set()
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(state.client, "fetch_blobs", slow_fetch)
    assert state.fetch(dest=str(tmp_path / "out"))
    assert entered.wait(10) and state.fetching
    assert not state.resolve(f"{host}/test/multi:v1")
    assert "a fetch from" in state.error and "Cancel" in state.error
    assert state.manifest.digest == shown and state.reference == f"{host}/test/single:v1"
    assert state.back_stack == [], "a refused resolve must not enter the history"
    gate.set()
    assert state.wait(10)
    assert state.status.startswith("Fetched and verified 1 blob") and state.manifest.digest == shown
    # After the fetch, resolving works again.
    assert state.resolve(f"{host}/test/multi:v1") and state.manifest.digest != shown


def test_files_filter_resets_when_the_image_changes(open_registry, host):
    """Before: a filter typed for one image stayed set, and the next image's list was empty."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    state = ex.state
    assert state.load_files()
    state.filter_files("no-such-path-anywhere")
    assert state.files == [] and state.files_total > 0
    assert find(ex, "rx-files-filter").value == "no-such-path-anywhere"
    assert "filtered: 0 of" in ex.files_count.value
    assert state.resolve(f"{host}/test/multi:v1")
    assert state.file_filter == "" and find(ex, "rx-files-filter").value == ""
    assert state.load_files()
    assert len(state.files) == state.files_total > 0
    assert "filtered" not in ex.files_count.value


# -- wording -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "word", "text"), [
    (1, "layer", "1 layer"), (2, "layer", "2 layers"), (1, "entry", "1 entry"), (2, "entry", "2 entries"),
    (6, "entry", "6 entries"), (1, "history entry", "1 history entry"), (3, "history entry", "3 history entries"),
    (0, "referrer", "0 referrers"), (2, "key", "2 keys"), (2, "verified file", "2 verified files"),
])
def test_one_plural_helper(n, word, text):
    assert plural(n, word) == text


def test_panes_count_in_good_english(open_registry, host):
    """Before: '1 layers', '1 history entries', '2 entrys'."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/multi:v1")
    assert "<h4>1 layer" in find(ex, "rx-layers-table").value
    layers = pd.DataFrame([{"index": 0, "digest": "sha256:" + "a" * 64, "media_type": "x", "compression": "gzip",
                            "size": 401, "size_human": "401 B", "created_by": None}])
    assert "<h4>1 layer — 401 B compressed</h4>" in render.layers_table(layers)
    history = pd.DataFrame([{"created": None, "created_by": "x", "empty_layer": False, "layer_digest": None}])
    assert "1 history entry<" in render.history_table(history)
    assert "1 verified file<" in render.fetched_list(["/tmp/x"])
    assert ex.state.load_files()
    assert "entrys" not in ex.state.status and "entrys" not in ex.files_count.value
    assert ex.state.status.endswith(f"has {plural(ex.state.files_total, 'entry')}.")


def test_sizes_never_wrap():
    """Before: '401 B' could wrap as '401 / B' in a narrow column."""
    layers = pd.DataFrame([{"index": 0, "digest": "sha256:" + "a" * 64, "media_type": "x", "compression": "gzip",
                            "size": 401, "size_human": "401 B", "created_by": None}])
    html = render.layers_table(layers)
    assert 'style="white-space:nowrap" title="401 bytes">401 B</span>' in html


def test_save_to_says_where_before_the_fetch(open_registry, host, tmp_path, monkeypatch):
    """Before: an empty 'Save to' silently meant the notebook's folder."""
    monkeypatch.chdir(tmp_path)
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    note = find(ex, "rx-dest-note")
    # Not the notebook's folder (a checkout, often): the user's downloads (issue 26).
    assert note.value == f"Saves into {Path(os.environ['XDG_DOWNLOAD_DIR']) / 'registry-explorer'}"
    assert not note.value.startswith(f"Saves into {Path(__file__).resolve().parents[1]}")
    find(ex, "rx-dest").value = ""
    assert note.value == f"Saves into the notebook's folder, {Path.cwd()}"
    find(ex, "rx-dest").value = "~/x"
    assert note.value == f"Saves into {Path('~/x').expanduser()}"


# -- layout hooks ---------------------------------------------------------------------------------------


def test_wide_panes_scroll_and_the_descriptor_card_collapses(open_registry, host):
    """Before: wide tables were cut off on a narrow screen; the card could not be folded away."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/multi:v1")
    for cls in ("rx-layers-table", "rx-descriptor", "rx-trace", "rx-history", "rx-config"):
        widget = find(ex, cls)
        assert "rx-scroll" in widget._dom_classes and widget.layout.overflow_x == "auto", cls
    card = find(ex, "rx-descriptor-card")
    assert card.selected_index == 0 and card.titles[0].startswith("Descriptor: OCI image index sha256:")
    card.selected_index = None  # the user folds it away; a new resolve keeps it folded
    assert ex.resolve(f"{host}/test/single:v1")
    assert card.selected_index is None and "OCI image manifest" in card.titles[0]


def test_saved_notebook_fallback_shows_the_image(open_registry, host):
    """Before: an unrun notebook showed `Explorer(children=(HBox(...` for the widget."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/multi:v1")
    data = ex._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert "application/vnd.jupyter.widget-view+json" in data
    assert not data["text/plain"].startswith("Explorer(children=")
    assert data["text/plain"].startswith(f"Explorer: {host}/test/multi:v1 is an OCI image index")
    html = data["text/html"]
    assert ex.state.descriptor.digest in html and "<style" not in html
    assert html.count(ex.state.descriptor.digest) == 1, "the digest is printed once"
    for digest in ex.state.layers["digest"]:
        assert digest in html


def test_reference_field_refused_during_a_fetch_goes_back(open_registry, host, tmp_path, monkeypatch):
    """The field never names an image that is not on screen, and the same text can be submitted again."""
    ex = rx.Explorer(client_for(open_registry), f"{host}/test/single:v1")
    shown = ex.state.manifest.digest
    gate, entered = threading.Event(), threading.Event()
    real = ex.state.client.fetch_blobs

    def slow_fetch(*args, **kwargs):
        entered.set()
        assert gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(ex.state.client, "fetch_blobs", slow_fetch)
    ex.select([0])
    assert ex.fetch(dest=str(tmp_path / "out")) and entered.wait(10)
    field = find(ex, "rx-reference")
    field.value = f"{host}/test/multi:v1"
    assert "a fetch from" in find(ex, "rx-error").value
    assert field.value == f"{host}/test/single:v1" and ex.state.manifest.digest == shown
    gate.set()
    assert ex.wait(10)
    field.value = f"{host}/test/multi:v1"
    assert ex.state.manifest.digest != shown and ex.state.error == ""
