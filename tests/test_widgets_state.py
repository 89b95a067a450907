"""ExplorerState driven headlessly (no kernel, no ipywidgets) against the real test registries."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from helpers.clients import PRIVATE_REPO, client_for
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.sandbox.push import push_image
from registry_explorer.widgets import ExplorerState
from registry_explorer.widgets.labels import default_platform, platform_entries
from registry_explorer.widgets.messages import CANCELLED

pytestmark = pytest.mark.integration


def sha256_file(path: str) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def state(open_registry):
    return ExplorerState(client_for(open_registry))


@pytest.fixture
def host(open_registry):
    return open_registry.host


def test_resolve_single_platform_image(state, host, images):
    img = images["single"]
    assert state.resolve(f"{host}/test/single:v1")
    assert state.error == ""
    assert not state.busy
    assert state.descriptor.digest == img.digest
    assert state.index is None and state.manifest.digest == img.digest
    assert state.config.user == "1000:1000"
    assert list(state.layers["digest"]) == [b.digest for b in img.extra["layers"]]
    assert state.platforms == ["linux/amd64"] and state.platform == "linux/amd64"
    assert "OCI image manifest" in state.status and "3 layers" in state.status
    labels = [label for label, _ in state.choices]
    assert labels[0].startswith("0  " + img.extra["layers"][0].digest[:19])
    assert labels[-1].startswith("config  " + img.extra["config_blob"].digest[:19])
    assert state.build_history is not None and len(state.build_history) == 6


def test_resolve_multi_platform_image_marks_attestation(state, host, images):
    img = images["multi"]
    assert state.resolve(f"{host}/test/multi:v1")
    assert state.descriptor.digest == img.digest and state.index is not None
    assert state.platforms[:3] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    att = state.platforms[3]
    assert att.startswith("unknown/unknown (attestation for sha256:")
    assert img.extra["platforms"]["linux/amd64"][7:19] in att
    assert state.platform == "linux/amd64", "the default is linux/amd64, never the attestation"
    assert state.manifest.digest == img.extra["platforms"]["linux/amd64"]
    assert "3 platforms and 1 attestation" in state.status


def test_choose_platform_changes_layers(state, host, images):
    img = images["multi"]
    state.resolve(f"{host}/test/multi:v1")
    amd64_layers = list(state.layers["digest"])
    assert state.choose_platform("linux/arm64")
    assert state.platform == "linux/arm64"
    assert state.manifest.digest == img.extra["platforms"]["linux/arm64"]
    assert state.config.architecture == "arm64"
    assert list(state.layers["digest"]) != amd64_layers
    assert list(state.layers["digest"]) == [d.digest for d in state.manifest.layers]
    # Platform strings are matched like the client does: plain "linux/arm" means arm/v7.
    assert state.choose_platform("linux/arm") and state.platform == "linux/arm/v7"
    # An attestation can still be chosen explicitly.
    assert state.choose_platform(state.platforms[3])
    assert state.manifest.digest == img.extra["attestation"] and state.config.os == "unknown"
    assert not state.choose_platform("windows/amd64")
    assert "No image for platform windows/amd64" in state.error


def test_default_platform_never_an_attestation():
    att = rx.Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "a" * 64, 10,
                        annotations={"vnd.docker.reference.digest": "sha256:" + "b" * 64,
                                     "vnd.docker.reference.type": "attestation-manifest"},
                        platform=rx.Platform("unknown", "unknown"))
    arm = rx.Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "c" * 64, 10,
                        platform=rx.Platform("linux", "arm64"))
    entries = platform_entries([att, arm])
    assert entries[0][0] == "unknown/unknown (attestation for sha256:bbbbbbbbbbbb…)"
    assert default_platform(entries) == "linux/arm64"
    assert default_platform(platform_entries([att])) is None


def test_select_and_fetch_two_layers_verified(state, host, images, tmp_path):
    img = images["single"]
    state.resolve(f"{host}/test/single:v1")
    wanted = [img.extra["layers"][0].digest, img.extra["layers"][2].digest]
    assert state.select([0, 2]) == wanted and state.selected == wanted
    state.dest = str(tmp_path / "out")
    assert state.fetch()  # background by default
    assert state.wait(10) and not state.fetching and not state.busy
    assert state.error == "", state.error
    assert len(state.fetched) == 2
    for path, digest in zip(state.fetched, wanted):
        assert Path(path).is_absolute() and Path(path).is_file()
        assert sha256_file(path) == digest
    total = sum(b.size for b in img.blobs.values() if b.digest in wanted)
    assert state.overall == (total, total)
    assert all(done == size for done, size in state.progress.values())
    assert state.status.startswith("Fetched and verified 2 blobs")
    # The config is selectable too.
    assert state.select(["config"]) == [img.extra["config_blob"].digest]
    with pytest.raises(ValueError):
        state.select([7])
    with pytest.raises(ValueError):
        state.select(["sha256:" + "0" * 64])


def test_cancel_fetch_removes_partial_file(state, host, images, tmp_path):
    big = images["single"].extra["big_layer"]
    assert big.size > 2 << 20
    state.resolve(f"{host}/test/single:v1")
    state.select([big.digest])
    dest = tmp_path / "out"
    # Cancel on the first progress report: the download is then at most one chunk in.
    state.observe(lambda change: state.cancel(), names="progress")
    assert state.fetch(dest=str(dest))
    assert state.wait(10)
    # A cancel the user asked for is information (the status line), not an error (issue 16).
    assert state.error == ""
    assert state.status == CANCELLED == "Fetch cancelled; partial files removed."
    assert state.fetched == []
    assert list(dest.iterdir()) == [], "no partial file is left behind"
    assert state.progress[big.digest][0] < big.size


def test_fetch_needs_a_selection(state, host):
    assert not state.fetch()
    assert "Resolve an image first" in state.error
    state.resolve(f"{host}/test/single:v1")
    assert not state.fetch()
    assert "Select at least one layer" in state.error


def test_bad_reference_message(state):
    assert not state.resolve("ghcr.io/Org/App:v1")
    assert state.error.startswith("'ghcr.io/Org/App:v1' is not a valid image reference")
    assert "lower-case" in state.error and "Expected" in state.error
    assert state.status == state.error and "Traceback" not in state.error
    assert state.manifest is None and not state.busy


def test_unknown_tag_and_repository_messages(state, host):
    assert not state.resolve(f"{host}/test/single:nope")
    assert state.error.startswith(f"Not found: {host}/test/single:nope does not exist on {host}")
    assert not state.resolve(f"{host}/test/nothing-here:v1")
    assert state.error.startswith("Not found:")


def test_unauthorized_message(token_registry):
    state = ExplorerState(client_for(token_registry, anonymous=True))
    assert not state.resolve(f"{token_registry.host}/{PRIVATE_REPO}:v1")
    assert state.error.startswith(f"Unauthorized: {token_registry.host} wants credentials")
    assert "rx.Client(credentials=" in state.error and "docker login" in state.error


def test_network_error_message():
    state = ExplorerState(rx.Client(docker_config={}, timeout=5))
    assert not state.resolve("127.0.0.1:9/test/single:v1")
    assert state.error.startswith("Network error: could not talk to 127.0.0.1:9")
    assert "\n" not in state.error


def test_digest_mismatch_messages(open_registry, images, tmp_path):
    store = {d: b.data for img in images.values() for d, b in img.blobs.items()}
    with FaultProxy(open_registry.url, blob_store=store) as proxy:
        state = ExplorerState(rx.Client(insecure=(proxy.host,), docker_config={}))
        assert state.resolve(f"{proxy.host}/test/single:v1")
        state.select([0])
        proxy.flip_blob = True
        dest = tmp_path / "out"
        assert not state.fetch(background=False, dest=str(dest))
        layer = images["single"].extra["layers"][0].digest
        assert state.error.startswith(f"Digest mismatch for blob {layer}: expected {layer} but the bytes hash to")
        assert "nothing was kept" in state.error
        assert list(dest.iterdir()) == [] and state.fetched == []
        # The config is a blob too: a corrupted one fails the resolve with the same kind of message.
        assert not state.resolve(f"{proxy.host}/test/zstd:v1")
        assert state.error.startswith("Digest mismatch for blob")


def test_trace_rows_and_curl(open_registry, host):
    # cache=False: documents fetched by digest are served from the (default) on-disk cache once
    # another test fetched them, and this test is about the rows of requests actually made.
    state = ExplorerState(client_for(open_registry, cache=False))
    assert len(state.trace) == 0
    state.resolve(f"{host}/test/single:v1")
    purposes = list(state.trace["purpose"])
    assert {"resolve", "manifest", "config"} <= set(purposes)
    first = int(state.trace["seq"].iloc[0])  # the https probe of a plain-http port: nothing answered
    assert state.curl(first).startswith(f"# GET https://{host}/v2/: no response") and "nothing to replay" in state.curl(first)
    resolve = int(state.trace[state.trace["purpose"] == "resolve"]["seq"].iloc[0])
    assert state.curl(resolve).startswith("curl ") and host in state.curl(resolve)
    assert state.curl(10_000) == ""


def _tags_dir(reg, repo: str) -> Path:
    """Where distribution 2.8's filesystem driver keeps a repository's tags."""
    return reg.storage / "docker" / "registry" / "v2" / "repositories" / repo / "_manifests" / "tags"


def test_tags_load_lazily_and_page(state, host, images, open_registry):
    state.resolve(f"{host}/test/single:v1")
    assert state.tags == [] and "tags" not in set(state.trace["purpose"]), "nothing listed until asked"
    # The independent answer is the registry's storage (one directory per tag); sbom and v1 are the seeded ones.
    every = sorted(p.name for p in _tags_dir(open_registry, "test/single").iterdir())
    assert {"sbom", "v1"} <= set(every)
    assert state.load_tags(page_size=1)
    assert state.tags == every[:1] and state.tags_more
    assert state.more_tags()
    assert state.tags == every[:2]
    while state.tags_more:
        state.more_tags()
    assert state.tags == every
    assert state.open_tag("sbom")
    assert state.manifest.digest == images["artifact"].digest
    assert state.tags == every, "tags stay while the repository does"


def test_back_and_forward(state, host, images):
    assert not state.back() and not state.forward()
    state.resolve(f"{host}/test/single:v1")
    state.resolve(f"{host}/test/multi:v1")
    state.choose_platform("linux/arm64")
    assert len(state.back_stack) == 1 and state.forward_stack == []
    assert state.back()
    assert state.reference == f"{host}/test/single:v1" and state.descriptor.digest == images["single"].digest
    assert len(state.forward_stack) == 1
    assert state.forward()
    assert state.reference == f"{host}/test/multi:v1"
    assert state.platform == "linux/arm64", "the platform chosen there comes back too"
    state.back()
    state.resolve(f"{host}/test/zstd:v1")
    assert state.forward_stack == [], "a new resolve drops the forward history"


def test_open_referrer_and_subject(state, host, images, open_registry):
    art, single = images["artifact"], images["single"]
    fallback = single.digest.replace(":", "-")  # OCI distribution-spec referrers tag schema
    # distribution 2.8 has no referrers API, and test/single has no fallback tag on disk: so no referrers.
    assert not (_tags_dir(open_registry, "test/single") / fallback).exists()
    state.resolve(f"{host}/test/single:v1")
    assert state.load_referrers() and state.error == ""
    assert state.referrers == []
    # In a repository of our own, write the fallback index: then the seeded artifact is the one referrer.
    push_image(open_registry.url, single, repository="test/widget-referred")
    push_image(open_registry.url, art, repository="test/widget-referred")
    index = {"schemaVersion": 2, "mediaType": rx.mediatypes.OCI_INDEX,
             "manifests": [art.root.descriptor(artifactType="application/spdx+json")]}
    r = requests.put(f"{open_registry.url}/v2/test/widget-referred/manifests/{fallback}", data=json.dumps(index),
                     headers={"Content-Type": rx.mediatypes.OCI_INDEX}, timeout=30, verify=False)
    assert r.status_code == 201
    state.resolve(f"{host}/test/widget-referred:v1")
    assert state.load_referrers() and state.error == ""
    assert [r["digest"] for r in state.referrers] == [art.digest]
    assert state.open_referrer(art.digest)
    assert state.descriptor.digest == art.digest
    assert state.manifest.artifact_type == "application/spdx+json"
    assert state.config is None, "an artifact's empty config is not parsed as an image config"
    assert state.subject.digest == single.digest
    assert state.open_subject()
    assert state.manifest.digest == single.digest
    assert state.back() and state.manifest.digest == art.digest


def test_files_merged_layer_and_preview(state, host):
    state.resolve(f"{host}/test/single:v1")
    assert state.load_files()
    paths = [r["path"] for r in state.files]
    assert "etc/os-release" in paths and "old" not in paths, "whiteouts are applied in the merged view"
    assert "opt/app/stale.txt" not in paths and "opt/app/config.json" in paths
    state.filter_files("etc/")
    assert state.files and all("etc/" in r["path"] for r in state.files)
    assert state.select_file("etc/motd")
    assert state.file_info["content"] == "Welcome to the registry-explorer test image.\n"
    assert state.file_info["layer_index"] == 2
    assert state.select_file("etc/hostname") and state.file_info["content"] == "rxtest\n"
    state.filter_files("*.bin")
    assert [r["path"] for r in state.files] == ["var/lib/data/random.bin"]
    assert state.select_file("var/lib/data/random.bin")
    assert state.file_info["content"] is None and "too large" in state.file_info["note"]
    assert state.load_files(0)
    assert state.file_filter == "*.bin" and state.files == []
    state.filter_files("")
    assert "old" in [r["path"] for r in state.files], "one layer's listing shows what it holds"


def test_files_of_a_zstd_layer(state, host):
    state.resolve(f"{host}/test/zstd:v1")
    assert state.load_files(0)
    assert state.select_file("etc/zstd.txt")
    assert state.file_info["content"].startswith("this layer is compressed with zstd\n")


def test_fetch_runs_in_background_with_throttled_progress(state, host, images, tmp_path, monkeypatch):
    state.resolve(f"{host}/test/single:v1")
    state.select([0, 1])
    release = threading.Event()
    descs = state.manifest.layers[:2]

    def slow_fetch(ref, descriptors, dest, *, progress=None, cancel=None):
        for d in descriptors:  # a burst of 1000 reports per blob, far faster than 10 per second
            for i in range(1, 1001):
                progress(d, d.size * i // 1000, d.size)
        assert release.wait(10), "the test never released the fetch"
        return [Path(dest) / d.digest.replace(":", "-") for d in descriptors]

    monkeypatch.setattr(state.client, "fetch_blobs", slow_fetch)
    updates = []
    state.observe(lambda change: updates.append(dict(change["new"])), names="progress")
    assert state.fetch(dest=str(tmp_path))
    assert state.fetching and state.busy, "fetch() returned while the download still runs"
    release.set()
    assert state.wait(10) and not state.fetching and not state.busy
    # Per blob: the first report and the final one get through the throttle, plus the final snapshot.
    assert 2 <= len(updates) <= 20, len(updates)
    assert updates[-1] == {d.digest: (d.size, d.size) for d in descs}
    assert state.overall == (sum(d.size for d in descs),) * 2
    assert state.fetched == [str(tmp_path / d.digest.replace(":", "-")) for d in descs]


def test_state_does_not_import_ipywidgets():
    code = "import sys, registry_explorer.widgets.state; assert 'ipywidgets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_artifact_has_no_files_to_list(state, host, images):
    state.resolve(f"{host}/test/single:sbom")
    assert not state.load_files()
    assert state.error == ("Layer 0 is application/spdx+json, not a filesystem layer; it has no files to list.")


def test_works_with_an_oci_layout_source(tmp_path, images):
    from registry_explorer.sandbox.samples import write_layout
    from registry_explorer.sources import layout  # our own module: a missing one is a failure, never a skip

    write_layout([images["single"], images["artifact"]], tmp_path / "layout")
    state = ExplorerState(layout.Layout(tmp_path / "layout"))
    assert state.resolve("v1"), state.error
    assert state.manifest.digest == images["single"].digest and len(state.trace) == 0
    assert state.load_tags() and state.tags == ["sbom", "v1"]
    assert state.load_referrers() and [r["digest"] for r in state.referrers] == [images["artifact"].digest]
    assert state.open_referrer(state.referrers[0]["digest"])
    assert state.subject.digest == images["single"].digest
    assert state.back() and state.reference == "v1"
    state.select([0])
    assert state.fetch(background=False, dest=str(tmp_path / "out"))
    assert sha256_file(state.fetched[0]) == images["single"].extra["layers"][0].digest
    assert state.load_files() and "etc/motd" in [r["path"] for r in state.files]


def test_refresh_keeps_the_selection(state, host, images):
    state.resolve(f"{host}/test/single:v1")
    state.select([0, "config"])
    kept = list(state.selected)
    state.resolve(f"{host}/test/single:v1")  # a refresh of the same tag: same blobs
    assert state.selected == kept
    state.resolve(f"{host}/test/multi:v1")  # nothing in common
    assert state.selected == []


def test_operations_from_two_threads_do_not_interleave(state, host, images, tmp_path, monkeypatch):
    """A Fetch click handled on one thread while a resolve runs on another waits for it to finish."""
    state.resolve(f"{host}/test/single:v1")
    state.select([0])
    started, go = threading.Event(), threading.Event()
    real_resolve = state.client.resolve

    def slow_resolve(ref):
        started.set()
        assert go.wait(10)
        return real_resolve(ref)

    monkeypatch.setattr(state.client, "resolve", slow_resolve)
    resolving = threading.Thread(target=state.resolve, args=(f"{host}/test/single:v1",))
    resolving.start()
    assert started.wait(10)
    assert state.manifest is None, "the resolve has cleared the view and is waiting on the network"
    fetching = threading.Thread(target=state.fetch, kwargs={"background": False, "dest": str(tmp_path)})
    fetching.start()
    fetching.join(0.3)
    assert fetching.is_alive(), "the fetch waits for the resolve instead of seeing half-cleared state"
    go.set()
    resolving.join(10)
    fetching.join(10)
    assert state.error == "", state.error
    assert [Path(p).name for p in state.fetched] == [images["single"].extra["layers"][0].digest.replace(":", "-")]


# -- decisions moved out of the view (tabs.py): what a tab loads when shown, typed input ------------


def _requests(state, purpose: str) -> int:
    state.refresh_trace()
    return sum(1 for p in state.trace["purpose"] if p == purpose)


def test_open_files_tab_lists_a_small_image_by_itself(state, host, images):
    assert not state.open_tab("Files"), "nothing resolved: nothing to list"
    assert state.error == "" and state.tab == "Files"
    assert state.resolve(f"{host}/test/single:v1")
    # The tab on screen follows the new image: the merged listing ran without being asked.
    assert state.files_total > 0 and "etc/motd" in [r["path"] for r in state.files]
    assert not state.tab_needs_loading("Files")
    assert not state.open_tab("Files"), "already listed: opening the tab again must not stream layers again"


def test_open_files_tab_leaves_a_large_image_to_the_user(state, host, images, monkeypatch):
    from registry_explorer.widgets import tabs

    assert state.resolve(f"{host}/test/single:v1")
    total = sum(d.size for d in state.manifest.layers)
    monkeypatch.setattr(tabs, "AUTO_LIST_BYTES", total - 1)
    assert not state.small_enough_to_list() and not state.open_tab("Files")
    assert state.files_total == 0 and state.error == ""
    monkeypatch.setattr(tabs, "AUTO_LIST_BYTES", total)
    assert state.small_enough_to_list() and state.open_tab("Files") and state.files_total > 0


def test_open_files_tab_does_not_list_an_artifact(state, host, images):
    assert state.resolve(f"{host}/test/single:sbom")
    assert not state.small_enough_to_list(), "an SBOM blob is not a tar: never listed unasked"
    assert not state.open_tab("Files") and state.error == "" and state.files_total == 0


def test_open_referrers_tab_looks_up_once_per_digest(state, host, images):
    assert state.resolve(f"{host}/test/single:v1")
    assert state.referrers_for is None and state.tab_needs_loading("Referrers")
    assert state.open_tab("Referrers")
    assert state.referrers_for == images["single"].digest and state.error == ""
    before = _requests(state, "referrers")
    assert before > 0
    assert not state.open_tab("Referrers") and _requests(state, "referrers") == before
    # A new image on screen resets the lookup, and the open tab looks up the new digest itself.
    assert state.resolve(f"{host}/test/single:sbom")
    assert state.referrers_for == images["artifact"].digest


def test_open_tags_tab_lists_once_and_other_tabs_load_nothing(state, host, images):
    assert state.resolve(f"{host}/test/single:v1")
    assert state.tags == [], "headless (no tab on screen): nothing loads unasked"
    assert state.tab_needs_loading("Tags") and state.open_tab("Tags") and {"sbom", "v1"} <= set(state.tags)
    before = _requests(state, "tags")
    assert not state.tab_needs_loading("Tags") and not state.open_tab("Tags")
    assert _requests(state, "tags") == before
    for name in ("Layers", "Config", "History", "HTTP", None):
        assert not state.tab_needs_loading(name) and not state.open_tab(name)
    assert state.tab == ""


def test_click_right_after_blur_does_not_resolve_twice(state, host, images, monkeypatch):
    from registry_explorer.widgets import tabs

    text = f"{host}/test/single:v1"
    assert state.submit_text(f"  {text} ")
    assert not state.submit_text(text), "the field holds what is shown: nothing to resolve"
    assert not state.submit_text("   ")
    resolves = _requests(state, "resolve")
    assert not state.click_resolve(text), "the click that blurred the field is the same action"
    assert _requests(state, "resolve") == resolves
    assert state.click_resolve(text), "a second click is a deliberate refresh"
    assert _requests(state, "resolve") == resolves + 1
    # Long after the blur, a click on the same text is a new action.
    assert state.submit_text(f"{host}/test/single:sbom")
    monkeypatch.setattr(tabs, "CLICK_AFTER_BLUR_S", -1.0)
    assert state.click_resolve(f"{host}/test/single:sbom")
    assert _requests(state, "resolve") == resolves + 3
