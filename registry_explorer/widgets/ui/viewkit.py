"""Small helpers every pane of the Explorer view shares: CSS hooks and quiet widget updates.

The view's panes (view.py and the pane_*.py mixins) set widget values from the state; an
observer on such a widget must not treat that as a user action and call back into the state.
"""

from __future__ import annotations

import contextlib

import ipywidgets as w

from ...core.units import human_size

# Two widths only, so the panes line up: lists span the pane, fields and bars share one column.
# "100%" plus ipywidgets' 2px margins on each side overflowed every pane by 4px (a scrollbar under each).
FULL_WIDTH = "calc(100% - 2 * var(--jp-widgets-margin, 2px))"
WIDE = "32em"


# The Explorer's own layout rules, scoped to its root. Wide tables (layers, manifests, the HTTP
# trace) scroll sideways inside their pane instead of losing their right-hand columns on a narrow
# screen (1024x768 with Lab's file browser open); sizes never break between number and unit.
# Tab buttons take the width of their label and wrap to a second row rather than clip ("Supply c",
# issue 26); a pane itself never scrolls sideways (one field a pixel too wide put a scrollbar under
# every pane); buttons are as wide as their words.
EXPLORER_CSS = """<style>
.rx-explorer{min-width:0;max-width:100%}
.rx-explorer .rx-scroll{overflow-x:auto;overflow-y:hidden;min-width:0;max-width:100%}
.rx-explorer .rx-scroll>.widget-html-content{display:block;min-width:max-content}
.rx-explorer .widget-tab,.rx-explorer .widget-tab>.widget-box,.rx-explorer .widget-vbox{min-width:0;max-width:100%}
.rx-explorer .rx-size,.rx-explorer [title$=" bytes"]{white-space:nowrap}
.rx-explorer .rx-tab-buttons{width:auto;max-width:100%}
.rx-explorer .rx-tab-buttons .widget-toggle-buttons{flex-wrap:wrap}
.rx-explorer .rx-tab-buttons button{flex:0 0 auto;margin:0 1px 0 0;border-radius:4px 4px 0 0}
.rx-explorer .rx-tabs{border:var(--jp-border-width,1px) solid var(--jp-border-color1,#ccc);padding:6px;
  overflow-x:hidden;min-width:0;max-width:100%;box-sizing:border-box}
.rx-explorer .rx-tabs>.widget-box{min-width:0;max-width:100%}
.rx-explorer .widget-select,.rx-explorer .widget-select-multiple,.rx-explorer .widget-textarea{max-width:100%}
.rx-explorer button{min-width:max-content}
</style>"""


def scrolling(widget: w.Widget) -> w.Widget:
    """`widget` (an HTML pane) scrolling sideways within the Explorer when its table is wider."""
    widget.add_class("rx-scroll")
    widget.layout.overflow_x = "auto"
    widget.layout.max_width = "100%"
    return widget


def hook(widget: w.Widget, cls: str) -> w.Widget:
    """`widget` with CSS class `cls`: the contract with the browser tests (see view.py)."""
    widget.add_class(cls)
    return widget


def done_of(done: int, total: int) -> str:
    """'3.0 MiB of 12.0 MiB' for a progress label."""
    return f"{human_size(done)} of {human_size(total)}"


class SyncMixin:
    """`with self._sync():` marks widget updates as coming from the state, per thread.

    Per thread: the fetch thread re-renders while a callback may run on another thread, and
    one thread's "I am syncing" must not silence the other's user action. The view sets
    `self._local = threading.local()` before building.
    """

    @property
    def _syncing(self) -> bool:
        return getattr(self._local, "syncing", False)

    @contextlib.contextmanager
    def _sync(self):
        """Set widget values from the state without their observers calling back into the state."""
        was = self._syncing
        self._local.syncing = True
        try:
            yield
        finally:
            self._local.syncing = was
