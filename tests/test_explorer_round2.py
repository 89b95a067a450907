"""Issue 26 headless: the state behind each defect, and the dive-like Files tab, without a browser.

The browser tests (tests/test_browser_round2.py) show each defect as a student meets it; these pin the
decisions in the state and the pure tree, fast. Each test says what it saw before the fix.
"""

from __future__ import annotations

import threading
import time

import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.layers import Entry
from registry_explorer.sandbox import samples_supply as ss
from registry_explorer.sandbox.push import _Client, push_image
from registry_explorer.sandbox.samples import OCI_MANIFEST, Blob, dumps
from registry_explorer.supply.cosign import CERTIFICATE_ANNOTATION, SIGNATURE_ANNOTATION, tag_for
from registry_explorer.widgets import ExplorerState
from registry_explorer.widgets.filetree import DIR_PAGE, MORE, FileTree, hexdump
from registry_explorer.widgets.signatures import KEYLESS, NO_KEY

pytestmark = pytest.mark.integration


def _f(path: str, size: int = 10, kind: str = "file", whiteout: str | None = None) -> Entry:
    return Entry(path, kind, size, 0o755 if kind == "dir" else 0o644, 0, 0, 0.0, whiteout=whiteout)


@pytest.fixture
def state(open_registry):
    return ExplorerState(client_for(open_registry))


def _slow_fetch(state, monkeypatch):
    gate, entered = threading.Event(), threading.Event()
    real = state.client.fetch_blobs

    def slow(*args, **kwargs):
        entered.set()
        assert gate.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(state.client, "fetch_blobs", slow)
    return gate, entered


# -- defect 1: a refused resolve names the image asked for, and its box goes when the fetch ends ------------


def test_refused_resolve_names_the_image_asked_for_and_clears(state, open_registry, tmp_path, monkeypatch):
    """Before: 'A fetch of <running> is running; resolving <running> ...' and the red box stayed."""
    host = open_registry.host
    assert state.resolve(f"{host}/test/single:v1")
    state.select([0])
    gate, entered = _slow_fetch(state, monkeypatch)
    assert state.fetch(dest=str(tmp_path))
    assert entered.wait(10)
    assert not state.resolve(f"{host}/test/multi:v1")
    assert f"Not resolving {host}/test/multi:v1: a fetch from {host}/test/single@sha256:" in state.error
    assert state.status.startswith("Fetching 1 blob"), "the status line keeps saying what runs"
    gate.set()
    assert state.wait(10)
    assert state.error == "", "the refusal is out of date once the fetch ended"
    assert state.status.startswith("Fetched and verified 1 blob")


def test_click_after_a_refused_blur_is_the_same_click(state, open_registry, tmp_path, monkeypatch):
    """Before: the field went back to the running image, and the click then resolved *that* one."""
    host = open_registry.host
    assert state.resolve(f"{host}/test/single:v1")
    state.select([0])
    gate, entered = _slow_fetch(state, monkeypatch)
    assert state.fetch(dest=str(tmp_path)) and entered.wait(10)
    assert not state.submit_text(f"{host}/test/multi:v1")  # the blur
    assert not state.click_resolve(state.reference)  # the click lands on the field put back by the view
    assert "test/multi:v1" in state.error and "Not resolving" in state.error
    gate.set()
    assert state.wait(10)


# -- defect 2: history holds only what loaded ------------------------------------------------------------------


def test_failed_references_never_enter_the_history(state, open_registry):
    """Before: back() re-requested each failed reference, showed its error again and blanked the panes."""
    host = open_registry.host
    assert state.resolve(f"{host}/test/single:v1")
    assert not state.resolve(f"{host}/test/single:nope")
    assert not state.resolve(f"{host}/test/nothing-here:v1")
    assert state.back_stack == [(f"{host}/test/single:v1", None)]
    assert state.back() and state.reference == f"{host}/test/single:v1" and state.error == ""
    assert state.forward_stack == [] and not state.forward()
    assert state.resolve(f"{host}/test/multi:v1")
    assert state.back() and state.forward() and state.reference == f"{host}/test/multi:v1"
    assert [e[0] for e in state.back_stack] == [f"{host}/test/single:v1"]


