"""Moved to registry_explorer.sandbox.registry (the sandbox ships it); this alias keeps test imports short."""

import sys

from registry_explorer.sandbox import registry as _module

sys.modules[__name__] = _module
