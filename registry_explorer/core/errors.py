"""TEMPORARY shim (branch pkgdbs): re-exports `registry_explorer.errors` under its post-restructure name.

The lead drops this file (and `core/__init__.py`) when merging the restructure, which moves errors.py here.
"""

from ..errors import *  # noqa: F401,F403
from ..errors import InvalidManifest, RegistryExplorerError, TooLarge  # noqa: F401 - named for type checkers
