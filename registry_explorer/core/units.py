"""Human-readable units shared by frames and HTML views."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: int | None) -> str:
    """1536 -> '1.5 KiB'; None or negative (unknown) -> ''."""
    if n is None or n < 0:
        return ""
    size = float(n)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
