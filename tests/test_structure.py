"""The package's structure, checked from its source: import rules, no cycles, folders, sizes, one of each thing.

These are the rules a new maintainer relies on when reading the code (issues 11 and 22): the pure
core never reaches the network stack, the widget's state runs without ipywidgets, nothing outside
widgets/ depends on the widget, nothing imports in a circle (not even for typing), an import inside
a function says why, a folder is one feature of a readable size with no name used twice, and there
is one symlink resolver and one file reader.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "registry_explorer"
NETWORK = ("requests", "urllib3", "http.client", "socket", "ssl")
PURE = ("core", "frames")  # and every module under them
# A module does one job and reads in one sitting; samples.py is data (the sandbox's images).
MODULE_LINES, CLASS_LINES = 400, 250
SIZE_EXEMPT = {"sandbox/samples.py"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _imports(name: str) -> list[tuple[str, str | None]]:
    """(imported module, enclosing function or None) for every import statement of a module."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Import):
                out.extend((a.name, f) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module or ""
                out.append((mod, f))
                for a in child.names:  # `from . import frames` imports a submodule
                    if f"{mod}.{a.name}" in MODULES:
                        out.append((f"{mod}.{a.name}", f))
            visit(child, f)

    visit(tree, None)
    return out


def _ours(mod: str) -> list[str]:
    """The package modules that importing `mod` executes: the module and its parent packages."""
    parts = mod.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in MODULES]


def _closure(start: str) -> dict[str, str]:
    """Every module (ours and foreign) reachable from `start`, with the module that imported it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        for mod, func in _imports(name):
            if func == "__getattr__":
                continue  # a PEP 562 lazy hook runs on attribute access, not when the package is imported
            for target in _ours(mod) or [mod]:
                if target not in seen:
                    seen[target] = name
                    if target in MODULES:
                        todo.append(target)
    return seen


@pytest.mark.parametrize("name", sorted(m for m in MODULES for top in PURE if m.startswith(f"registry_explorer.{top}")))
def test_pure_modules_never_reach_the_network_stack(name):
    reached = _closure(name)
    bad = {m: via for m, via in reached.items() if any(m == n or m.startswith(n + ".") for n in NETWORK)}
    assert not bad, f"registry_explorer.{name} reaches {bad} (module: imported by)"


def test_widget_state_runs_without_ipywidgets():
    reached = _closure("registry_explorer.widgets.state")
    assert not [m for m in reached if m.startswith("ipywidgets")], reached


def test_nothing_outside_widgets_imports_widgets():
    offenders = [
        (name, mod) for name in MODULES if not name.startswith("registry_explorer.widgets")
        for mod, _ in _imports(name) if mod.startswith("registry_explorer.widgets")
    ]
    assert offenders == []


def test_no_import_cycles():
    """No cycles, function-level and TYPE_CHECKING imports included; only `_repr_html_` display hooks are exempt
    (Jupyter calls them after the object exists, so an object can show itself with the html/ views)."""
    graph = {
        name: {t for mod, f in _imports(name) if f != "_repr_html_" for t in _ours(mod) if t != name}
        for name in MODULES
    }
    # A package's own __init__ is executed before its submodules; an edge into a parent package is not a loop.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    cycles, state, stack = [], {}, []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            dfs(node)
    assert cycles == []


def test_module_and_class_sizes():
    too_long = []
    for path in MODULES.values():
        rel = path.relative_to(PKG).as_posix()
        if rel in SIZE_EXEMPT:
            continue
        text = path.read_text()
        if text.count("\n") > MODULE_LINES:
            too_long.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > CLASS_LINES:
                too_long.append(f"{rel}: class {node.name} {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []


def _python(code: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *extra, "-c", code], capture_output=True, text=True, env=env,
                          cwd=PKG.parent, timeout=60)


def test_importing_reference_loads_no_http_library():
    """As `python -X importtime -c "import registry_explorer.core.reference"` would show."""
    p = _python("import registry_explorer.core.reference", "-X", "importtime")
    assert p.returncode == 0, p.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if "|" in line}
    assert "registry_explorer.core.reference" in loaded  # the measurement itself worked
    assert not [m for m in loaded if m.split(".")[0] in ("requests", "urllib3", "ssl")]


def test_import_works_without_fcntl():
    """Windows has no fcntl: `import registry_explorer` (and a Client) must not need it."""
    p = _python("import sys; sys.modules['fcntl'] = None\n"
                "import registry_explorer as rx\n"
                "rx.Client(docker_config={}); import registry_explorer.sources.common\n"
                "print('fcntl' in sys.modules and sys.modules['fcntl'] is not None)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_dir_lists_the_lazy_names():
    import registry_explorer as rx

    assert {"Explorer", "Layout", "Client", "Source", "frames"} <= set(dir(rx))
    assert set(rx.__all__) <= set(dir(rx))


# -- issue 22: folders, names, function-level imports, one resolver and one reader -----------------

MODULES_PER_FOLDER = 15
# Words a comment on a function-level import uses to say why it is there (issue 22: "only where a
# cycle or an optional extra needs them, each with a comment"); import time is the third reason.
_WHY = ("cycle", "extra", "optional", "import time", "on first use", "display hook", "posix", "windows",
        "entry point", "lazily", "lazy", "plugin", "only when", "only if", "only in", "rare")


def _folders() -> dict[Path, list[Path]]:
    out: dict[Path, list[Path]] = {}
    for path in PKG.rglob("*.py"):
        out.setdefault(path.parent, []).append(path)
    return out


def test_no_folder_holds_more_than_15_modules():
    crowded = {d.relative_to(PKG.parent).as_posix(): len(fs) for d, fs in _folders().items()
               if len([f for f in fs if f.name not in ("__init__.py", "__main__.py")]) > MODULES_PER_FOLDER}
    assert crowded == {}


def test_no_two_modules_share_a_name_across_levels():
    """`auth.py` beside `http/auth.py` made a reader guess which one an import meant (issue 22)."""
    names: dict[str, list[str]] = {}
    for path in PKG.rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        names.setdefault(path.stem, []).append(path.relative_to(PKG).as_posix())
    for d in PKG.rglob("*"):
        if d.is_dir() and (d / "__init__.py").exists():
            names.setdefault(d.name, []).append(d.relative_to(PKG).as_posix() + "/")
    assert {k: v for k, v in names.items() if len(v) > 1} == {}


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every import inside a function body."""
    out = []
    lines = path.read_text().splitlines()

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if in_func and isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child.lineno, lines[child.lineno - 1]))
            visit(child, func)

    visit(ast.parse("\n".join(lines)), False)
    return out


