"""Digests: compute, verify, and hash a stream as it is read.

Digests are always computed over the exact bytes received, never over re-serialised JSON
(https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import BinaryIO

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
    algo = expected.split(":", 1)[0]
    actual = compute(data, algo)
    if actual != expected:
        raise DigestMismatch(expected, actual, what=what)


def manifest_digest(raw: bytes, media_type: str | None, algorithm: str = "sha256") -> str:
    """The digest a registry gives a manifest.

    That is the hash of the bytes, except for signed schema1, where registries hash the JWS
    payload with the signatures cut out (libtrust's prettyjws: protected header carries
    formatLength and formatTail). https://github.com/distribution/distribution/blob/v2.8.2/manifest/schema1/manifest.go
    """
    if mt.base(media_type) == mt.DOCKER_SCHEMA1_SIGNED:
        try:
            doc = json.loads(raw)
            protected = doc["signatures"][0]["protected"]
            header = json.loads(_b64url(protected))
            payload = raw[: int(header["formatLength"])] + _b64url(header["formatTail"])
            return compute(payload, algorithm)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InvalidManifest(f"signed schema1 manifest has no usable signature header: {exc}") from None
    return compute(raw, algorithm)


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class VerifyingReader:
    """Wrap a byte stream; hash and count as it is read, and verify size and digest at EOF.

    The check runs when the underlying stream first returns EOF (or exceeds `size`), so a
    consumer that reads to the end cannot receive unverified content without an exception.
    """

    def __init__(self, raw: BinaryIO, digest: str, size: int | None = None, *, what: str = "blob"):
        self._raw = raw
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
            raise DigestMismatch(self.digest, actual, what=self.what)
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
