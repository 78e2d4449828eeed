"""Numbers as reports show them, by the units declared in :mod:`harness.metrics`.

>>> format_value(0.9421, "fraction"), format_value(12595, "bytes"), format_value(0.12345, "ms")
('94.2', '12.3 KiB', '0.123')
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
from tabulate import tabulate

MISSING = "—"


def _significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits and no exponent: 0.1234 -> '0.123', 1234 -> '1230'."""
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    value = round(value, decimals)
    decimals = digits - 1 - math.floor(math.log10(abs(value))) if value else decimals
    return f"{value:.{max(decimals, 0)}f}"


def human_bytes(value: float) -> str:
    """Binary units: 512 -> '512 B', 12595 -> '12.3 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if round(abs(value), 0 if unit == "B" else 1) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def format_value(value: float | None, unit: str) -> str:
    """One number by its unit, '—' when missing: fraction -> percent with 1 decimal (the header says %),
    bytes -> KiB/MiB, count -> 1,234, flop -> SI prefix, x -> 2 decimals, pp -> 1 decimal, else 3 digits."""
    if value is None or pd.isna(value):
        return MISSING
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "fraction":
        return f"{100 * value:.1f}"
    if unit == "bytes":
        return human_bytes(value)
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "flop":
        exponent, prefix = next((e, p) for e, p in ((12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""))
                                if abs(value) >= 10**e or e == 0)
        return f"{_significant(value / 10**exponent)} {prefix}FLOP"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "pp":
        return "0.0" if f"{value:.1f}" == "-0.0" else f"{value:.1f}"
    return _significant(value)


def format_interval(low: float, high: float, unit: str) -> str:
    """'low–high' in the unit's format, or '—' when either end is missing."""
    if pd.isna(low) or pd.isna(high):
        return MISSING
    return f"{format_value(low, unit)}–{format_value(high, unit)}"


def header(label: str, unit: str) -> str:
    """A header with its display unit: ('accuracy', 'fraction') -> 'accuracy (%)'; cells in bytes,
    count, flop and x carry their own scale."""
    shown = {"fraction": "%", "bytes": "", "count": "", "flop": "", "x": ""}.get(unit, unit)
    return f"{label} ({shown})" if shown else label


def table_cell(value: object) -> str:
    """One table cell: a pipe or newline would break the Markdown table."""
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_grid(columns: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    """A GitHub Markdown table of cells as they are (strings already formatted)."""
    cells = [[table_cell(v) for v in row] for row in rows]
    return tabulate(cells, headers=[table_cell(c) for c in columns], tablefmt="github", disable_numparse=True)


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table of its values as they are (strings already formatted)."""
    return markdown_grid(frame.columns, frame.itertuples(index=False))
