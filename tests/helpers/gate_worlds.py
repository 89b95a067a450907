"""Worlds for the gate-at-depth tests (issue 21, class 6): named hosts, a resolver seam with mixed answers, TLS.

Every server is a `recording_server` of helpers.hostile on 127.0.0.1 (fake_dns maps `<name>.test`
there); `resolver()` is what the gate's resolver seam (`client.transport.gate.resolve`) answers
instead, so one test can have public, private and half-private names side by side.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator

from helpers.hostile import PUBLIC_IP, Recorder, RecordingHandler, _QuietServer, recording_server
from helpers.hostile_hosts import World
from registry_explorer.sandbox.certs import make_tls_certs

PRIVATE_IP = "10.20.30.40"


@contextlib.contextmanager
def hosts(*names: str) -> Iterator[World]:
    """A recording server per name (`<name>.test:<port>`), stopped when the block ends."""
    w = World()
    with contextlib.ExitStack() as stack:
        for name in names:
            w.servers[name] = stack.enter_context(recording_server(lambda h, s, n=name: w.respond(n, h, s)))
        yield w


def resolver(public=("registry.test",), mixed=()):
    """The gate's resolver seam: `public` names answer a public address, `mixed` names a public AND a
    private one (listed in either order), every other name a private one."""
    def resolve(host: str) -> list[str]:
        name = host.strip("[]").lower()
        if name in public:
            return [PUBLIC_IP]
        if name in mixed:
            return [PUBLIC_IP, PRIVATE_IP] if hash(name) % 2 else [PRIVATE_IP, PUBLIC_IP]
        return [PRIVATE_IP]
    return resolve


@contextlib.contextmanager
def tls_recording_server(responder, certdir) -> Iterator[Recorder]:
    """`recording_server`, but over TLS (the sandbox's test CA; the client lists the host as insecure)."""
    files = make_tls_certs(certdir)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    srv = _QuietServer(("127.0.0.1", 0), RecordingHandler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    rec = Recorder(f"127.0.0.1:{srv.server_address[1]}")
    srv.recorder, srv.responder = rec, responder  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        rec.stopping.set()
        srv.shutdown()
        srv.server_close()
