"""registry-explorer: look inside OCI and Docker registries from Python and Jupyter."""

from . import mediatypes
from .auth import Credential
from .client import MANIFEST_LIMIT, Client
from .errors import (
    BlobTooLarge,
    Cancelled,
    ConnectionFailed,
    Denied,
    DigestMismatch,
    InvalidManifest,
    InvalidPlatform,
    InvalidReference,
    ManifestTooLarge,
    MissingExtra,
    NotFound,
    PlatformNotFound,
    RegistryError,
    RegistryExplorerError,
    SizeMismatch,
    TooLarge,
    Unauthorized,
)
from .models import Descriptor, History, ImageConfig, Index, Manifest, parse_manifest
from .platform import Platform
from .reference import Reference, parse_reference
from .retry import RetryPolicy
from .source import BLOB_LIMIT

__version__ = "0.1.0"


def __getattr__(name: str):
    # The widget pulls in ipywidgets; import it only when asked for, so the library stays light.
    if name == "Explorer":
        from .widgets import Explorer

        return Explorer
    if name in ("Layout", "LayoutReference"):
        from . import layout

        return getattr(layout, name)
    if name in ("sandbox", "frames", "widgets"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'registry_explorer' has no attribute {name!r}")

__all__ = [
    "Explorer", "BLOB_LIMIT", "MANIFEST_LIMIT", "BlobTooLarge", "Client", "ConnectionFailed", "Credential", "Denied",
    "Descriptor", "DigestMismatch", "Layout", "LayoutReference", "Cancelled", "History", "ImageConfig", "Index", "InvalidManifest",
    "InvalidPlatform", "InvalidReference", "Manifest", "ManifestTooLarge", "MissingExtra", "NotFound", "Platform",
    "PlatformNotFound", "Reference", "RegistryError", "RetryPolicy", "RegistryExplorerError", "SizeMismatch", "TooLarge",
    "Unauthorized", "mediatypes", "parse_manifest", "parse_reference",
]
