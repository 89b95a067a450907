"""Moved to registry_explorer.sandbox.samples (the sandbox ships it); this alias keeps test imports short."""

import sys

from registry_explorer.sandbox import samples as _module

sys.modules[__name__] = _module
