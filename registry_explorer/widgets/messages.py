"""Turn exceptions into one clear sentence for the Explorer's error box: what went wrong, what to do.

A notebook user reads these instead of a traceback, so each names the input, the registry and
the next step. Library messages never contain credentials, and neither do these.
"""

from __future__ import annotations

from ..errors import (
    Cancelled,
    ConnectionFailed,
    Denied,
    DigestMismatch,
    InvalidManifest,
    InvalidPlatform,
    InvalidReference,
    NotFound,
    PlatformNotFound,
    RegistryError,
    RegistryExplorerError,
    SizeMismatch,
    TooLarge,
    Unauthorized,
)

CANCELLED = "Fetch cancelled; partial files removed."
REFERENCE_FORMS = ("'repository:tag' (e.g. 'alpine:3.20'), 'registry.example.com/org/app:tag' "
                   "or 'repository@sha256:<64 hex digits>'")


def _registry(ref) -> str:
    return getattr(ref, "registry", None) or "the registry"


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())  # one line: a multi-line message reads like a traceback
    return text if text.endswith((".", "!", "?")) else text + "."


def error_message(exc: BaseException, ref=None, *, action: str = "") -> str:
    """One sentence (or two) explaining `exc`, mentioning `ref` (the Reference being worked on) if known."""
    what = str(ref) if ref is not None else "the image"
    reg = _registry(ref)
    if isinstance(exc, Cancelled):
        return CANCELLED
    if isinstance(exc, InvalidReference):
        hint = "" if "expected" in exc.reason.lower() else f". Expected {REFERENCE_FORMS}"
        return _sentence(f"{exc.reference!r} is not a valid image reference: {exc.reason}{hint}")
    if isinstance(exc, InvalidPlatform):
        return _sentence(f"{exc}")
    if isinstance(exc, Unauthorized):
        return _sentence(
            f"Unauthorized: {reg} wants credentials to read {what}, or the repository does not exist "
            "(registries answer both with 401). Check the name; for a private image pass credentials with "
            f"rx.Client(credentials={{{reg!r}: ('USER', 'TOKEN')}}) or run `docker login {reg}`, "
            "then give that client to the Explorer: rx.Explorer(client)"
        )
    if isinstance(exc, Denied):
        return _sentence(
            f"Access denied: {reg} will not let you read {what}. Without credentials this can also mean "
            "the repository does not exist; with them, ask for pull access or use other credentials"
        )
    if isinstance(exc, NotFound):
        return _sentence(
            f"Not found: {what} does not exist on {reg} (the repository or tag is unknown, "
            "or hidden from you). Check the spelling; the Tags tab lists the tags that exist"
        )
    if isinstance(exc, ConnectionFailed):
        return _sentence(
            f"Network error: could not talk to {reg} ({exc}). Check the host name and port, "
            "that the registry is running, and your network or proxy settings"
        )
    if isinstance(exc, DigestMismatch):
        return _sentence(
            f"Digest mismatch for {exc.what}: expected {exc.expected} but the bytes hash to {exc.actual}. "
            "The download was corrupted in transit or the registry served the wrong content; "
            "nothing was kept"
        )
    if isinstance(exc, SizeMismatch):
        return _sentence(
            f"Size mismatch for {exc.what}: expected {exc.expected} bytes, got {exc.actual}. "
            "The download was incomplete or corrupted; nothing was kept"
        )
    if isinstance(exc, PlatformNotFound):
        avail = ", ".join(exc.available) or "none"
        return _sentence(f"No image for platform {exc.wanted} in {what}; available platforms: {avail}")
    if isinstance(exc, TooLarge):
        return _sentence(f"Refused: {exc}")
    if isinstance(exc, InvalidManifest):
        return _sentence(f"Unreadable content in {what}: {exc}")
    if isinstance(exc, RegistryError):
        status = f" (HTTP {exc.status})" if exc.status else ""
        return _sentence(f"The registry {reg} refused the request{status}: {exc}")
    if isinstance(exc, RegistryExplorerError):
        return _sentence(str(exc))
    if isinstance(exc, NotADirectoryError):
        return _sentence(f"Cannot save there: {exc}; choose a folder")
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return _sentence(f"Could not write{where}: {exc.strerror or exc}; choose a folder you can write to")
    # Anything else is a bug in us or an unexpected input: name the type, never dump a traceback.
    doing = f" while {action}" if action else ""
    return _sentence(f"Unexpected error{doing} ({type(exc).__name__}): {exc}")
