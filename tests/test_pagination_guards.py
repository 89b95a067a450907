"""Pagination guards against a hostile Link header (a stand-in registry; distribution 2.8 never sends these)."""

from __future__ import annotations

import json

import pytest
from helpers.standin import Handler, serve

import registry_explorer as rx


class _Pages(Handler):
    requests: list[str] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        if len(type(self).requests) > 5:  # a looping client: fail it now rather than after 10,000 pages
            return self.send(500, b'{"errors": [{"code": "UNKNOWN", "message": "loop"}]}')
        port = self.server.server_address[1]
        if self.path.startswith("/v2/loop/tags/list"):
            # Page 2 links to itself: a client without a seen-set would fetch it forever.
            if "last=b" in self.path:
                body, link = {"name": "loop", "tags": ["c"]}, "</v2/loop/tags/list?last=b&n=2>; rel=\"next\""
            else:
                body, link = {"name": "loop", "tags": ["a", "b"]}, "</v2/loop/tags/list?last=b&n=2>; rel=\"next\""
            return self.send(200, json.dumps(body).encode(), {"Content-Type": "application/json", "Link": link})
        if self.path.startswith("/v2/_catalog"):
            # The next page on another host:port (same server, other name): must not be followed.
            link = f"<http://localhost:{port}/v2/_catalog?last=x&n=1>; rel=\"next\""
            return self.send(200, b'{"repositories": ["x"]}', {"Content-Type": "application/json", "Link": link})
        self.send(404, b"{}")


@pytest.fixture
def pages():
    _Pages.requests = []
    with serve(_Pages) as host:
        yield host


def test_a_page_linking_to_itself_ends_the_listing(pages):
    tags = rx.Client(docker_config={}, retries=0).tags(f"{pages}/loop", page_size=2)
    assert tags == ["a", "b", "c"]
    assert _Pages.requests == ["/v2/loop/tags/list?n=2", "/v2/loop/tags/list?last=b&n=2"]


def test_a_next_link_to_another_host_is_refused(pages):
    with pytest.raises(rx.RegistryError, match="pagination link to another host: localhost:"):
        rx.Client(docker_config={}, retries=0).catalog(pages, page_size=1)
    assert _Pages.requests == ["/v2/_catalog?n=1"]
