"""Numbers and aligned text tables as the commands print them."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percent(value: float) -> str:
    """A fraction as a percentage with four decimals."""
    return f"{100.0 * value:.4f}%"


def finite_or_none(value) -> float | None:
    """A number for JSON, which has no NaN or infinity: those become ``None`` (null)."""
    value = float(value)
    return value if math.isfinite(value) else None


def aligned(rows: Sequence[Sequence[object]], *, left: int = 1) -> list[str]:
    """Lines of a table: the first ``left`` columns flush left, the rest flush right.

    Columns are as wide as their widest cell and separated by two spaces; the first row is
    usually the header.
    """
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            str(cell).ljust(width) if i < left else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
