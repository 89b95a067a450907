"""Issue 16 in the saved notebooks: what a student sees before running anything (01) and notebook 05's tables.

These read the committed, executed notebooks (notebooks/build.py writes them); nbval checks that
a fresh run still produces the same outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HUMAN = re.compile(r"^(\d+ B|\d+\.\d (KiB|MiB|GiB))$")


def _outputs(name: str):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [(c, o) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _html_tables(name: str) -> list[str]:
    return [o["data"]["text/html"] for _, o in _outputs(name) if "<table" in o.get("data", {}).get("text/html", "")]


def _column(html: str, header: str) -> list[str]:
    """The cell texts of column `header` of a pandas Styler table."""
    heads = re.findall(r'<th id="[^"]*_level0_col(\d+)"[^>]*>([^<]*)</th>', html)
    col = next(i for i, h in heads if h.strip() == header)
    return [t.strip() for t in re.findall(rf'<td id="[^"]*_row\d+_col{col}"[^>]*>([^<]*)</td>', html)]


def test_notebook_01_saves_a_readable_explorer_fallback():
    """Before: an unrun notebook 01 showed `Explorer(children=(HBox(…` where the Explorer goes."""
    (explorer,) = [o for c, o in _outputs("01-quickstart.ipynb")
                   if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    data = explorer["data"]
    assert not data["text/plain"].startswith("Explorer(children=")
    assert data["text/plain"].startswith("Explorer: ") and "demo/multiarch:1.0 is an OCI image index" in data["text/plain"]
    html = data["text/html"]
    # JupyterLab strips <style> from untrusted (unrun) outputs: the fallback must not depend on it,
    # nor hold what a stylesheet would hide (the full digest next to the short one).
    assert "<style" not in html and "rx-dg-full" not in html
    digest = re.search(r"sha256:[0-9a-f]{64}", html).group(0)
    assert html.count(digest) == 1
    assert "white-space:nowrap" in html and "1 layer:" in html


def test_notebook_05_sizes_are_human_and_paths_left_aligned():
    """Before: byte counts like 2443877 and right-aligned paths."""
    tables = _html_tables("05-inside-layers.ipynb")
    sizes = [s for t in tables if ">size<" in t for s in _column(t, "size") if s]
    assert len(sizes) >= 10 and all(HUMAN.match(s) for s in sizes), sizes
    wasted = next(t for t in tables if ">wasted_size<" in t)
    assert all(HUMAN.match(s) for s in _column(wasted, "wasted_size") + _column(wasted, "total_size"))
    with_paths = [t for t in tables if ">path<" in t]
    assert len(with_paths) >= 4
    for t in with_paths:
        col = next(i for i, h in re.findall(r'_level0_col(\d+)"[^>]*>([^<]*)<', t) if h == "path")
        assert re.search(rf"#T_[\w-]+_row0_col{col}[^{{]*\{{\s*text-align: left;", t), "paths are not left-aligned"
    assert not any(re.search(r"T_[0-9a-f]{5}_", t) for t in tables), "a random Styler id breaks nbval"


def test_notebook_05_compare_keeps_positions_and_values_apart():
    """Before: one `a`/`b` pair of columns held layer positions (0, 1) and config values ('1', 'hello')."""
    tables = _html_tables("05-inside-layers.ipynb")
    layers = next(t for t in tables if ">position in A<" in t)
    configs = next(t for t in tables if ">value in A<" in t)
    for col in ("position in A", "position in B"):
        assert all(re.fullmatch(r"\d+|&lt;NA&gt;", v) for v in _column(layers, col)), _column(layers, col)
    assert set(_column(configs, "kind")) >= {"env", "labels", "cmd"} and "layer" not in _column(configs, "kind")
    assert "hello" in _column(configs, "value in A") and "bonjour" in _column(configs, "value in B")
