"""Docker Hub's RateLimit headers surface in the trace and on the client.

distribution 2.8 never sends them, so a local server stands in for Docker Hub's manifest endpoint.
"""

import hashlib

import pytest
from helpers.standin import Handler, serve

import registry_explorer as rx
from registry_explorer.http.trace import parse_rate_limit

BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":' \
       b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:' + b"0" * 64 + \
       b'","size":2},"layers":[]}'


class _Hub(Handler):
    remaining = 100

    def do_GET(self):
        type(self).remaining -= 1
        body = b"" if self.path == "/v2/" else BODY
        self.send(200, body, {
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "RateLimit-Limit": "100;w=21600",
            "RateLimit-Remaining": f"{type(self).remaining};w=21600",
            "Docker-RateLimit-Source": "203.0.113.7",
        })


@pytest.fixture
def hub():
    with serve(type("H", (_Hub,), {"remaining": 100})) as host:
        yield host


def test_rate_limit_surfaces(hub):
    client = rx.Client(docker_config={})
    assert client.rate_limit is None
    client.manifest(f"{hub}/library/alpine:3")
    first = client.rate_limit["remaining"]
    client.manifest(f"{hub}/library/alpine:3")
    assert client.rate_limit == {"limit": 100, "remaining": first - 1, "window_seconds": 21600,
                                 "source": "203.0.113.7"}
    rows = [ex.to_row() for ex in client.trace if ex.purpose == "manifest"]
    assert [r["rate_limit_remaining"] for r in rows] == [first, first - 1]


def test_parse_rate_limit_variants():
    assert parse_rate_limit({}) is None
    assert parse_rate_limit({"ratelimit-remaining": "0"})["remaining"] == 0
    assert parse_rate_limit({"RateLimit-Limit": "junk"})["limit"] is None
