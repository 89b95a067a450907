"""Every buffer that comes from a registry is capped. A local server stands in for a hostile
registry, because distribution 2.8 never sends oversized tokens or error bodies."""

from __future__ import annotations

import json

import pytest
from helpers.standin import Handler, serve

import registry_explorer as rx
from registry_explorer.http.auth import TOKEN_LIMIT
from registry_explorer.http.status import ERROR_BODY_LIMIT


class _Hostile(Handler):

    def do_GET(self):
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            pad = "x" * (TOKEN_LIMIT + 10)
            return self.send(200, json.dumps({"token": "t", "pad": pad}).encode())
        if self.path.startswith("/v2/tokenbomb/"):
            return self.send(401, b"", {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="s"'})
        if self.path.startswith("/v2/errorbomb/"):
            errors = {"errors": [{"code": "UNKNOWN", "message": "m" * (ERROR_BODY_LIMIT * 2)}]}
            return self.send(400, json.dumps(errors).encode(), {"Content-Type": "application/json"})
        if self.path.startswith("/v2/nicerror/"):
            errors = {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}
            return self.send(403, json.dumps(errors).encode(), {"Content-Type": "application/json"})
        self.send(200)


@pytest.fixture
def hostile():
    with serve(_Hostile) as host:
        yield host


def test_token_response_cap(hostile):
    with pytest.raises(rx.TooLarge, match="token response is too large"):
        rx.Client(docker_config={}, retries=0).manifest(f"{hostile}/tokenbomb/x:v1")


def test_error_body_cap_still_raises_the_status(hostile):
    with pytest.raises(rx.RegistryError) as info:
        rx.Client(docker_config={}, retries=0).manifest(f"{hostile}/errorbomb/x:v1")
    assert info.value.status == 400 and info.value.errors == [], "an oversized error body is not parsed"


def test_error_body_is_parsed(hostile):
    with pytest.raises(rx.Denied) as info:
        rx.Client(docker_config={}, retries=0).manifest(f"{hostile}/nicerror/x:v1")
    assert info.value.codes == ["DENIED"] and "denied" in str(info.value)
    # 1 MiB for a token response and 64 KiB for an error body: real ones are a few KiB at most.
    assert (TOKEN_LIMIT, ERROR_BODY_LIMIT) == (1 << 20, 64 << 10)
    assert issubclass(rx.TooLarge, rx.RegistryExplorerError)


def test_one_failed_blob_cancels_nothing_else(open_registry, images, tmp_path):
    from helpers.clients import client_for

    client = client_for(open_registry)
    ref = f"{open_registry.host}/test/single:v1"
    layers = client.image(ref).layers
    wrong = rx.Descriptor(layers[1].media_type, layers[0].digest, layers[1].size)  # size lies
    with pytest.raises(rx.FetchFailed) as info:
        client.fetch_blobs(ref, [layers[2], wrong, layers[1]], tmp_path)
    assert list(info.value.failures) == [layers[0].digest]
    assert isinstance(info.value.first, rx.SizeMismatch) and "1 of 3 blobs failed (2 written)" in str(info.value)
    assert sorted(p.name for p in info.value.succeeded) == sorted(
        d.digest.replace(":", "-") for d in (layers[2], layers[1]))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in info.value.succeeded)


def test_https_to_http_at_a_single_redirect_is_refused(tmp_path):
    """An https registry redirecting a blob once, to plain http: refused, no request sent in clear, no file.

    One hop only: a downgrade at a later hop of a chain is pinned in tests/hostile/test_gate_depth.py
    (test_R4_no_downgrade_to_plain_http_at_any_hop)."""
    import ssl

    from registry_explorer.sandbox.certs import make_tls_certs

    seen = []

    class _Plain(Handler):
        def do_GET(self):
            seen.append(self.path)
            self.send(200, b"x")

    with serve(_Plain) as plain:
        class _Redirecting(Handler):
            def do_GET(self):
                if self.path == "/v2/":
                    return self.send(200)
                self.send(307, b"", {"Location": f"http://{plain}/blob?X-Amz-Signature=s"})

        tls = make_tls_certs(tmp_path / "certs")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls.server_cert, tls.server_key)
        import threading
        from http.server import ThreadingHTTPServer

        srv = ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.daemon_threads = True
        srv.handle_error = lambda *a: None  # a client closing the TLS connection early is not news
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            host = f"127.0.0.1:{srv.server_address[1]}"
            client = rx.Client(docker_config={}, ca_bundle=str(tls.ca_cert), retries=0)
            desc = rx.Descriptor("application/octet-stream", "sha256:" + "1" * 64, 1)
            with pytest.raises(rx.ConnectionFailed, match="refusing redirect from https to plain http"):
                client.fetch_blobs(f"{host}/x", [desc], tmp_path / "d")
        finally:
            srv.shutdown()
            srv.server_close()
    assert seen == [], "nothing was sent over plain http"
    assert list((tmp_path / "d").iterdir()) == []
