"""Issue 21, class 2: the cache directory is a trust boundary.

A layer index cannot be re-checked without its whole layer, so whoever can write the cache can
choose what `read_file` returns as `verified-index`. The directory is therefore refused unless it
is the user's own and not writable by group or others (as ssh and gnupg refuse theirs), nothing
inside it is reached through a symlink, and what the package creates there is private.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading

import pytest
from helpers.hostile import bounded

import registry_explorer as rx
from registry_explorer.core.errors import UnsafeCache
from registry_explorer.sources.cache import Cache

DIGEST = "sha256:" + hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_a_cache_others_can_write_is_refused_with_what_to_do(tmp_path, mode):
    d = tmp_path / "cache"
    d.mkdir()
    os.chmod(d, mode)
    for make in (lambda: Cache(d), lambda: rx.Client(docker_config={}, cache=d)):
        with pytest.raises(UnsafeCache) as info:
            make()
        msg = str(info.value)
        assert "\n" not in msg and "writable by group or others" in msg and f"chmod go-w {d}" in msg
    assert isinstance(info.value, rx.RegistryExplorerError)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_a_cache_owned_by_someone_else_is_refused(tmp_path):
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(UnsafeCache, match="belongs to uid 65534"):
        Cache(d)


def test_what_the_cache_creates_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        c = Cache(tmp_path / "new" / "cache")
        p = c.put("manifest", DIGEST, b"doc")
    finally:
        os.umask(old)
    for d in (c.path, p.parent, p.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_a_symlinked_directory_inside_is_never_followed(tmp_path):
    c = Cache(tmp_path / "cache")
    c.put("manifest", DIGEST, b"doc")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, c.path / "layer-index")  # a planted link: writes would land in `elsewhere`
    with pytest.raises(UnsafeCache, match="symlink"):
        c.put("layer-index", DIGEST, b"forged")
    with pytest.raises(UnsafeCache, match="symlink"):
        c.get("layer-index", DIGEST)
    assert list(elsewhere.iterdir()) == []
    os.symlink(elsewhere, c.path / "manifest" / "sha512")  # one level deeper
    with pytest.raises(UnsafeCache):
        c.put("manifest", "sha512:" + "a" * 128, b"x")
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_entry_is_never_read_nor_written_through(tmp_path):
    c = Cache(tmp_path / "cache")
    secret = tmp_path / "secret"
    secret.write_bytes(b"RXC1 not yours\n")
    p = c.path_for("manifest", DIGEST)
    p.parent.mkdir(parents=True, mode=0o700)
    os.symlink(secret, p)
    assert c.get("manifest", DIGEST) is None  # a link is damage: a miss, and the link is removed
    assert not p.is_symlink() and secret.read_bytes() == b"RXC1 not yours\n"
    os.symlink(secret, p)
    c.put("manifest", DIGEST, b"doc")  # replaces the link itself (rename over it), never writes through it
    assert secret.read_bytes() == b"RXC1 not yours\n" and c.get("manifest", DIGEST) == b"doc"


def test_a_symlink_to_a_well_formed_entry_elsewhere_is_not_believed(tmp_path):
    """The link leads to an entry that would pass every check of its content (written by a Cache elsewhere):
    only refusing the link itself (O_NOFOLLOW) keeps the forged bytes out."""
    elsewhere = Cache(tmp_path / "elsewhere")
    forged = elsewhere.put("manifest", DIGEST, b"forged")
    c = Cache(tmp_path / "cache")
    p = c.path_for("manifest", DIGEST)
    p.parent.mkdir(parents=True, mode=0o700)
    os.symlink(forged, p)
    assert c.get("manifest", DIGEST) is None and not p.is_symlink()
    assert elsewhere.get("manifest", DIGEST) == b"forged"  # the target itself is left alone


def test_a_fifo_planted_as_an_entry_is_a_miss_at_once(tmp_path):
    c = Cache(tmp_path / "cache")
    p = c.path_for("layer-index", DIGEST)
    p.parent.mkdir(parents=True, mode=0o700)
    os.mkfifo(p)
    with bounded(5):
        assert c.get("layer-index", DIGEST) is None
    assert not p.exists()


def test_a_client_on_a_safe_cache_still_works_and_two_threads_share_it(tmp_path):
    c = Cache(tmp_path / "cache")
    errors = []

    def put_get(i):
        try:
            d = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
            c.put("manifest", d, str(i).encode())
            assert c.get("manifest", d) == str(i).encode()
        except BaseException as exc:  # noqa: BLE001 - collected for the assert below
            errors.append(exc)

    threads = [threading.Thread(target=put_get, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(c.entries()) == 16
