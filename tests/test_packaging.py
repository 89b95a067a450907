"""environment.yml (conda) and pyproject.toml (pip) must list the same packages."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def _name(spec: str) -> str:
    return _NAME.match(spec).group(1).lower().replace("_", "-")


def pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {_name(s) for s in specs}


def environment_names() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    deps = text[text.index("dependencies:"):]
    for line in deps.splitlines():
        m = re.match(r"^\s+- ([^#]+?)\s*(#.*)?$", line)
        if not m or m.group(1).endswith(":") or m.group(1).startswith("-e "):
            continue
        names.add(_name(m.group(1)))
    return names - {"python", "pip"}


def test_same_dependencies():
    assert pyproject_names() == environment_names()


def test_environment_installs_the_project_with_test_extra():
    assert "- -e .[test]" in (ROOT / "environment.yml").read_text()
    assert "conda-forge" in (ROOT / "environment.yml").read_text()
