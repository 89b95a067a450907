"""Streaming verification and transport helpers, without a network."""

import hashlib
import io

import pytest

import registry_explorer as rx
from registry_explorer.core.digest import VerifyingReader, verify
from registry_explorer.core.redact import redact_url
from registry_explorer.http.gate import is_loopback
from registry_explorer.http.pagination import next_link as _next_link

DATA = bytes(range(256)) * 1000
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_verifying_reader_ok():
    r = VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))
    assert r.read() == DATA and r.verified


def test_verifying_reader_readinto():
    r = VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))
    buf = bytearray(4096)
    got = bytearray()
    while n := r.readinto(buf):
        got += buf[:n]
    assert bytes(got) == DATA and r.verified


def test_verifying_reader_mismatch_at_eof():
    bad = bytearray(DATA)
    bad[1000] ^= 1
    r = VerifyingReader(io.BytesIO(bytes(bad)), DIGEST, len(DATA))
    assert len(r.read(len(DATA))) == len(DATA) and not r.verified
    with pytest.raises(rx.DigestMismatch) as info:
        r.read(1)
    assert info.value.expected == DIGEST and info.value.actual.startswith("sha256:")


def test_verifying_reader_too_long_and_too_short():
    with pytest.raises(rx.SizeMismatch):
        VerifyingReader(io.BytesIO(DATA + b"x"), DIGEST, len(DATA)).read()
    with pytest.raises(rx.SizeMismatch):
        VerifyingReader(io.BytesIO(DATA[:-1]), DIGEST, len(DATA)).read()


def test_verify_helper():
    verify(DATA, DIGEST, size=len(DATA))
    with pytest.raises(rx.DigestMismatch):
        verify(DATA[:-1] + b"\0", DIGEST)


def test_redact_url():
    url = "https://user:pw@s3.example.com/b?X-Amz-Signature=abc&X-Amz-Expires=300&access_token=t&scope=repo"
    red = redact_url(url)
    assert "abc" not in red and "pw" not in red and "=t&" not in red
    assert "X-Amz-Expires=300" in red and "scope=repo" in red


@pytest.mark.parametrize("host,loop", [("127.0.0.1:5000", True), ("localhost", True), ("[::1]:5000", True),
                                       ("127.1.2.3", True), ("ghcr.io", False), ("10.0.0.1:5000", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_next_link():
    cur = "http://r:5000/v2/_catalog?n=2"
    assert _next_link('</v2/_catalog?last=b&n=2>; rel="next"', cur) == "http://r:5000/v2/_catalog?last=b&n=2"
    assert _next_link('<https://x/a>; rel="prev", <https://x/b>; rel=next', cur) == "https://x/b"
    assert _next_link(None, cur) is None


def test_errors_carry_data():
    e = rx.NotFound("x", status=404, errors=[{"code": "MANIFEST_UNKNOWN", "message": "m"}])
    assert isinstance(e, rx.RegistryError) and isinstance(e, rx.RegistryExplorerError)
    assert e.codes == ["MANIFEST_UNKNOWN"]
    assert issubclass(rx.ManifestTooLarge, rx.RegistryExplorerError)
    assert issubclass(rx.InvalidReference, ValueError)
