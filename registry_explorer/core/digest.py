"""Digests: compute, verify, and hash a stream as it is read.

Digests are always computed over the exact bytes received, never over re-serialised JSON
(https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests).
"""

from __future__ import annotations

import base64
import hashlib
from typing import BinaryIO

from . import jsontext
from . import mediatypes as mt
from .errors import DigestMismatch, InvalidManifest, SizeMismatch
from .reference import DIGEST_HEX_LENGTHS, validate_digest


def hasher_for(digest: str):
    """A fresh hashlib object for the algorithm of `digest`."""
    algo = validate_digest(digest).split(":", 1)[0]
    return hashlib.new(algo)


def compute(data: bytes, algorithm: str = "sha256") -> str:
    """`algorithm:hex` of `data`."""
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify(data: bytes, expected: str, *, size: int | None = None, what: str = "content") -> None:
    """Raise SizeMismatch/DigestMismatch unless `data` has `size` bytes and digest `expected`."""
    if size is not None and len(data) != size:
        raise SizeMismatch(size, len(data), what=what)
    algo = expected.split(":", 1)[0] if isinstance(expected, str) else ""
    if algo not in DIGEST_HEX_LENGTHS:
        # `expected` comes from a document (an embedded descriptor, a TOC): not a ValueError of the caller's.
        raise InvalidManifest(f"{what}: {str(expected)[:80]!r} is not a sha256 or sha512 digest, so it cannot "
                              "be verified")
    actual = compute(data, algo)
    if actual != expected:
        raise DigestMismatch(expected, actual, what=what)


def manifest_digest(raw: bytes, media_type: str | None, algorithm: str = "sha256") -> str:
    """The digest a registry gives a manifest: the hash of `signed_payload` for signed schema1, else of the bytes."""
    if mt.base(media_type) == mt.DOCKER_SCHEMA1_SIGNED:
        return compute(signed_payload(raw), algorithm)
    return compute(raw, algorithm)


# A JWS formatTail is the closing brace and whitespace of the payload; more is not a signature header.
_FORMAT_TAIL_LIMIT = 1024


def signed_payload(raw: bytes) -> bytes:
    """The payload of a signed schema1 manifest: the bytes its digest covers, and the only bytes to parse.

    Registries hash the JWS payload with the signatures cut out (libtrust's prettyjws: the
    protected header carries formatLength and formatTail).
    https://github.com/distribution/distribution/blob/v2.8.2/manifest/schema1/manifest.go
    Since a hostile server chooses formatLength and formatTail, the payload - never the raw
    document around it - is what gets parsed and stored, so what is used is what was verified.
    """
    try:
        doc = jsontext.loads(raw)
        protected = doc["signatures"][0]["protected"]
        header = jsontext.loads(_b64url(protected))
        length = header["formatLength"]
        tail = _b64url(header["formatTail"])
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
        raise InvalidManifest(f"signed schema1 manifest has no usable signature header: {exc}") from None
    if isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= len(raw) \
            or len(tail) > _FORMAT_TAIL_LIMIT:
        raise InvalidManifest("signed schema1 manifest has a signature header whose formatLength or "
                              "formatTail does not fit the document")
    return raw[:length] + tail


def _b64url(s: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError("not a base64url string")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class VerifyingReader:
    """Wrap a byte stream; hash and count as it is read, and verify size and digest at EOF.

    The check runs when the underlying stream first returns EOF (or exceeds `size`), so a
    consumer that reads to the end cannot receive unverified content without an exception.
    """

    def __init__(self, raw: BinaryIO, digest: str, size: int | None = None, *, what: str = "blob",
                 origin: str = "registry"):
        self._raw = raw
        self.origin = origin  # where the bytes come from, for the mismatch message (errors.MISMATCH_CAUSES)
        self.digest = digest
        self.size = size
        self.what = what
        self._hash = hasher_for(digest)
        self.bytes_read = 0
        self.verified = False

    def _account(self, chunk) -> None:
        n = len(chunk)
        if n:
            self.bytes_read += n
            if self.size is not None and self.bytes_read > self.size:
                raise SizeMismatch(self.size, self.bytes_read, what=self.what)
            self._hash.update(chunk)
        elif not self.verified:
            self._finish()

    def _finish(self) -> None:
        if self.size is not None and self.bytes_read != self.size:
            raise SizeMismatch(self.size, self.bytes_read, what=self.what)
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if actual != self.digest:
            raise DigestMismatch(self.digest, actual, what=self.what, origin=self.origin)
        self.verified = True

    def read(self, n: int = -1) -> bytes:
        """Read up to n bytes (all when n < 0); verification errors surface at EOF."""
        if n is None or n < 0:
            chunks = []
            while True:
                c = self.read(1 << 20)
                if not c:
                    return b"".join(chunks)
                chunks.append(c)
        chunk = self._raw.read(n) if n else b""
        if n:
            self._account(chunk)
        return chunk

    def readinto(self, buf) -> int:
        """Fill `buf` from the stream; returns 0 at (verified) EOF."""
        view = memoryview(buf)
        n = self._raw.readinto(view) if hasattr(self._raw, "readinto") else None
        if n is None:
            data = self._raw.read(len(view))
            n = len(data)
            view[:n] = data
        self._account(view[:n])
        return n

    def __iter__(self):
        while True:
            chunk = self.read(1 << 20)
            if not chunk:
                return
            yield chunk

    def readable(self) -> bool:
        """File-like protocol."""
        return True

    def close(self) -> None:
        """Close the underlying stream."""
        close = getattr(self._raw, "close", None)
        if close:
            close()
