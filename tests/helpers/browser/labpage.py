"""Drive the JupyterLab 4 UI with Playwright (sync API).

Traps handled here (see shared/README.md):

* the toolbar's kernel indicator says idle ~1 s before a kernel exists, and a Run All clicked
  then silently runs nothing: wait for the *status bar* text ``Python 3 (ipykernel) | Idle``;
* Run All is the menu item ``.lm-Menu-item[data-command="runmenu:run-all"]`` (open Run first).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .lab import KERNEL_DISPLAY_NAME, RunningLab

STATUS_BAR = "#jp-main-statusbar"
IDLE_TEXT = f"{KERNEL_DISPLAY_NAME} | Idle"
_PROMPT_RE = re.compile(r"^\[(\d+)\]:$")


def progress_fraction(locator) -> float | None:
    """An ipywidgets 8 progress bar's fill, 0.0-1.0, from ``.progress-bar``'s ``style.width``.

    (ipywidgets 8 sets ``width: NN%`` on ``.widget-hprogress .progress-bar``; there is no
    ``aria-valuenow``.) ``None`` when the bar is not rendered or the width is not a percentage.
    """
    width = locator.locator(".progress-bar").first.evaluate("e => e.style.width")
    m = re.fullmatch(r"\s*([\d.]+)%\s*", width or "")
    return float(m.group(1)) / 100.0 if m else None


class LabPage:
    """One browser page on one notebook of a :class:`RunningLab`."""

    def __init__(self, page, lab: RunningLab, timings: dict | None = None):
        self.page = page
        self.lab = lab
        self.timings = timings if timings is not None else {}
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    # --- notebook lifecycle ----------------------------------------------------------

    def open_notebook(self, rel_path: str, *, timeout: float = 90) -> None:
        """Open ``rel_path`` in a workspace of its own and wait until its kernel is really idle."""
        t0 = time.monotonic()
        workspace = re.sub(r"[^A-Za-z0-9]+", "-", rel_path) + f"-{int(t0 * 1000)}"
        self.page.goto(self.lab.notebook_url(rel_path, workspace=workspace), timeout=timeout * 1000)
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        self.timings["notebook_visible_s"] = round(time.monotonic() - t0, 3)
        self.wait_kernel_idle(timeout=timeout)
        self.timings["kernel_idle_s"] = round(time.monotonic() - t0, 3)

    def wait_kernel_idle(self, *, timeout: float = 90) -> None:
        self.page.locator(STATUS_BAR).get_by_text(IDLE_TEXT, exact=True).wait_for(timeout=timeout * 1000)

    def run_all(self) -> None:
        """Run ▸ Run All Cells, through the menu."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^\s*Run\s*$")).first.click()
        item = self.page.locator('.lm-Menu-item[data-command="runmenu:run-all"]')
        item.wait_for(state="visible", timeout=10_000)
        item.click()

    def cells(self):
        return self.page.locator(".jp-Notebook .jp-Cell")

    def execution_counts(self) -> list[int | None]:
        out = []
        for text in self.page.locator(".jp-Notebook .jp-Cell .jp-InputArea-prompt").all_inner_texts():
            m = _PROMPT_RE.match(text.strip().replace("\xa0", ""))
            out.append(int(m.group(1)) if m else None)
        return out

    def wait_all_executed(self, *, timeout: float = 60) -> list[int]:
        """Wait until every code cell shows a numbered prompt (outputs were stripped beforehand)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.execution_counts()
            if counts and all(c is not None for c in counts):
                return counts  # type: ignore[return-value]
            if time.monotonic() > deadline:
                raise AssertionError(f"not every cell ran within {timeout}s: prompts {counts}\n{self.diagnostics()}")
            time.sleep(0.1)

    def run_cell(self, index: int) -> None:
        """Select cell ``index`` (command mode, by clicking its prompt) and press Shift+Enter."""
        cell = self.cells().nth(index)
        cell.locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Shift+Enter")

    def cell_output_text(self, index: int) -> str:
        outputs = self.cells().nth(index).locator(".jp-OutputArea-output")
        return "\n".join(outputs.all_inner_texts())

    # --- diagnostics ---------------------------------------------------------------------

    def screenshot(self, path: Path, **kw) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), **kw)
        return path

    def screenshot_notebook(self, path: Path, *, max_height: int = 4000) -> Path:
        """The whole notebook in one picture: Lab scrolls the notebook inside a fixed-size panel
        (``full_page`` does not help), so collapse the left sidebar, grow the viewport to the
        notebook's height, shoot, and restore the viewport."""
        page = self.page
        current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():
            current.first.click()  # clicking the open sidebar tab collapses the sidebar
        size = page.viewport_size
        needed = page.evaluate(
            """() => { const o = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')
                              || document.querySelector('.jp-Notebook');
                       return Math.ceil(o.scrollHeight + o.getBoundingClientRect().top + 40); }""")
        try:
            if size and needed > size["height"]:
                page.set_viewport_size({"width": size["width"], "height": min(int(needed), max_height)})
                page.wait_for_timeout(300)  # let Lab re-lay out
            return self.screenshot(path)
        finally:
            if size:
                page.set_viewport_size(size)

    def diagnostics(self) -> str:
        try:
            status = self.page.locator(STATUS_BAR).inner_text(timeout=2000)
        except Exception as exc:  # noqa: BLE001 - diagnostics must not raise
            status = f"<{exc!r}>"
        console = "\n".join(self.console[-30:])
        return (f"status bar: {status!r}\nbrowser console (last 30):\n{console}\n"
                f"jupyter log tail:\n{self.lab.log_tail(30)}")
