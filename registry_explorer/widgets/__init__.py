"""The Explorer widget: `ExplorerState` (traitlets, no ipywidgets) and its ipywidgets view `Explorer`."""

from .state import ExplorerState

__all__ = ["Explorer", "ExplorerState"]


def __getattr__(name: str):
    # The view imports ipywidgets (the `widgets` extra; rx.MissingExtra without it); the state (and
    # its tests) must not need it, so a plain install can drive ExplorerState.
    if name == "Explorer":
        from .ui.explorer import Explorer  # optional extra (widgets): the view needs ipywidgets, the state does not

        return Explorer
    raise AttributeError(f"module 'registry_explorer.widgets' has no attribute {name!r}")