# -- defect 5: the last fetch's bars belong to its image ------------------------------------------------------


def test_progress_of_another_image_goes_and_the_files_say_where_from(state, open_registry, tmp_path):
    """Before: bars and 'N verified files' stayed under the next image, naming none."""
    host = open_registry.host
    assert state.resolve(f"{host}/test/single:v1")
    state.select([0])
    assert state.fetch(background=False, dest=str(tmp_path))
    assert state.progress and state.overall[1] > 0
    assert state.fetched_from.startswith(f"{host}/test/single@sha256:")
    assert state.resolve(f"{host}/test/multi:v1")
    assert state.progress == {} and state.overall == (0, 0)
    assert state.fetched and state.fetched_from.startswith(f"{host}/test/single@")


# -- defect 8: wording ------------------------------------------------------------------------------------------


def test_messages_say_what_to_do(open_registry, htpasswd_registry):
    """Before: 'Unauthorized' three times and '(R4)'; 'your credentials were rejected' with no next step;
    the missing digest sent the student to the Tags tab."""
    reg = htpasswd_registry
    wrong = ExplorerState(rx.Client(credentials={reg.host: (reg.auth[0], "wrong")}, insecure=(reg.host,),
                                    docker_config={}))
    assert not wrong.resolve(f"{reg.host}/test/single:v1")
    assert "Unauthorized" not in wrong.error and "(R" not in wrong.error
    assert "docker login" in wrong.error or "rx.Client(credentials=" in wrong.error, wrong.error
    state = ExplorerState(client_for(open_registry))
    assert not state.resolve(f"{open_registry.host}/test/single@sha256:" + "0" * 64)
    assert "Tags tab" not in state.error and "copied whole" in state.error


def test_files_tab_of_a_big_image_says_click_list_files(state, open_registry, monkeypatch):
    """Before: an empty box."""
    monkeypatch.setattr("registry_explorer.widgets.tabs.AUTO_LIST_BYTES", 10)
    assert state.resolve(f"{open_registry.host}/test/single:v1")
    state.open_tab("Files")
    assert state.files_total == 0 and "Click List files" in state.files_hint()


# -- defect 10: the verification status of each signature ------------------------------------------------------


@pytest.fixture(scope="module")
def signed(open_registry):
    img = ss.build_supply()
    push_image(open_registry.url, img, verify=open_registry.verify, repository="supply/round2")
    return img, f"{open_registry.host}/supply/round2:{ss.TAG}"


def _signature_rows(state):
    return [r for r in state.supply if r["kind"] == "signature"]


def test_supply_tab_says_verified_with_which_key(open_registry, signed):
    """Before: a signature row showed its payload, and nothing about whether it verified."""
    img, ref = signed
    state = ExplorerState(client_for(open_registry))
    assert state.resolve(ref) and state.load_supply()
    (row,) = _signature_rows(state)
    assert row["verification"] == NO_KEY and not row["verified"]
    state.public_key = ss.public_key_pem()
    assert state.load_supply()
    (row,) = _signature_rows(state)
    assert row["verified"] and row["verification"].startswith("verified with key sha256:"), row
    assert "1 of 1 signature verified" in state.status
    state.public_key = ss.public_key_pem(ss.signing_key(b"someone else"))
    assert state.load_supply()
    (row,) = _signature_rows(state)
    assert not row["verified"] and "another key" in row["verification"], row


def test_supply_tab_says_keyless_is_not_verified_offline(open_registry):
    img = ss.build_supply()
    repo = "supply/keyless"
    push_image(open_registry.url, img, verify=open_registry.verify, repository=repo)
    payload = ss.simple_signing_payload(img.root.digest)
    config, _ = ss.signature_manifest(payload, "c2ln")
    manifest = Blob(OCI_MANIFEST, dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
        "layers": [payload.descriptor(annotations={SIGNATURE_ANNOTATION: "c2ln",
                                                   CERTIFICATE_ANNOTATION: "-----BEGIN CERTIFICATE-----\n"})]}))
    up = _Client(open_registry.url, repo, auth=None, verify=open_registry.verify, session=None)
    for blob in (payload, config):
        up.upload_blob(blob)
    up.put_manifest(tag_for(img.root.digest, "sig"), manifest)
    state = ExplorerState(client_for(open_registry))
    state.public_key = ss.public_key_pem()
    assert state.resolve(f"{open_registry.host}/{repo}:{ss.TAG}") and state.load_supply()
    (row,) = _signature_rows(state)
    assert row["verification"] == KEYLESS and not row["verified"]


