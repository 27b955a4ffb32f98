"""Private helpers shared by the catalogue modules: column checks and tolerant numeric parsing."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from deweight._columns import find_column  # noqa: F401 - re-exported for the preparers

#: Values that SDSS, BZCAT and 2MASS exports use for "no measurement". A magnitude or flux at or
#: beyond these is a sentinel, never a measurement.
SENTINEL_ABS = 999.0


def require_columns(table: pd.DataFrame, columns: Iterable[str], table_name: str) -> pd.DataFrame:
    """Return ``table`` with ``columns`` present under their canonical spelling.

    Archive services do not agree on capitalisation (SkyServer returns ``zWarning``, the paper
    writes ``zwarning``, IRSA lower-cases everything), so a column is found case-insensitively
    and renamed to the spelling given in ``columns``.

    Parameters
    ----------
    table : pandas.DataFrame
        The input table.
    columns : iterable of str
        Required column names, in their canonical spelling.
    table_name : str
        Name of the table or file, used in the error message.

    Returns
    -------
    pandas.DataFrame
        A shallow copy of ``table`` with the required columns renamed to canonical spelling.

    Raises
    ------
    ValueError
        If a required column is absent; the message names the column and ``table_name``.
    """
    lower_to_actual: dict[str, str] = {}
    for actual in table.columns:
        lower_to_actual.setdefault(str(actual).lower(), actual)
    renames: dict[str, str] = {}
    for canonical in columns:
        if canonical in table.columns:
            continue
        actual = lower_to_actual.get(canonical.lower())
        if actual is None:
            raise ValueError(f"{table_name} is missing required column {canonical!r}")
        renames[actual] = canonical
    return table.rename(columns=renames) if renames else table.copy(deep=False)


def as_float(values: pd.Series | np.ndarray) -> np.ndarray:
    """Values as float64; anything that is not a number (empty strings, None) becomes NaN."""
    return pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )


def valid_magnitude(values: np.ndarray) -> np.ndarray:
    """True where a magnitude is finite and not a sentinel such as -9999 or 9999."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (np.abs(values) < SENTINEL_ABS)


def parse_bitmask(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a flag column into validity and unsigned 64-bit bit masks.

    SDSS flag columns are 64-bit integers. Bits above 2**53 do not survive a trip through float64
    (a column read with missing values becomes float), and rounding there also corrupts the low
    bits that the quality cuts test, so integer input is converted directly and a float column
    holding values of 2**53 or more triggers a warning.

    Parameters
    ----------
    values : pandas.Series or numpy.ndarray
        The flag column (int64, pandas nullable Int64, float or object).

    Returns
    -------
    valid : numpy.ndarray of bool
        True where the flag is a finite, non-negative integer.
    masks : numpy.ndarray of uint64
        The flags as bit masks; 0 where not ``valid``.
    """
    series = pd.Series(values)
    if pd.api.types.is_integer_dtype(series.dtype):
        present = series.notna().to_numpy()
        as_int = series.fillna(0).to_numpy(dtype=np.int64)
        valid = present & (as_int >= 0)
        return valid, np.where(valid, as_int, 0).astype(np.uint64)
    numeric = pd.to_numeric(series, errors="coerce")
    if pd.api.types.is_integer_dtype(numeric.dtype):
        return parse_bitmask(numeric)
    as_float = numeric.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(as_float) & (as_float >= 0) & (np.floor(as_float) == as_float)
    if np.any(as_float[valid] >= 2.0**53):
        warnings.warn(
            "a flag column holds values >= 2**53 as floating point; their low bits may be "
            "wrong. Deliver SDSS flag columns as 64-bit integers.",
            stacklevel=3,
        )
    return valid, np.where(valid, as_float, 0).astype(np.uint64)


def valid_integer_code(values: pd.Series | np.ndarray, allowed: Iterable[int] | None = None):
    """True where a code (e.g. ``zWarning``, ``type``, ``cc_map``) is a finite non-negative integer.

    Parameters
    ----------
    values : array_like
        The code column.
    allowed : iterable of int, optional
        If given, the code must also be one of these values to count as valid.

    Returns
    -------
    numpy.ndarray of bool
    """
    as_float = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(as_float) & (as_float >= 0) & (np.floor(as_float) == as_float)
    if allowed is not None:
        valid &= np.isin(as_float, np.asarray(list(allowed), dtype=float))
    return valid


def sdss_class_cut_reason(sdss_classes: Mapping[str, str]) -> str:
    """The cut-flow reason of the SDSS class cut: ``SDSS class not GALAXY, STAR or QSO``."""
    kept = list(sdss_classes)
    named = kept[0] if len(kept) == 1 else f"{', '.join(kept[:-1])} or {kept[-1]}"
    return f"SDSS class not {named}"
