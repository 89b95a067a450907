"""Clients and seeding for the real registries the fixtures start (shared by conftest and tests)."""

from __future__ import annotations

import registry_explorer as rx
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.registry import RunningRegistry

# Repositories only an authenticated user may pull on the token registry.
PRIVATE_REPO = "private/single"


def client_for(reg: RunningRegistry, *, anonymous: bool = False, **kw) -> rx.Client:
    """A client configured the way a user would for this registry."""
    creds = None if anonymous or not reg.auth else {reg.host: reg.auth}
    insecure = kw.pop("insecure", ())
    # Tests about the wire must see every request: no answers from the on-disk cache unless a test asks
    # for one (cache=tmp_path), since the session's cache outlives each test.
    kw.setdefault("cache", False)
    if reg.scheme == "http" and reg.auth and not anonymous:
        # Credentials go over plain http only to hosts the user names as insecure.
        insecure = tuple(insecure) + (reg.host,)
    return rx.Client(credentials=creds, insecure=insecure, ca_bundle=str(reg.ca_file) if reg.ca_file else None,
                     docker_config={}, **kw)


def seed(reg: RunningRegistry, images) -> None:
    """Push every test image (and, on the token registry, a private copy of 'single')."""
    for img in images.values():
        push_image(reg.url, img, auth=reg.auth, verify=reg.verify)
    if reg.flavour == "token":
        push_image(reg.url, images["single"], auth=reg.auth, verify=reg.verify, repository=PRIVATE_REPO)
