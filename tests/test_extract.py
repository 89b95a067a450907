"""Safe extraction: hostile member names never write outside the destination."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest
from test_layerfs_unit import FakeClient

import registry_explorer as rx
from registry_explorer.sources.extract import UnsafePath, check_member_path, extract_layer


def _tar(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(extra)
                info.mode = 0o4755  # setuid must not survive
                tar.addfile(info, io.BytesIO(extra))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, extra
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, extra
                tar.addfile(info)
            elif kind == "dev":
                info.type = tarfile.CHRTYPE
                tar.addfile(info)
    return gzip.compress(buf.getvalue(), mtime=0)


def _desc(data: bytes) -> rx.Descriptor:
    return rx.Descriptor(rx.mediatypes.OCI_LAYER_GZIP, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


HOSTILE = [
    ("etc/ok.txt", "file", b"fine"),
    ("/etc/passwd", "file", b"root::0:0"),
    ("../../escape.txt", "file", b"out"),
    ("a/../../b.txt", "file", b"out"),
    ("link", "sym", "/"),  # absolute: rewritten inside the destination
    ("up", "sym", "../../.."),  # leads outside: refused
    ("up/evil.txt", "file", b"through the symlink"),
    ("usr/bin/tool", "file", b"#!/bin/sh\n"),
    ("usr/bin/alias", "sym", "/usr/bin/tool"),
    ("usr/bin/hard", "hard", "usr/bin/tool"),
    ("hardout", "hard", "../../etc/shadow"),
    ("dev/null", "dev", None),
    ("etc/.wh.gone", "file", b""),
]


def test_hostile_layer_stays_inside(tmp_path):
    data = _tar(HOSTILE)
    client = FakeClient({_desc(data).digest: data})
    dest = tmp_path / "out"
    res = extract_layer(client, "x", _desc(data), dest)
    # up/evil.txt lands in a plain directory `up` inside dest, because the escaping symlink was refused.
    assert sorted(res.written) == ["etc/ok.txt", "link", "up/evil.txt", "usr/bin/alias", "usr/bin/hard",
                                   "usr/bin/tool"]
    assert not (dest / "up").is_symlink()
    assert set(res.refused) >= {"/etc/passwd", "../../escape.txt", "a/../../b.txt", "up", "hardout", "dev/null",
                                "etc/.wh.gone"}
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    assert (dest / "usr/bin/alias").resolve() == (dest / "usr/bin/tool").resolve()
    assert (dest / "link").resolve() == dest.resolve()
    assert not (dest / "usr/bin/tool").stat().st_mode & 0o4000, "no setuid bit"
    for p in dest.rglob("*"):
        assert str(p.resolve()).startswith(str(dest.resolve()))
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary directory left"


def test_symlink_swapped_after_its_check_cannot_lead_outside(tmp_path):
    """`a -> b/../..` is inside while b points two levels deep; re-pointing b makes `a` lead outside.
    A member written under `a/` must then be refused, not written beside the destination."""
    data = _tar([("b", "sym", "c/d"), ("a", "sym", "b/../.."), ("b", "sym", "x"), ("x", "dir", None),
                 ("a/evil.txt", "file", b"through the swapped symlink")])
    client = FakeClient({_desc(data).digest: data})
    dest = tmp_path / "out"
    res = extract_layer(client, "x", _desc(data), dest)
    assert "a/evil.txt" in res.refused and "a/evil.txt" not in res.written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing written beside the destination"


def test_corrupt_layer_extracts_nothing(tmp_path):
    data = _tar([("a.txt", "file", b"x" * 1000)])
    good = _desc(data)
    bad = rx.Descriptor(good.media_type, "sha256:" + "0" * 64, good.size)
    client = FakeClient({bad.digest: data})
    with pytest.raises(rx.DigestMismatch):
        extract_layer(client, "x", bad, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_only_selected_paths(tmp_path):
    data = _tar([("a/one.txt", "file", b"1"), ("a/two.txt", "file", b"2"), ("b/three.txt", "file", b"3")])
    client = FakeClient({_desc(data).digest: data})
    res = extract_layer(client, "x", _desc(data), tmp_path / "o", paths=["a/t*"])
    assert res.written == ["a/two.txt"] and (tmp_path / "o/a/two.txt").read_bytes() == b"2"


def test_non_empty_destination_is_refused(tmp_path):
    (tmp_path / "keep").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_layer(FakeClient({}), "x", _desc(b""), tmp_path)


@pytest.mark.parametrize("name", ["/abs", "../x", "a/../../x", "", "C:/windows"])
def test_check_member_path_rejects(name):
    with pytest.raises(UnsafePath):
        check_member_path(name)
