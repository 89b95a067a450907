"""registry-explorer: look inside OCI and Docker registries from Python and Jupyter.

The names below load lazily: `import registry_explorer.reference` (or `.models`) imports no
HTTP library, and the widget (ipywidgets) loads only when `rx.Explorer` is first used.
"""

from __future__ import annotations

import importlib

from . import mediatypes
from .errors import (
    BlobTooLarge,
    Cancelled,
    ConnectionFailed,
    Denied,
    DigestMismatch,
    InvalidAttestation,
    InvalidManifest,
    InvalidPlatform,
    InvalidReference,
    ManifestTooLarge,
    MissingExtra,
    NotFound,
    PlatformNotFound,
    ProtocolError,
    RegistryError,
    RegistryExplorerError,
    SignatureError,
    SizeMismatch,
    TooLarge,
    Unauthorized,
)
from .limits import MANIFEST_LIMIT
from .models import Descriptor, History, ImageConfig, Index, Manifest, parse_manifest
from .platform import Platform
from .reference import Reference, parse_reference

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562).
_LAZY = {
    "Client": ".client",
    "Cache": ".cache",
    "Credential": ".auth",
    "RetryPolicy": ".retry",
    "BLOB_LIMIT": ".source",
    "Source": ".protocol",
    "Layout": ".layout",
    "LayoutReference": ".layout",
    "census": ".census_run",
    "Census": ".census_run",
    # The one place outside widgets/ that names the widget: the documented lazy hook for rx.Explorer.
    "Explorer": ".widgets",
    # `%load_ext registry_explorer` looks this up on the package; the magic imports only then.
    "load_ipython_extension": ".magic",
    "verify_cosign": ".supply.verify",
}
_SUBMODULES = ("frames", "sandbox", "widgets", "queries", "supply")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'registry_explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "BLOB_LIMIT", "MANIFEST_LIMIT", "BlobTooLarge", "Cache", "Cancelled", "Client", "ConnectionFailed", "Credential", "Denied",
    "Descriptor", "DigestMismatch", "Explorer", "History", "ImageConfig", "Index", "InvalidManifest",
    "InvalidPlatform", "InvalidReference", "Layout", "LayoutReference", "Manifest", "ManifestTooLarge", "MissingExtra", "NotFound",
    "Platform", "PlatformNotFound", "ProtocolError", "Reference", "RegistryError", "RegistryExplorerError",
    "RetryPolicy", "SizeMismatch", "Source", "TooLarge", "Unauthorized", "mediatypes", "parse_manifest",
    "load_ipython_extension", "parse_reference", "InvalidAttestation", "SignatureError", "verify_cosign",
    "Census", "census",
]
