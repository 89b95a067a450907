"""Moved to registry_explorer.sandbox.certs (the sandbox ships it); this alias keeps test imports short."""

import sys

from registry_explorer.sandbox import certs as _module

sys.modules[__name__] = _module
