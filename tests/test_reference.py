"""Reference parsing: a table of good and bad cases from distribution's grammar and Docker's normalisation.

Cases follow distribution/reference's reference_test.go and normalize_test.go.
"""

import pytest

import registry_explorer as rx

H = "a" * 64
H512 = "b" * 128

# (input, registry, repository, tag, digest, str())
GOOD = [
    ("alpine", "docker.io", "library/alpine", "latest", None, "docker.io/library/alpine:latest"),
    ("alpine:3.20", "docker.io", "library/alpine", "3.20", None, "docker.io/library/alpine:3.20"),
    ("library/alpine", "docker.io", "library/alpine", "latest", None, None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None, None),
    ("index.docker.io/alpine:1", "docker.io", "library/alpine", "1", None, "docker.io/library/alpine:1"),
    ("registry-1.docker.io/foo/bar", "docker.io", "foo/bar", "latest", None, None),
    ("docker.io/foo/bar", "docker.io", "foo/bar", "latest", None, None),
    ("user/repo:tag", "docker.io", "user/repo", "tag", None, None),
    ("ghcr.io/org/app:v1.2.3", "ghcr.io", "org/app", "v1.2.3", None, None),
    ("ghcr.io/org/app", "ghcr.io", "org/app", "latest", None, None),
    # A one-component repository is only prefixed with library/ on docker.io.
    ("quay.io/app", "quay.io", "app", "latest", None, "quay.io/app:latest"),
    ("localhost/foo", "localhost", "foo", "latest", None, None),
    ("localhost:5000/foo/bar:t", "localhost:5000", "foo/bar", "t", None, None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", None, None),
    ("10.1.2.3/x/y", "10.1.2.3", "x/y", "latest", None, None),
    ("[::1]:5000/foo", "[::1]:5000", "foo", "latest", None, None),
    ("[2001:db8::1]/foo:bar", "[2001:db8::1]", "foo", "bar", None, None),
    ("example.com:443/a/b/c/d", "example.com:443", "a/b/c/d", "latest", None, None),
    ("foo-bar.com:8080/x", "foo-bar.com:8080", "x", "latest", None, None),
    # The first component is a host when it has '.' or ':' or is not lower-case.
    ("Registry/foo", "Registry", "foo", "latest", None, None),
    ("a.b/c__d/e--f", "a.b", "c__d/e--f", "latest", None, None),
    ("x/a.b_c-d", "docker.io", "x/a.b_c-d", "latest", None, None),
    ("x/a---b", "docker.io", "x/a---b", "latest", None, None),
    ("alpine@sha256:" + H, "docker.io", "library/alpine", None, "sha256:" + H, f"docker.io/library/alpine@sha256:{H}"),
    ("alpine:3@sha256:" + H, "docker.io", "library/alpine", "3", "sha256:" + H, f"docker.io/library/alpine:3@sha256:{H}"),
    ("localhost:5000/x@sha256:" + H, "localhost:5000", "x", None, "sha256:" + H, None),
    ("localhost:5000/x:t@sha512:" + H512, "localhost:5000", "x", "t", "sha512:" + H512, None),
    ("foo:_tag", "docker.io", "library/foo", "_tag", None, None),
    ("foo:" + "t" * 128, "docker.io", "library/foo", "t" * 128, None, None),
    ("foo:A.b-C_d", "docker.io", "library/foo", "A.b-C_d", None, None),
    ("  alpine:3  ", "docker.io", "library/alpine", "3", None, None),
    ("a" * 63, "docker.io", "library/" + "a" * 63, "latest", None, None),
]

# (input, fragment the message must contain)
BAD = [
    ("", "empty"),
    ("   ", "empty"),
    ("Alpine/Foo", "lower-case"),
    ("docker.io/Library/alpine", "lower-case"),
    ("ghcr.io/Org/app", "lower-case"),
    ("alpine:", "tag after ':' is empty"),
    ("alpine:-x", "tag"),
    ("alpine:.x", "tag"),
    ("alpine:" + "t" * 129, "tag"),
    ("alpine:a/b", "not a valid host"),
    ("alpine@", "digest after '@' is empty"),
    ("@sha256:" + H, "repository name before '@' is empty"),
    ("alpine@sha256:abc", "64 hex digits"),
    ("alpine@sha256:" + "A" * 64, "lower-case hexadecimal"),
    ("alpine@sha256:" + "g" * 64, "hexadecimal"),
    ("alpine@md5:" + "a" * 32, "not supported"),
    ("alpine@sha512:" + H, "128 hex digits"),
    ("alpine@" + H, "sha256:<64 hex digits>"),
    ("foo//bar", "empty path component"),
    ("foo/bar/", "empty path component"),
    ("/foo", "empty path component"),
    ("ghcr.io/", "repository after registry"),
    ("-foo", "invalid"),
    ("foo-/bar", "invalid"),
    ("foo/.bar", "invalid"),
    ("foo/b@r", "digest"),
    ("foo bar", "whitespace"),
    ("https://ghcr.io/org/app", "URL scheme"),
    (H, "image ID"),
    ("host:port:tag/x", "registry"),
    ("-host.com/x", "registry"),
    ("docker.io/" + "a/" * 130 + "b", "255"),
]


@pytest.mark.parametrize("text,registry,repository,tag,digest,text_out", GOOD, ids=[g[0][:40] or "empty" for g in GOOD])
def test_good_references(text, registry, repository, tag, digest, text_out):
    ref = rx.parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    if text_out:
        assert str(ref) == text_out
    # Parsing the normal form again gives the same reference.
    assert rx.parse_reference(str(ref)) == ref


@pytest.mark.parametrize("text,fragment", BAD, ids=[b[0][:40] or "empty" for b in BAD])
def test_bad_references(text, fragment):
    with pytest.raises(rx.InvalidReference) as info:
        rx.parse_reference(text)
    msg = str(info.value)
    assert fragment in msg
    assert repr(text) in msg, "the message quotes the input"
    assert isinstance(info.value, ValueError)


def test_table_is_big_enough():
    assert len(GOOD) + len(BAD) >= 40


def test_api_host_and_identifier():
    hub = rx.parse_reference("alpine")
    assert hub.api_host == "registry-1.docker.io"
    assert hub.identifier == "latest"
    pinned = rx.parse_reference("ghcr.io/a/b:t@sha256:" + H)
    assert pinned.identifier == "sha256:" + H, "the digest is what gets fetched"
    assert pinned.api_host == "ghcr.io"


def test_with_digest_and_tag():
    ref = rx.parse_reference("ghcr.io/a/b:t")
    assert str(ref.with_digest("sha256:" + H)) == f"ghcr.io/a/b:t@sha256:{H}"
    assert str(ref.with_tag("v2")) == "ghcr.io/a/b:v2"
    with pytest.raises(rx.InvalidReference):
        ref.with_digest("sha256:short")


def test_reference_passes_through():
    ref = rx.parse_reference("alpine")
    assert rx.parse_reference(ref) is ref


def test_non_string_input():
    with pytest.raises(rx.InvalidReference, match="expected a string"):
        rx.parse_reference(42)  # type: ignore[arg-type]
