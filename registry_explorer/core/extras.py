"""Optional dependencies: import one by name, or raise MissingExtra naming the extra that installs it.

Core installs stay light (requests, pandas, traitlets, zstandard); heavier parts live in the extras of
pyproject.toml. A feature calls `require()` at the point it first needs its module, so a plain
install imports cleanly and only that feature fails, with the one `pip install` line that fixes it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra

__all__ = ["require"]


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import and return `module`; raise MissingExtra (naming `registry-explorer[extra]`) if it is absent."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Also when the module is there but one of its own dependencies is not: installing the
        # extra again repairs that too, and the chained exception still names the absent module.
        raise MissingExtra(module, extra, feature) from exc
