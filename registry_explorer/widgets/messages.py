"""Turn exceptions into one clear sentence for the Explorer's error box: what went wrong, what to do.

A notebook user reads these instead of a traceback, so each names the input, the registry and
the next step. Library messages never contain credentials, and neither do these.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..core.errors import (
    Cancelled,
    ConnectionFailed,
    Denied,
    DigestMismatch,
    FetchFailed,
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
# The library's generic advice for a 401 (see http/errors.py CRED_HINT): when its message says
# something more specific (credentials withheld on plain http, rejected credentials), that is
# the real cause and is shown instead of this generic advice.
_GENERIC_CRED_HINT = "To authenticate, pass rx.Client(credentials="
REFERENCE_FORMS = ("'repository:tag' (e.g. 'alpine:3.20'), 'registry.example.com/org/app:tag' "
                   "or 'repository@sha256:<64 hex digits>'")


def _registry(ref) -> str:
    return getattr(ref, "registry", None) or "the registry"


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())  # one line: a multi-line message reads like a traceback
    return text if text.endswith((".", "!", "?")) else text + "."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _host_of(exc: ConnectionFailed, reg: str) -> str:
    url = getattr(exc, "url", None) or ""
    return urlsplit(url).netloc or reg


# What the socket and urllib3 say, mapped to one plain reason and one thing to check.
_NETWORK_CAUSES = (
    (("refused",), "the connection was refused",
     "check that the registry is running and listens on that port"),
    (("name or service not known", "nodename nor servname", "failed to resolve", "does not resolve",
      "temporary failure in name resolution", "getaddrinfo", "no address associated"),
     "the host name does not resolve (DNS)", "check the spelling of the host name, and your DNS"),
    (("timed out", "timeout"), "the connection timed out",
     "check the address, the port and any firewall or proxy in between"),
    (("unreachable", "no route to host"), "the network is unreachable",
     "check your network connection and proxy settings"),
    (("reset by peer", "broke while reading", "remote end closed", "connection aborted"),
     "the connection was dropped", "try again; if it keeps happening, check the proxy in between"),
)


def network_message(exc: ConnectionFailed, reg: str = "the registry") -> str:
    """One line for a network failure: which host, refused / timed out / DNS, and what to check.

    urllib3's own text (`HTTPConnection(host=...): Failed to establish a new connection: [Errno
    111] ...`) is not shown: it says the same thing three times and never what to do.
    """
    host = _host_of(exc, reg)
    kind = getattr(exc, "kind", "connect")
    if kind in ("tls-verify", "tls-handshake", "redirect"):
        # The library's message is already specific (private CA: ca_bundle=; insecure=; a refused
        # downgrade): pass it through.
        return _sentence(f"Network error: {_capital(str(exc))}")
    low = str(exc).lower()
    if kind == "timeout":
        low += " timed out"
    for needles, why, check in _NETWORK_CAUSES:
        if any(n in low for n in needles):
            return _sentence(f"Network error: could not talk to {host}: {why}; {check}")
    return _sentence(f"Network error: could not talk to {host}; check the host name and port, that the "
                     "registry is running, and your network or proxy settings")


_RULE = re.compile(r"\s*\(R\d+\)")


def _unauthorized_cause(exc: Unauthorized, reg: str, what: str) -> str:
    """A 401 whose cause the library knows: credentials not sent (plain http), or rejected."""
    text = _RULE.sub("", str(exc))
    login = (f"rx.Client(credentials={{{reg!r}: ('USER', 'PASSWORD')}}) or run `docker login {reg}`, "
             "then give that client to the Explorer: rx.Explorer(client)")
    if "were rejected" in text:
        return _sentence(f"Not signed in: {reg} refused your user name and password (or token) for {what}. "
                         f"Check them and create the client again with {login}")
    if "not sent" in text:
        why = text.split("not sent:", 1)[1].split(";", 1)[0].strip() if "not sent:" in text else ""
        because = f" because {why}" if why else ""
        fix = (f" If you trust this network, create the client with rx.Client(credentials=..., "
               f"insecure=({reg!r},))") if "insecure=" in text else ""
        return _sentence(f"Not signed in: your credentials for {reg} were not sent{because}, so it refused "
                         f"to let you read {what}.{fix}")
    detail = text.split(")", 1)[-1].strip(" .") if text.startswith("unauthorized:") else text
    return _sentence(f"Not signed in: {reg} did not let you read {what}. {_capital(detail)}")


def error_message(exc: BaseException, ref=None, *, action: str = "") -> str:
    """One sentence (or two) explaining `exc`, mentioning `ref` (the Reference being worked on) if known."""
    what = str(ref) if ref is not None else "the image"
    reg = _registry(ref)
    if isinstance(exc, FetchFailed):  # several blobs, some failed: the first failure is the one to explain
        exc = exc.first
    if isinstance(exc, Cancelled):
        return CANCELLED
    if isinstance(exc, InvalidReference):
        hint = "" if "expected" in exc.reason.lower() else f". Expected {REFERENCE_FORMS}"
        return _sentence(f"{exc.reference!r} is not a valid image reference: {exc.reason}{hint}")
    if isinstance(exc, InvalidPlatform):
        return _sentence(f"{exc}")
    if isinstance(exc, Unauthorized) and _GENERIC_CRED_HINT not in str(exc):
        # The library named the cause (credentials withheld on plain http, rejected credentials):
        # repeating "pass credentials=" would send the user round in a circle. Said once, in
        # words, with the next step; the gate's rule numbers mean nothing to a student.
        return _unauthorized_cause(exc, reg, what)
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
    if isinstance(exc, NotFound) and getattr(ref, "digest", None):
        return _sentence(
            f"Not found: {reg} has no manifest {ref.digest} in {ref.repository}. A digest names exact bytes: "
            "check that it was copied whole, and that it was pushed to this repository (a digest exists "
            "only in the repositories it was pushed to)"
        )
    if isinstance(exc, NotFound):
        return _sentence(
            f"Not found: {what} does not exist on {reg} (the repository or tag is unknown, "
            "or hidden from you). Check the spelling; the Tags tab lists the tags that exist"
        )
    if isinstance(exc, ConnectionFailed):
        return network_message(exc, reg)
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
