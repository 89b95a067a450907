"""pytest fixtures for the inventory tests (``pytest_plugins = ["helpers.inventory_fixtures"]``): the package-database trees of helpers.packagedbs, built once.

A missing program skips the tests that need it, except under CI, where it fails them (helpers.ci).
"""

from __future__ import annotations

import pytest

from . import packagedbs
from .ci import in_ci


def _build(make, *args):
    try:
        return make(*args)
    except packagedbs.ToolMissing as exc:
        if in_ci():
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def dpkg_minbase():
    return _build(packagedbs.dpkg_minbase)


@pytest.fixture(scope="session")
def dpkg_removed():
    return _build(packagedbs.dpkg_removed)


@pytest.fixture(scope="session")
def dpkg_status_d():
    return _build(packagedbs.dpkg_status_d)


@pytest.fixture(scope="session")
def dpkg_states(tmp_path_factory):
    return _build(packagedbs.dpkg_states, tmp_path_factory.mktemp("dpkg-states"))


@pytest.fixture(scope="session")
def rpm_sqlite():
    return _build(packagedbs.rpm_sqlite)


@pytest.fixture(scope="session")
def python_site():
    return _build(packagedbs.python_site)


@pytest.fixture(scope="session")
def npm_tree():
    return _build(packagedbs.npm_tree)


@pytest.fixture(scope="session")
def java_jars():
    return packagedbs.java_jars()


@pytest.fixture(scope="session")
def apk_installed():
    return packagedbs.apk_installed()

