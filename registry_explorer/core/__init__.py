"""TEMPORARY shim (branch pkgdbs): the lead's restructure moves errors.py here.

Drop this package when the restructure lands on main; only `registry_explorer.inventory` imports it.
"""
