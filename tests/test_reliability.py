"""Retries, resume and redirects, with faults injected by the local proxy in front of the real registry."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.http.retry import RetryPolicy, parse_retry_after
from registry_explorer.sources.download import RESUME_ATTEMPTS, RESUME_TOTAL_LIMIT

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(open_registry, images):
    store = {d: b.data for img in images.values() for d, b in img.blobs.items()}
    with FaultProxy(open_registry.url, blob_store=store) as proxy:
        client = rx.Client(docker_config={}, timeout=(5, 2))
        waits: list[float] = []
        client.transport.sleep = waits.append  # record backoff instead of sleeping
        ref = f"{proxy.host}/test/single:v1"
        big = max(client.image(ref).layers, key=lambda d: d.size)
        yield proxy, client, ref, big, waits


def _verified(path, desc):
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == desc.digest


def test_retry_after_seconds_on_503(setup):
    proxy, client, ref, big, waits = setup
    proxy.inject.append({"status": 503, "count": 2, "path": "/manifests/", "headers": {"Retry-After": "3"}})
    assert client.resolve(ref).digest
    assert waits == [3.0, 3.0]
    tries = [ex for ex in client.trace if ex.purpose == "resolve"][-3:]
    assert [ex.status for ex in tries] == [503, 503, 200]
    assert [ex.attempt for ex in tries] == [0, 1, 2]
    assert [ex.retry_wait_ms for ex in tries] == [3000.0, 3000.0, None]


def test_retry_after_http_date_on_429(setup):
    proxy, client, ref, big, waits = setup
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    proxy.inject.append({"status": 429, "count": 1, "path": "/manifests/", "headers": {"Retry-After": when}})
    client.manifest(ref)
    assert len(waits) == 1 and 15 <= waits[0] <= 20


def test_backoff_is_capped_and_gives_up(setup):
    proxy, client, ref, big, waits = setup
    client.retry = RetryPolicy(retries=4, backoff=1.0, max_wait=2.5)
    proxy.inject.append({"status": 502, "count": 100, "path": "/manifests/"})
    with pytest.raises(rx.RegistryError) as info:
        client.manifest(ref)
    assert info.value.status == 502
    assert len(waits) == 4 and all(0 <= w <= 2.5 for w in waits)


def test_non_transient_errors_are_not_retried(setup):
    proxy, client, ref, big, waits = setup
    with pytest.raises(rx.NotFound):
        client.manifest(f"{proxy.host}/test/single:missing")
    assert waits == []


@pytest.mark.reaches('registry_explorer.sources.download:fetch_to#log.info("resuming')
def test_resume_after_reset_mid_stream(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    proxy.drop_blob_after, proxy.drop_count = 1_000_000, 2
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
    ranges = [ex.request_headers.get("Range") for ex in client.trace if ex.purpose == "blob"]
    # The second drop hits the resumed request before its first byte: it resumes from the same place.
    assert ranges[-3:] == [None, "bytes=1000000-", "bytes=1000000-"]
    assert [ex.status for ex in client.trace if ex.purpose == "blob"][-2:] == [206, 206]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.reaches('registry_explorer.sources.download:fetch_to#log.info("resuming')
def test_many_drops_that_make_progress_are_all_resumed(setup, tmp_path):
    """More drops than RESUME_ATTEMPTS, each after 100 kB: only drops *without* progress count."""
    proxy, client, ref, big, waits = setup
    drops = RESUME_ATTEMPTS + 4
    assert big.size > (drops + 1) * 100_000
    proxy.drop_each_after, proxy.drop_count = 100_000, drops
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
    ranges = [ex.request_headers.get("Range") for ex in client.trace if ex.purpose == "blob"][-(drops + 1):]
    assert ranges == [None] + [f"bytes={100_000 * i}-" for i in range(1, drops + 1)]


def test_resumes_are_capped_in_total(setup, tmp_path):
    """A server that sends a few bytes per connection cannot keep a fetch going forever."""
    proxy, client, ref, big, waits = setup
    proxy.drop_each_after, proxy.drop_count = 1000, -1
    with pytest.raises(rx.ConnectionFailed) as info:
        client.fetch_blobs(ref, [big], tmp_path)
    requests = [ex for ex in client.trace if ex.purpose == "blob"]
    assert len(requests) == RESUME_TOTAL_LIMIT + 1
    assert info.value.partial.stat().st_size == 1000 * (RESUME_TOTAL_LIMIT + 1), "progress kept for later"


@pytest.mark.reaches("registry_explorer.sources.download:fetch_to#the server ignored Range: start over+1")
def test_restart_when_server_ignores_range(setup, tmp_path):
    """The resume asks for bytes=700000- and gets the whole blob (200): it starts over and still verifies."""
    proxy, client, ref, big, waits = setup
    proxy.drop_blob_after, proxy.drop_count = 700_000, 1
    proxy.ignore_range = True
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
    tries = [ex for ex in client.trace if ex.purpose == "blob"][-2:]
    assert [(ex.request_headers.get("Range"), ex.status) for ex in tries] == [(None, 200), ("bytes=700000-", 200)]


def test_partial_file_kept_then_resumed_by_a_later_call(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    proxy.drop_blob_after, proxy.drop_count = 900_000, -1  # never completes
    with pytest.raises(rx.ConnectionFailed) as info:
        client.fetch_blobs(ref, [big], tmp_path)
    partial = info.value.partial
    final = tmp_path / big.digest.replace(":", "-")
    assert partial.name == final.name + ".partial" and partial.exists() and not final.exists()
    assert partial.stat().st_size == 900_000, "bytes received before the drop are kept"
    proxy.drop_blob_after, proxy.drop_count = None, 0
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big) and not partial.exists()
    last = [ex for ex in client.trace if ex.purpose == "blob"][-1]
    assert last.request_headers.get("Range") == "bytes=900000-" and last.status == 206


@pytest.mark.reaches("registry_explorer.sources.download:fetch_to#The leftover partial file was not a prefix+1")
def test_partial_left_by_another_process_is_verified(setup, tmp_path, images):
    proxy, client, ref, big, waits = setup
    final = tmp_path / big.digest.replace(":", "-")
    data = images["single"].blobs[big.digest].data
    (tmp_path / (final.name + ".partial")).write_bytes(data[:123_456])
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
    tries = [ex for ex in client.trace if ex.purpose == "blob"]
    assert [(ex.request_headers.get("Range"), ex.status) for ex in tries[-1:]] == [("bytes=123456-", 206)], \
        "the leftover prefix was adopted: only the rest was asked for"
    # A leftover that is not a prefix of the blob is detected and the blob fetched afresh.
    path.unlink()
    (tmp_path / (final.name + ".partial")).write_bytes(b"x" * 50_000)
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big) and sorted(p.name for p in tmp_path.iterdir()) == [final.name]
    tries = [ex for ex in client.trace if ex.purpose == "blob"][len(tries):]
    assert [ex.request_headers.get("Range") for ex in tries] == ["bytes=50000-", None], "resumed, failed its digest, started over"


@pytest.mark.reaches('registry_explorer.sources.download:fetch_to#log.info("resuming')
def test_stalled_body_times_out_and_resumes(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    proxy.stall_blob_after, proxy.stall_seconds = 500_000, 6  # longer than the 2 s read timeout
    t0 = time.monotonic()
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    took = time.monotonic() - t0
    assert _verified(path, big)
    blob = [ex for ex in client.trace if ex.purpose == "blob"]
    # The read timeout fired (not the 6 s stall) and the fetch went on. The bytes inside the
    # interrupted 1 MiB buffered read are lost to the timeout, so it resumes from what is on disk.
    assert len(blob) == 2 and 2 <= took < 6


def test_redirect_loop_is_refused(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    proxy.redirect_loop = True
    with pytest.raises(rx.ConnectionFailed, match="more than 10 redirects"):
        client.fetch_blobs(ref, [big], tmp_path)
    assert not (tmp_path / big.digest.replace(":", "-")).exists()


@pytest.mark.parametrize("value,expected", [("120", 120.0), ("0", 0.0), ("junk", None), (None, None),
                                             ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_transient_registry_error_keeps_partial(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    proxy.drop_blob_after, proxy.drop_count = 800_000, 1
    # After the drop, every resume attempt meets a 503: the error surfaces, the bytes stay.
    proxy.inject.append({"status": 503, "count": 100, "path": "/blobs/", "method": "GET"})
    proxy.inject[0]["count"] = 0  # armed below, once the first response is under way

    def arm(*_):
        proxy.inject[0]["count"] = 100

    client.transport.hooks.append(lambda ex: arm() if ex.purpose == "blob" else None)
    with pytest.raises(rx.RegistryError) as info:
        client.fetch_blobs(ref, [big], tmp_path)
    assert info.value.status == 503
    assert info.value.partial.stat().st_size == 800_000
    proxy.inject.clear()
    proxy.drop_blob_after = None
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)


@pytest.mark.parametrize("delta", [+100_000, -100_000])
def test_wrong_content_length(setup, tmp_path, delta):
    """A Content-Length that disagrees with the descriptor is refused before any byte is kept:
    the server is broken or serving another blob. Once it behaves, the fetch verifies."""
    proxy, client, ref, big, waits = setup
    proxy.content_length_delta = delta
    with pytest.raises(rx.SizeMismatch) as info:
        client.fetch_blobs(ref, [big], tmp_path)
    assert (info.value.expected, info.value.actual) == (big.size, big.size + delta)
    assert list(tmp_path.iterdir()) == [], "neither a final nor a partial file"
    proxy.content_length_delta = 0
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big) and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.reaches('registry_explorer.sources.download:fetch_to#log.info("resuming')
def test_connection_closed_early_is_resumed(setup, tmp_path):
    """Fewer bytes than Content-Length, then a clean close: http.client calls it EOF; we resume."""
    proxy, client, ref, big, waits = setup
    proxy.drop_blob_after, proxy.drop_count = 1_500_000, 1
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
    tries = [ex for ex in client.trace if ex.purpose == "blob"][-2:]
    assert [(ex.request_headers.get("Range"), ex.status) for ex in tries] == [(None, 200), ("bytes=1500000-", 206)]


@pytest.mark.parametrize("delta", [+100_000, -100_000])
def test_wrong_content_length_stream_api(setup, delta):
    """open_blob checks Content-Length against the descriptor as the response arrives (client.raw_blob):
    SizeMismatch before the caller reads a byte, not a ConnectionFailed or a late error at EOF."""
    proxy, client, ref, big, waits = setup
    proxy.content_length_delta = delta
    entered = False
    with pytest.raises(rx.SizeMismatch) as info:
        with client.open_blob(ref, big) as stream:
            entered = True
            stream.read()
    assert not entered, "refused before the body was handed out"
    assert (info.value.expected, info.value.actual) == (big.size, big.size + delta)


def test_oversized_manifest(setup):
    proxy, client, ref, big, waits = setup
    proxy.manifest_body = b'{"schemaVersion":2,"layers":[' + b" " * (5 << 20) + b"]}"
    with pytest.raises(rx.ManifestTooLarge, match="limit is 4194304"):
        client.manifest(ref)


def test_invalid_json_manifest(setup):
    proxy, client, ref, big, waits = setup
    proxy.manifest_body = b'{"schemaVersion": 2, "layers": [ oops'
    with pytest.raises(rx.InvalidManifest, match="not valid JSON"):
        client.manifest(ref)


def test_invalid_www_authenticate(token_registry):
    with FaultProxy(token_registry.url) as proxy:
        proxy.bad_challenge = 'Bearer realm=, "garbage'
        client = rx.Client(docker_config={}, retries=0)
        with pytest.raises(rx.Unauthorized) as info:
            client.manifest(f"{proxy.host}/test/single:v1")
    assert "WWW-Authenticate" in str(info.value)
    assert info.value.status == 401


def test_hostile_digest_never_names_a_file(setup, tmp_path):
    proxy, client, ref, big, waits = setup
    evil = rx.Descriptor("application/octet-stream", "sha256:../../../../tmp/evil", 10)
    with pytest.raises(rx.InvalidReference):
        client.fetch_blobs(ref, [evil], tmp_path / "d")
    assert not (tmp_path / "d").exists() or list((tmp_path / "d").iterdir()) == []


def test_private_address_predicate():
    from registry_explorer.http.gate import is_private_host

    fake = {"s3.example.com": "52.216.8.1", "evil.example.com": "169.254.169.254", "lan.example.com": "10.1.2.3"}

    def resolve(name):
        return [fake[name]]

    assert is_private_host("127.0.0.1") and is_private_host("localhost") and is_private_host("[::1]")
    assert is_private_host("169.254.169.254") and is_private_host("192.168.1.10")
    assert not is_private_host("s3.example.com", resolve)
    assert is_private_host("evil.example.com", resolve) and is_private_host("lan.example.com", resolve)


def test_public_registry_single_redirect_to_private_address_is_refused(setup, tmp_path, monkeypatch):
    """One hop, from the real registry (seen as public) to a private mirror: refused until allowed.

    Every hop of a chain is pinned in tests/hostile/test_gate_depth.py (test_R5_private_guard_applies_to_every_hop)."""
    proxy, client, ref, big, waits = setup
    # Pretend the registry on 127.0.0.1 is public (gate.is_private is the seam); the blob redirect
    # goes to the mirror, named "localhost", which is private.
    from registry_explorer.http.gate import is_private_host

    monkeypatch.setattr(client.transport.gate, "is_private", lambda h: h != "127.0.0.1" and is_private_host(h))
    proxy.redirect_blobs = True
    monkeypatch.setattr(proxy.mirror, "url", proxy.mirror.url.replace("127.0.0.1", "localhost"))
    with pytest.raises(rx.ConnectionFailed, match="refusing redirect from public registry") as info:
        client.fetch_blobs(ref, [big], tmp_path)
    assert info.value.kind == "redirect"
    assert list(tmp_path.iterdir()) == [], "no final file and no empty partial"
    assert proxy.mirror.requests == [], "the private address was never contacted"
    client.transport.allow_private_redirects = True
    (path,) = client.fetch_blobs(ref, [big], tmp_path)
    assert _verified(path, big)
