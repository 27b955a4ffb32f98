"""Finding a table's columns by name, case-insensitively: a helper for every stage that reads
catalogues (acquire and prepare alike), so it imports nothing of the library."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["find_column"]


def find_column(table: pd.DataFrame, candidates: Sequence[str]) -> str | None:
    """Name of the first of ``candidates`` present in ``table`` (case-insensitive), else None."""
    lower_to_actual = {str(c).lower(): c for c in table.columns}
    for candidate in candidates:
        actual = lower_to_actual.get(candidate.lower())
        if actual is not None:
            return actual
    return None