def test_every_import_inside_a_function_says_why():
    """A comment on the import's line or the line above names the reason: a cycle, an optional extra, import time."""
    silent = []
    for path in PKG.rglob("*.py"):
        lines = path.read_text().splitlines()
        for lineno, text in _function_imports(path):
            around = (text + " " + (lines[lineno - 2] if lineno > 1 else "")).lower()
            if "#" not in around or not any(w in around.split("#", 1)[1] + around for w in _WHY):
                silent.append(f"{path.relative_to(PKG).as_posix()}:{lineno}: {text.strip()}")
    assert silent == []


def _source_of(rel: str) -> str:
    return (PKG / rel).read_text()


def test_one_symlink_resolver_and_one_file_reader():
    """Issue 22: one module follows symlinks inside an image, one reads a file's bytes out of a layer."""
    texts = {p.relative_to(PKG).as_posix(): p.read_text() for p in PKG.rglob("*.py")}
    hops = [rel for rel, t in texts.items() if "MAX_SYMLINK_HOPS =" in t]
    assert hops == ["imagefs/tree.py"]
    # Following a link target inside the image: the absolute-target rule lives in one place. (extract.py
    # writes to a real directory and asks the OS where a link points: it follows nothing itself.)
    followers = [rel for rel, t in texts.items() if "linkname.startswith(\"/\")" in t]
    assert followers == ["imagefs/tree.py"]
    readers = [rel for rel, t in texts.items() if "read_entry_ranged(" in t and "def read_entry_ranged" not in t]
    assert readers == ["imagefs/reader.py"]
    # Every door reads through ImageFS, never a layer stream of its own.
    for rel, t in texts.items():
        if rel.startswith(("doors/", "widgets/")):
            assert "iter_members(" not in t and "extractfile(" not in t, rel


def test_no_switch_on_the_kind_of_source():
    """Issue 22: code that takes a Source never asks which one it has (only sources/rebuild.py builds one)."""
    import re

    switch = re.compile(r"isinstance\([^)]*\b(Client|Layout)\b|(hasattr|getattr)\((self\.)?(client|source|src)\b")
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel == "sources/rebuild.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if switch.search(line) and "client_or_trace" not in line:
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_client_and_layout_have_the_same_signatures():
    """regclient's model: one interface, a registry and a layout behind it with the same signatures."""
    import inspect

    from registry_explorer.sources.layout import Layout
    from registry_explorer.sources.protocol import Source
    from registry_explorer.sources.remote import Client

    methods = [n for n, v in vars(Source).items() if callable(v) and not n.startswith("_")]
    assert {"tags", "catalog", "read_range", "locate", "settings", "open_file", "has_referrers_api"} <= set(methods)
    for name in methods:
        required = {}
        for cls in (Client, Layout):
            params = list(inspect.signature(getattr(cls, name)).parameters.values())[1:]
            required[cls.__name__] = [p.name for p in params if p.default is inspect.Parameter.empty
                                      and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        proto = [p.name for p in list(inspect.signature(getattr(Source, name)).parameters.values())[1:]
                 if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        # Each source accepts what the protocol passes positionally; none needs more than the protocol gives.
        for cls_name, req in required.items():
            assert len(req) <= len(proto), (name, cls_name, req, proto)


# The folders from the bottom up: a folder imports only folders before it (docs/ARCHITECTURE.md).
FOLDER_ORDER = ("core", "http", "layers", "peek", "imagefs", "sources", "html", "supply", "inventory", "frames",
                "census_engine", "doors", "widgets", "sandbox")


def test_folders_import_downwards_only():
    """The layout is the architecture: no folder reaches up (display hooks and lazy `__getattr__` aside)."""
    rank = {f: i for i, f in enumerate(FOLDER_ORDER)}
    assert {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()} == set(FOLDER_ORDER)
    upward = []
    for name in MODULES:
        parts = name.split(".")
        if len(parts) < 3 and MODULES[name].name != "__init__.py" or len(parts) < 2:
            continue  # the package's own __init__, __main__ and the 0.1 `queries` shim sit above every folder
        src = parts[1]
        for mod, func in _imports(name):
            if func in ("_repr_html_", "__getattr__"):
                continue
            for target in _ours(mod):
                tparts = target.split(".")
                if len(tparts) >= 2 and tparts[1] in rank and rank[tparts[1]] > rank[src]:
                    upward.append(f"{name} -> {target}")
    assert upward == []
