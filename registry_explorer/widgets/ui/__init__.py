"""The Explorer's ipywidgets view: it builds widgets, links them to `ExplorerState` and renders HTML.

Decisions live in the headless state (`widgets/state.py` and its parts), which the tests drive
without a browser; this folder is the only place that imports ipywidgets.
"""
