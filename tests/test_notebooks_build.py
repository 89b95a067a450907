"""The tutorial notebooks as files: built, quiet, free of secrets, and following the house rules.

Executing them is nbval's job (`pytest --nbval ... notebooks/`); these checks are fast and need no
kernel or registry.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))


def _load_build():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                parts.extend(v if isinstance(v, str) else json.dumps(v) for v in out.data.values())
            elif out.output_type == "error":
                parts.append("\n".join(out.traceback))
    return "\n".join(parts)


def test_the_tutorials_exist():
    # The six first tutorials, then the feature notebooks (07 peek, 08 census, 09 supply chain), numbers unique.
    numbers = [n.split("-", 1)[0] for n in NAMES]
    assert numbers[:6] == ["01", "02", "03", "04", "05", "06"] and len(set(numbers)) == len(numbers)
    assert {"07-peek-inside-without-pulling.ipynb", "08-registry-census.ipynb", "09-supply-chain.ipynb"} <= set(NAMES)


def test_find_notebooks_by_name_stem_or_number(tmp_path):
    for name in ("01-a.ipynb", "02-b.ipynb", "10-c.ipynb"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in build.find_notebooks([], tmp_path)] == ["01-a.ipynb", "02-b.ipynb", "10-c.ipynb"]
    assert [p.name for p in build.find_notebooks(["02-b.ipynb", "01", "10-c"], tmp_path)] == [
        "02-b.ipynb", "01-a.ipynb", "10-c.ipynb"]
    with pytest.raises(SystemExit, match="names 0 notebooks"):
        build.find_notebooks(["03"], tmp_path)
    with pytest.raises(SystemExit):
        build.find_notebooks(["0"], tmp_path)  # a prefix must be a whole number part, not any prefix


def test_quiet_drops_timing_and_widget_state():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    build.quiet(nb)
    assert "widgets" not in nb.metadata
    assert "execution" not in nb.cells[0].metadata


def test_first_error_names_the_cell_and_strips_colours():
    ok = nbformat.v4.new_code_cell("1", id="fine")
    bad = nbformat.v4.new_code_cell("1/0", id="boom")
    bad.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                          traceback=["\x1b[31mZeroDivisionError\x1b[39m: division by zero"])]
    nb = nbformat.v4.new_notebook(cells=[ok, bad])
    assert build.first_error(nb) == "cell boom:\n1/0\n\nZeroDivisionError: division by zero"
    assert build.first_error(nbformat.v4.new_notebook(cells=[ok])) is None


def test_sanitize_file_is_valid_for_nbval():
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOKS / "nbval_sanitize.cfg").read_text())
    assert len(patterns) >= 5
    for regex, _ in patterns:
        re.compile(regex)
    # The patterns must not swallow what the tutorials teach: digests survive sanitizing.
    digest = "sha256:" + "ab" * 32
    text = f'127.0.0.1:45678/demo/hello@{digest} "exp": 1795818835 "kid": "{":".join(["ABCD"] * 12)}"'
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    assert text == f'127.0.0.1:PORT/demo/hello@{digest} "exp": TIMESTAMP "kid": "KID"'


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_built_and_quiet(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert "widgets" not in nb.metadata
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Executed top to bottom in one go, by build.py: numbered 1..n, no errors, no timing metadata.
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run notebooks/build.py"
    for cell in nb.cells:
        assert "execution" not in cell.metadata
        assert all(o.output_type != "error" for o in cell.get("outputs", []))
        assert all(o.get("name") != "stderr" for o in cell.get("outputs", [])), "stderr output in " + cell.id


@pytest.mark.parametrize("name", NAMES)
def test_notebook_documents_its_registry_and_stops_the_sandbox(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert "RX_REFERENCE" in nb.cells[0].source  # the first cell says how to point it elsewhere
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("RX_REFERENCE")' in setup.source
    assert "rx.sandbox.start(" in setup.source
    assert "sb.stop()" in nb.cells[-1].source


@pytest.mark.parametrize("name", NAMES)
def test_outputs_hold_no_secret_and_no_machine_detail(name):
    from registry_explorer.sandbox import DEMO_PASSWORD, DEMO_USER

    text = _outputs_text(nbformat.read(NOTEBOOKS / name, as_version=4))
    basic = base64.b64encode(f"{DEMO_USER}:{DEMO_PASSWORD}".encode()).decode()
    assert basic not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text), "a JWT in the outputs"
    assert f"{DEMO_USER} / {DEMO_PASSWORD}" not in text  # Sandbox.describe() prints the credentials
    assert not re.search(r"/tmp/|rx-sandbox-|rx-layout-", text), "a temporary path in the outputs"
    assert not re.search(r"\b0x[0-9a-f]{6,}\b", text), "an object address in the outputs"
    assert len(text) < 200_000, "outputs should stay small"
