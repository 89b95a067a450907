"""Write output-free nbformat 4.5 notebooks (no nbformat dependency; plain JSON)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from .lab import KERNEL_DISPLAY_NAME


def code_cell(source: str, index: int) -> dict:
    # Stable cell ids: derived from the position and source, no randomness.
    cid = hashlib.sha256(f"{index}:{source}".encode()).hexdigest()[:12]
    return {"id": cid, "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": source}


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """A notebook whose code cells are ``cells``, outputs stripped, python3 kernelspec.

    Outputs must be empty before a browser test: otherwise "every prompt is numbered" would
    already hold before Run All starts.
    """
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": KERNEL_DISPLAY_NAME, "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [code_cell(src, i) for i, src in enumerate(cells)],
    }
    path = Path(path)
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path
