"""Sizes for people: one function, so the window and the terminal show the same number."""

from __future__ import annotations


def human_size(size: float) -> str:
    """``98 MB``, ``4.1 GB``, ``512 B``: decimal units, as file managers and the catalog use.

    Three significant figures at most; a value under 10 keeps one decimal.
    """
    value = float(size)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 999.5 or unit == "TB":
            if unit == "B":
                return f"{sign}{value:.0f} B"
            return f"{sign}{value:.1f} {unit}" if value < 9.95 else f"{sign}{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
