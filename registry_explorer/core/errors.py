"""One error hierarchy for the whole toolkit; every error carries data, not just a message.

::

    RegistryExplorerError
    ├── InvalidReference            (also ValueError) the input string is not a reference
    ├── InvalidPlatform             (also ValueError) the input string is not a platform
    ├── RegistryError               .status .errors .method .url  the registry said no
    │   ├── NotFound                404 (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN, ...)
    │   │   └── PathNotFound        (also FileNotFoundError) no such path in an image's merged filesystem
    │   ├── Unauthorized            401 after auth was tried (or could not be)
    │   └── Denied                  403
    ├── ConnectionFailed            .url .kind  DNS, TCP, TLS, timeout, or a refused redirect
    ├── ProtocolError               .what  a malformed header, URL or value from the server
    ├── RangeRefused                a Range request was not answered with exactly the bytes asked for
    ├── NotAFile                    (also IsADirectoryError) a directory or special file has no bytes to read
    ├── NotADirectory               (also NotADirectoryError) a listing was asked of a file
    ├── SymlinkLoop                 (also OSError, errno ELOOP) more symlinks than Linux follows (MAXSYMLINKS)
    ├── DigestMismatch              .expected .actual  content is not what was asked for
    ├── SizeMismatch                .expected .actual  content length differs from the descriptor
    ├── TooLarge                    .limit .size  a capped buffer would overflow
    │   ├── ManifestTooLarge
    │   └── BlobTooLarge
    ├── InvalidManifest             the bytes are not a manifest/index/config we can read
    ├── InvalidAttestation          .what  bytes that are not the DSSE/in-toto/SLSA/SBOM/cosign document claimed
    ├── SignatureError              .reason  a signature did not verify (which check failed is in .reason)
    ├── PlatformNotFound            .wanted .available  no descriptor in the index matches
    ├── FetchFailed                 .failures .succeeded .first  some blobs of a fetch_blobs call failed
    ├── UnsafeCache                 the cache directory is not private (owner, group/other write) or holds a link
    ├── Cancelled                   the caller cancelled; partial files were removed
    └── MissingExtra                (also ImportError) .module .extra .feature  an optional extra is not installed

Messages name what was wrong and what to do; none of them ever contain a credential: the base
class passes every message through `core.redact.redact_text` (one redaction path for every error,
whoever builds it), and the attributes that hold a URL, a reference or an error body are redacted too.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any

from .redact import redact_body, redact_reference, redact_text, redact_url


class RegistryExplorerError(Exception):
    """Base class of every error raised by registry_explorer; its message is redacted when it is made."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args), **kwargs)


class InvalidReference(RegistryExplorerError, ValueError):
    """A string that is not a valid image reference."""

    def __init__(self, reference: str, reason: str):
        # A reference pasted from a URL may carry `user:password@`: never keep it, not even in an attribute.
        self.reference = redact_reference(reference)
        self.reason = redact_text(reason)
        super().__init__(f"invalid reference {self.reference!r}: {self.reason}")


class InvalidPlatform(RegistryExplorerError, ValueError):
    """A string that is not a valid platform (os/arch[/variant][:os.version])."""


class RegistryError(RegistryExplorerError):
    """The registry answered with an error status; `.errors` holds the parsed OCI error list."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[dict[str, Any]] = (),
        method: str | None = None,
        url: str | None = None,
    ):
        self.status = status
        self.errors = redact_body(list(errors))  # a server's error body may echo our token back
        self.method = method
        self.url = redact_url(url) if url is not None else None
        super().__init__(message)

    @property
    def codes(self) -> list[str]:
        """The OCI error codes, e.g. ['MANIFEST_UNKNOWN']."""
        return [str(e.get("code")) for e in self.errors if isinstance(e, dict) and e.get("code")]


class NotFound(RegistryError):
    """404: the repository, tag, manifest or blob does not exist (or is hidden from you)."""


class Unauthorized(RegistryError):
    """401: the registry wants credentials we do not have, or rejected the ones we sent."""


class Denied(RegistryError):
    """403: authenticated, but not allowed."""


class PathNotFound(NotFound, FileNotFoundError):
    """No such path in the image's merged filesystem (also FileNotFoundError, as fsspec and pandas expect)."""

    def __init__(self, message: str):
        super().__init__(message)


class NotAFile(RegistryExplorerError, IsADirectoryError):
    """The path is a directory or a special file (device, FIFO), which has no bytes to read."""


class NotADirectory(RegistryExplorerError, NotADirectoryError):
    """A directory listing was asked of a file (or of something else that is not a directory)."""


