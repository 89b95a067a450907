"""registry-explorer: look inside OCI and Docker registries from Python and Jupyter.

The names below load lazily: `import registry_explorer.core.reference` (or `.models`) imports no
HTTP library, and the widget (ipywidgets) loads only when `rx.Explorer` is first used.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

from .core import mediatypes
from .core.errors import (
    BlobTooLarge,
    Cancelled,
    ConnectionFailed,
    Denied,
    DigestMismatch,
    FetchFailed,
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
from .core.limits import MANIFEST_LIMIT
from .core.models import Descriptor, History, ImageConfig, Index, Manifest, parse_manifest
from .core.platform import Platform
from .core.reference import Reference, parse_reference

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562).
_LAZY = {
    "Client": ".sources.remote",
    "Cache": ".sources.cache",
    "Credential": ".http.credentials",
    "RetryPolicy": ".http.retry",
    "BLOB_LIMIT": ".sources.common",
    "Source": ".sources.protocol",
    "Layout": ".sources.layout",
    "LayoutReference": ".sources.layout",
    "census": ".census_engine.run",
    "Census": ".census_engine.run",
    # The one place outside widgets/ that names the widget: the documented lazy hook for rx.Explorer.
    "Explorer": ".widgets",
    # `%load_ext registry_explorer` looks this up on the package; the magic imports only then.
    "load_ipython_extension": ".doors.magic",
    "verify_cosign": ".supply.verify",
    "packages": ".frames.inventory_tables",  # what is installed (issue 25)
    "diff": ".frames.changes",  # what changed between two images, file by file (issue 25)
}
# Subpackages reachable as attributes (`rx.frames`), imported on first access.
_SUBMODULES = {"frames": ".frames", "sandbox": ".sandbox", "widgets": ".widgets", "queries": ".queries",
               "supply": ".supply"}


# Modules that moved when the package became a folder per feature (issue 22). The old import paths
# keep working through this table until 0.3.0, with a DeprecationWarning; new code uses the new paths.
_MOVED = {
    "registry_explorer.reference": "registry_explorer.core.reference",
    "registry_explorer.platform": "registry_explorer.core.platform",
    "registry_explorer.mediatypes": "registry_explorer.core.mediatypes",
    "registry_explorer.digest": "registry_explorer.core.digest",
    "registry_explorer.models": "registry_explorer.core.models",
    "registry_explorer.errors": "registry_explorer.core.errors",
    "registry_explorer.units": "registry_explorer.core.units",
    "registry_explorer.auth": "registry_explorer.http.credentials",
    "registry_explorer.retry": "registry_explorer.http.retry",
    "registry_explorer.listing": "registry_explorer.http.pagination",
    "registry_explorer.trace": "registry_explorer.http.trace",
    "registry_explorer.protocol": "registry_explorer.sources.protocol",
    "registry_explorer.source": "registry_explorer.sources.common",
    "registry_explorer.client": "registry_explorer.sources.remote",
    "registry_explorer.layout": "registry_explorer.sources.layout",
    "registry_explorer.cache": "registry_explorer.sources.cache",
    "registry_explorer.extract": "registry_explorer.sources.extract",
    "registry_explorer.layerfs": "registry_explorer.layers",
    "registry_explorer.imagefiles": "registry_explorer.imagefs.filesystem",
    "registry_explorer.census_run": "registry_explorer.census_engine.run",
    "registry_explorer.frames.census": "registry_explorer.frames.census_tables",
    "registry_explorer.frames.supply": "registry_explorer.frames.supply_chain",
    "registry_explorer.fsspec_docker": "registry_explorer.doors.dockerfs",
    "registry_explorer.dockerpath": "registry_explorer.doors.dockerpath",
    "registry_explorer.magic": "registry_explorer.doors.magic",
    "registry_explorer.verbs": "registry_explorer.doors.operations",
    "registry_explorer.cli": "registry_explorer.doors.cli",
    "registry_explorer.widgets.view": "registry_explorer.widgets.ui.explorer",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import finder for `_MOVED`: `import registry_explorer.client` gives `registry_explorer.sources.remote`."""
    def find_spec(self, fullname, path=None, target=None):
        """A spec for an old module path, else None (the normal finders decide)."""
        return importlib.util.spec_from_loader(fullname, self) if fullname in _MOVED else None

    def create_module(self, spec):
        """The default (empty) module; `exec_module` replaces it."""
        return None

    def exec_module(self, module):
        """Put the module at its new path in the old path's place (importlib re-reads sys.modules)."""
        new = _MOVED[module.__name__]
        warnings.warn(f"{module.__name__} moved to {new}; the old path goes in 0.3.0", DeprecationWarning,
                      stacklevel=2)
        sys.modules[module.__name__] = importlib.import_module(new)


def _install_moved_finder() -> None:
    # Right after the path finder, so only names no file answers reach it (before an editable install's
    # finder, which would otherwise find a stale copy of an old module elsewhere on the machine).
    if any(isinstance(f, _MovedModules) for f in sys.meta_path):
        return
    after = [i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder]
    sys.meta_path.insert(after[0] + 1 if after else len(sys.meta_path), _MovedModules())


_install_moved_finder()


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name], __name__)
    raise AttributeError(f"module 'registry_explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "BLOB_LIMIT", "MANIFEST_LIMIT", "BlobTooLarge", "Cache", "Cancelled", "Client", "ConnectionFailed", "Credential", "Denied",
    "Descriptor", "DigestMismatch", "FetchFailed", "Explorer", "History", "ImageConfig", "Index", "InvalidManifest",
    "InvalidPlatform", "InvalidReference", "Layout", "LayoutReference", "Manifest", "ManifestTooLarge", "MissingExtra", "NotFound",
    "Platform", "PlatformNotFound", "ProtocolError", "Reference", "RegistryError", "RegistryExplorerError",
    "RetryPolicy", "SizeMismatch", "Source", "TooLarge", "Unauthorized", "mediatypes", "parse_manifest",
    "load_ipython_extension", "parse_reference", "InvalidAttestation", "SignatureError", "verify_cosign",
    "Census", "census", "packages", "diff",
]
