"""The docker:// path split (registry_explorer/doors/dockerpath.py): one reading for every tricky case."""

from __future__ import annotations

import pytest

import registry_explorer as rx
from registry_explorer.doors.dockerpath import DockerPath, split

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("path", "want"), [
    # the registry alone, with and without a port
    ("docker://127.0.0.1:5000", DockerPath("127.0.0.1:5000")),
    ("docker://ghcr.io/", DockerPath("ghcr.io")),
    ("docker://localhost", DockerPath("localhost")),
    # a repository (nested), no image: no tag is implied
    ("docker://127.0.0.1:5000/demo/data", DockerPath("127.0.0.1:5000", "demo/data")),
    ("docker://r.example.com/a/b/c", DockerPath("r.example.com", "a/b/c")),
    # a tag ends the repository; the rest is the path inside the image
    ("docker://127.0.0.1:5000/demo/data:1.0/data/table.csv",
     DockerPath("127.0.0.1:5000", "demo/data", "data:1.0", "data/table.csv")),
    ("docker://docker.io/library/alpine:3.20/etc/os-release",
     DockerPath("docker.io", "library/alpine", "alpine:3.20", "etc/os-release")),
    # the image root
    ("docker://127.0.0.1:5000/demo/data:1.0/", DockerPath("127.0.0.1:5000", "demo/data", "data:1.0", "")),
    # a digest (it contains ':' too) and tag+digest
    (f"docker://127.0.0.1:5000/demo/hello@{DIGEST}/etc/motd",
     DockerPath("127.0.0.1:5000", "demo/hello", f"hello@{DIGEST}", "etc/motd")),
    (f"docker://h.io/a/b:1@{DIGEST}/x", DockerPath("h.io", "a/b", f"b:1@{DIGEST}", "x")),
    # ':' inside the image path belongs to the path, not to a tag
    ("docker://h.io/a:1/usr/share/x:y/z:w", DockerPath("h.io", "a", "a:1", "usr/share/x:y/z:w")),
    # a directory named like a version after the tag is a path
    ("docker://h.io/a:1/v2:3", DockerPath("h.io", "a", "a:1", "v2:3")),
    # IPv6 registry with a port
    ("docker://[::1]:5000/repo:tag/f", DockerPath("[::1]:5000", "repo", "repo:tag", "f")),
    # no protocol (fsspec's stripped form)
    ("127.0.0.1:5000/demo/data:1.0/data", DockerPath("127.0.0.1:5000", "demo/data", "data:1.0", "data")),
])
def test_split(path, want):
    assert split(path) == want


def test_reference_and_prefix():
    dp = split("docker://127.0.0.1:5000/demo/data:1.0/data/table.csv")
    assert dp.reference == rx.parse_reference("127.0.0.1:5000/demo/data:1.0")
    assert dp.image_path == "127.0.0.1:5000/demo/data:1.0"
    assert dp.repository_path == "127.0.0.1:5000/demo/data"
    assert split(f"docker://h.io/x/hello@{DIGEST}/a").reference.digest == DIGEST
    assert split("docker://h.io/x/y").reference is None


@pytest.mark.parametrize("path", [
    "docker://",  # nothing
    "docker://alpine:3.20/etc/os-release",  # no registry: alpine:3.20 is not a host
    "docker://alpine/x:1/etc",  # 'alpine' is not a host (no '.', ':' or localhost)
    "docker://h.io/Upper:1/x",  # repositories are lower-case
    "docker://h.io/a//b:1/x",  # empty component
    "docker://h.io/:1/x",  # a tag with no name
    "docker://h.io/a@sha256:12/x",  # a short digest
    "docker://h.io/a:bad tag/x",
])
def test_refused(path):
    with pytest.raises(rx.InvalidReference):
        split(path)
