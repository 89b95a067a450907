"""One SSLContext per CA bundle for the process (issue 23, performance): a new Client's first https request
no longer reads the bundle again, and verification is exactly what it was."""

from __future__ import annotations

import pytest

import registry_explorer as rx
from registry_explorer.http import wire

pytestmark = pytest.mark.integration


def test_new_clients_share_the_context_and_still_verify(tls_registry):
    ref = f"{tls_registry.host}/test/single:v1"
    rx.Client(docker_config={}, ca_bundle=tls_registry.ca_file, cache=False).resolve(ref)
    loaded = wire._tls_context.cache_info()
    for _ in range(3):
        rx.Client(docker_config={}, ca_bundle=tls_registry.ca_file, cache=False).resolve(ref)
    again = wire._tls_context.cache_info()
    assert again.currsize == loaded.currsize and again.hits >= loaded.hits + 3  # read once, then shared
    ctx = wire._tls_context(str(tls_registry.ca_file))
    assert ctx.verify_mode.name == "CERT_REQUIRED"
    with pytest.raises(rx.ConnectionFailed, match="TLS") as exc:  # the default bundle does not hold the test CA
        rx.Client(docker_config={}, cache=False).resolve(ref)
    assert exc.value.kind == "tls-verify"
