"""Size caps. distribution 2.8 refuses to store manifests over 4 MiB, so a local HTTP server
stands in for a registry that would serve one (with and without Content-Length)."""

from __future__ import annotations

import pytest
from helpers.standin import Handler, serve

import registry_explorer as rx

BIG = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[' + b" " * (5 << 20) + b"]}"


class _Handler(Handler):

    def do_GET(self):
        if self.path == "/v2/":
            return self.send(200)
        chunked = "chunked" in self.path
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for i in range(0, len(BIG), 1 << 16):
                    part = BIG[i:i + (1 << 16)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        else:
            self.send_header("Content-Length", str(len(BIG)))
            self.end_headers()
            try:
                self.wfile.write(BIG)
            except (BrokenPipeError, ConnectionResetError):
                pass


@pytest.fixture
def big_server():
    with serve(_Handler) as host:
        yield host


@pytest.mark.parametrize("repo", ["declared", "chunked"])
def test_manifest_too_large(big_server, repo):
    client = rx.Client(docker_config={})
    with pytest.raises(rx.ManifestTooLarge) as info:
        client.manifest(f"{big_server}/{repo}/x:v1")
    assert info.value.limit == rx.MANIFEST_LIMIT == 4 << 20
    assert "too large" in str(info.value)


def test_descriptor_larger_than_limit_is_refused_before_fetching(big_server):
    client = rx.Client(docker_config={})
    desc = rx.Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "0" * 64, 5 << 20)
    with pytest.raises(rx.ManifestTooLarge):
        client.manifest(f"{big_server}/declared/x:v1", descriptor=desc)