class SymlinkLoop(RegistryExplorerError, OSError):
    """Resolving a path met more symlinks than Linux follows (MAXSYMLINKS, 40): a loop, or hostile."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ELOOP


class RangeRefused(RegistryExplorerError):
    """A registry did not answer a Range request with exactly the bytes asked for (the caller then streams)."""


class ConnectionFailed(RegistryExplorerError):
    """The registry could not be reached: DNS, connection, TLS or timeout."""

    def __init__(self, message: str, *, url: str | None = None, kind: str = "connect"):
        self.url = redact_url(url) if url is not None else None
        self.kind = kind  # connect, timeout, tls-verify, tls-handshake, redirect, stream
        super().__init__(message)


class ProtocolError(RegistryExplorerError):
    """The server's answer broke the protocol: a malformed header, URL or number it controls."""

    def __init__(self, message: str, *, what: str = ""):
        self.what = what
        super().__init__(message)


# Why bytes can differ from their digest depends on where they came from (DigestMismatch's `origin`).
MISMATCH_CAUSES = {
    "registry": "the content was corrupted in transit or the registry served the wrong bytes",
    "layout": "the layout's file does not hold the bytes its digest names (damaged or replaced on disk)",
    "cache": "the cached copy is damaged; it was removed and will be fetched again",
}


class DigestMismatch(RegistryExplorerError):
    """Content hashed to `.actual` where `.expected` was promised; `.origin` says where the bytes came from."""

    def __init__(self, expected: str, actual: str, *, what: str = "content", origin: str = "registry"):
        self.expected = expected
        self.actual = actual
        self.what = what
        self.origin = origin
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}; "
                         f"{MISMATCH_CAUSES.get(origin, MISMATCH_CAUSES['registry'])}")


class SizeMismatch(RegistryExplorerError):
    """Content was `.actual` bytes long where the descriptor promised `.expected`."""

    def __init__(self, expected: int, actual: int, *, what: str = "content"):
        self.expected = expected
        self.actual = actual
        self.what = what
        super().__init__(f"size mismatch for {what}: descriptor says {expected} bytes, got {actual}")


class TooLarge(RegistryExplorerError):
    """A response would exceed a named safety limit."""

    def __init__(self, what: str, limit: int, size: int | None = None, hint: str = ""):
        self.limit = limit
        self.size = size
        got = f"{size} bytes" if size is not None else "more"
        super().__init__(f"{what} is too large: {got}, limit is {limit} bytes{hint}")


class ManifestTooLarge(TooLarge):
    """A manifest or index larger than MANIFEST_LIMIT."""


class BlobTooLarge(TooLarge):
    """A blob read into memory with blob() larger than its limit; stream it with open_blob()."""


class InvalidManifest(RegistryExplorerError):
    """Bytes that do not parse as the manifest, index or config they claim to be."""


class InvalidAttestation(RegistryExplorerError):
    """Bytes that do not decode as the supply-chain document (DSSE, in-toto, SLSA, SBOM, cosign) they claim to be."""

    def __init__(self, message: str, *, what: str = "document"):
        self.what = what
        super().__init__(f"{what}: {message}")


class SignatureError(RegistryExplorerError):
    """A signature check failed; `.reason` names which one (missing, signature, digest, key, malformed)."""

    def __init__(self, message: str, *, reason: str, reference: str | None = None):
        self.reason = reason
        self.reference = redact_reference(reference) if reference is not None else None
        super().__init__(message)


class PlatformNotFound(RegistryExplorerError):
    """No entry of an index matches the wanted platform."""

    def __init__(self, wanted: str, available: Sequence[str]):
        self.wanted = wanted
        self.available = list(available)
        avail = ", ".join(self.available) or "none"
        super().__init__(f"no manifest for platform {wanted}; available: {avail}")


class FetchFailed(RegistryExplorerError):
    """Some blobs of one `fetch_blobs` call failed while the others were written.

    `.failures` maps each failed digest to its error, `.succeeded` lists the files written, and
    `.first` is the first failure (what a message explains).
    """

    def __init__(self, failures: dict, succeeded: list, *, total: int):
        self.failures = dict(failures)
        self.succeeded = list(succeeded)
        self.first = next(iter(self.failures.values()))
        super().__init__(f"{len(self.failures)} of {total} blobs failed ({len(self.succeeded)} written); "
                         f"first: {self.first}")


class UnsafeCache(RegistryExplorerError):
    """The cache directory is not private to this user, or holds a link: it is refused (as ssh refuses its keys)."""


class Cancelled(RegistryExplorerError):
    """The caller cancelled the operation (e.g. a fetch from the widget); nothing partial is kept."""


class MissingExtra(RegistryExplorerError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the pip line."""

    def __init__(self, module: str, extra: str, feature: str):
        self.module = module
        self.extra = extra
        self.feature = feature
        # ImportError's own `name` lets `except ImportError` code see which module was missing.
        super().__init__(
            f"{feature} needs the optional package {module!r}: pip install 'registry-explorer[{extra}]'",
            name=module,
        )
