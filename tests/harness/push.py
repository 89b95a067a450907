"""Moved to registry_explorer.sandbox.push (the sandbox ships it); this alias keeps test imports short."""

import sys

from registry_explorer.sandbox import push as _module

sys.modules[__name__] = _module