# -- the Files tab as dive shows it ----------------------------------------------------------------------------


def _marks(tree: FileTree) -> dict[str, str]:
    return {p: n.change for p, n in tree.nodes.items()}


def test_tree_of_the_wasteful_image(state, open_registry):
    """Layer views mark what each layer did against the ones below; wasted space is dive's."""
    assert state.resolve(f"{open_registry.host}/test/wasteful:v1")
    assert state.load_files(2)
    marks = _marks(state._tree)
    assert marks["app/big.bin"] == "removed" and marks["cache/old.tmp"] == "removed"
    assert marks["cache/new.txt"] == "added" and marks["app/keep.txt"] == ""
    assert "adds 1, modifies 0 and removes 2" in state.tree_summary
    assert state.load_files(1)
    assert _marks(state._tree)["app/big.bin"] == "modified" and state._tree.nodes["app/big.bin"].wasted
    assert "wasted space 146.5 KiB" in state.tree_summary
    assert state.load_files()  # merged: each entry by what its own layer did
    marks = _marks(state._tree)
    assert "app/big.bin" not in marks and marks["cache/new.txt"] == "added" and marks["app/keep.txt"] == "added"


def test_tree_rows_open_folders_and_colour_marks(state, open_registry):
    assert state.resolve(f"{open_registry.host}/test/wasteful:v1") and state.load_files(2)
    labels = [r["label"] for r in state.tree_rows]
    assert [r["path"] for r in state.tree_rows] == ["app", "cache"], labels
    assert state.choose_row("app")
    rows = {r["path"]: r["label"] for r in state.tree_rows}
    assert rows["app/big.bin"].startswith("- ") and rows["app/keep.txt"].startswith("  ")
    state.changes_only = True
    assert "app/keep.txt" not in [r["path"] for r in state.tree_rows]
    assert state.choose_row("cache")
    assert {r["path"]: r["label"] for r in state.tree_rows}["cache/new.txt"].startswith("+ ")
    state.file_filter = "new"
    assert [r["path"] for r in state.tree_rows] == ["cache/new.txt"]


def test_preview_shows_text_and_binary_as_hex(state, open_registry):
    assert state.resolve(f"{open_registry.host}/test/wasteful:v1") and state.load_files()
    assert state.choose_row("app") and state.choose_row("app/keep.txt")
    info = state.file_info
    assert info["content"] is None and info["hex"].startswith("00000000  ")
    assert "hex dump" in info["note"] and info["verified_by"]


def test_a_big_folder_shows_a_page_at_a_time():
    n = 100_000
    entries = [_f("node_modules", kind="dir")] + [_f(f"node_modules/pkg{i:06d}/index.js") for i in range(n)]
    t0 = time.perf_counter()
    tree = FileTree.build([(0, "sha256:" + "a" * 64, entries)])
    built = time.perf_counter() - t0
    rows = tree.rows(set())
    assert [r["path"] for r in rows] == ["node_modules"]
    rows = tree.rows({"node_modules"})
    assert len(rows) == 1 + DIR_PAGE + 1 and rows[-1]["path"] == MORE + "node_modules"
    assert "99,500 more" in rows[-1]["label"]
    rows = tree.rows({"node_modules"}, pages={"node_modules": 2 * DIR_PAGE})
    assert len(rows) == 2 + 2 * DIR_PAGE
    print(f"\n[tree] {n:,} entries built in {built:.2f}s")


def test_hexdump_has_offsets_and_ascii():
    out = hexdump(bytes(range(20)) + b"ELF", limit=4096).splitlines()
    assert out[0].startswith("00000000  00 01 02 03 04 05 06 07  08 09")
    assert out[1].startswith("00000010  10 11 12 13") and out[1].endswith("|....ELF|")
    assert hexdump(b"x" * 40, limit=16).splitlines()[-1] == "… 24 more bytes not shown"
