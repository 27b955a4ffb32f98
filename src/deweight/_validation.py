"""Input checks shared by the statistics code.

Each checker returns a clean NumPy array or raises :class:`ValueError` with a message that names
the argument and the first offending row (or element), so that a user with a table of millions
of rows can find the bad one.

The checks on probability tables run in blocks of rows, so validating a table of 10^8 rows needs
only a few tens of megabytes of scratch memory, never a boolean copy of the whole table.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_labels", "check_prior", "check_probabilities"]

# Rows checked at a time: large enough for NumPy's per-call overhead to vanish, small enough that
# the temporary arrays (a float64 row sum and a few boolean masks) stay around 10 MB.
_VALIDATION_BLOCK_ROWS = 262_144


def _as_float_array(values, *, name: str, allow_float32: bool) -> np.ndarray:
    """Convert ``values`` to a float32 or float64 ndarray without copying when possible."""
    array = np.asarray(values)
    if array.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got complex dtype {array.dtype}")
    if array.dtype.kind not in "biuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}") from exc
    if array.dtype == np.float32 and allow_float32:
        return array
    if array.dtype != np.float64:
        array = array.astype(np.float64)
    return array


def _describe_bad_row(row: np.ndarray, row_sum: float, atol: float) -> str:
    """Explain in words why one row of a probability table is invalid."""
    if not np.all(np.isfinite(row)):
        return "contains a non-finite value"
    if np.any(row < 0):
        return "contains a negative probability"
    return f"sums to {row_sum!r}, not 1 within atol={atol:g}"


def check_probabilities(
    probs,
    *,
    name: str = "probs",
    atol: float = 1e-3,
    allow_float32: bool = True,
    row_offset: int = 0,
) -> np.ndarray:
    """Check that ``probs`` is a table of per-example class probabilities.

    Parameters
    ----------
    probs : array_like of shape (n, C)
        One row per example, one column per class. Each row must be finite, non-negative and
        sum to one within ``atol``. ``n`` may be zero; ``C`` must be at least one.
    name : str, default "probs"
        Name of the argument, used in error messages.
    atol : float, default 1e-3
        Largest accepted absolute difference between a row sum and one. The default tolerates
        the rounding of float32 soft-max outputs and of probabilities stored as text.
    allow_float32 : bool, default True
        If true a float32 array is returned unchanged (no copy); otherwise it is converted to
        float64. Every other dtype (integers, booleans, float16, ...) is converted to float64.
    row_offset : int, default 0
        Index of the first row of ``probs`` within a larger table, added to row indices in
        error messages. Used when a table is checked one chunk at a time.

    Returns
    -------
    ndarray of shape (n, C), dtype float32 or float64
        ``probs`` as an array; the input itself when it already had an accepted dtype.

    Raises
    ------
    ValueError
        If ``probs`` is not two-dimensional, has no columns, is not numeric, or if a row is not
        a probability vector. The message gives the index of the first offending row and its
        values.
    """
    array = _as_float_array(probs, name=name, allow_float32=allow_float32)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_examples, n_classes), "
            f"got {array.ndim}-D with shape {array.shape}"
        )
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one class column, got shape {array.shape}")
    if atol < 0 or not np.isfinite(atol):
        raise ValueError(f"atol must be a finite non-negative number, got {atol!r}")
    n_rows = array.shape[0]
    for start in range(0, n_rows, _VALIDATION_BLOCK_ROWS):
        block = array[start : start + _VALIDATION_BLOCK_ROWS]
        # Summing in float64 keeps float32 rounding from being mistaken for a bad row. A row
        # holding both +inf and -inf sums to NaN; it is reported below, so no warning here.
        with np.errstate(invalid="ignore"):
            row_sums = block.sum(axis=1, dtype=np.float64)
        # A NaN or infinity anywhere in a row makes its sum non-finite, so one test on the
        # sums catches both bad values and bad normalisation without a full-size mask.
        bad = ~(np.abs(row_sums - 1.0) <= atol)
        bad |= (block < 0).any(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            row = block[first]
            reason = _describe_bad_row(row, float(row_sums[first]), atol)
            raise ValueError(
                f"{name} row {row_offset + start + first} {reason}: {row.tolist()!r}; every row "
                "must be finite, non-negative and sum to 1"
            )
    return array


def check_prior(
    prior,
    n_classes: int | None = None,
    *,
    name: str = "prior",
    atol: float = 1e-6,
    allow_zero: bool = False,
) -> np.ndarray:
    """Check that ``prior`` is a probability vector over classes and return it normalised.

    Parameters
    ----------
    prior : array_like of shape (C,)
        Class prior probabilities.
    n_classes : int, optional
        Required length ``C``; not checked when omitted.
    name : str, default "prior"
        Name of the argument, used in error messages.
    atol : float, default 1e-6
        Largest accepted absolute difference between the sum and one.
    allow_zero : bool, default False
        Accept zero entries. A prior that is divided by (an old or model prior) must be
        strictly positive; a target prior may put zero mass on a class.

    Returns
    -------
    ndarray of shape (C,), dtype float64
        The prior divided by its sum, so that it sums to one to rounding even when the input
        was only within ``atol``.

    Raises
    ------
    ValueError
        If ``prior`` is not 1-D, has the wrong length, contains a non-finite, negative (or,
        unless ``allow_zero``, zero) entry, or does not sum to one within ``atol``. The message
        names the first offending class index.
    """
    array = _as_float_array(prior, name=name, allow_float32=False)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_classes,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must have at least one class, got an empty array")
    if n_classes is not None and array.size != n_classes:
        raise ValueError(f"{name} has {array.size} entries but there are {n_classes} classes")
    not_finite = np.flatnonzero(~np.isfinite(array))
    if not_finite.size:
        index = int(not_finite[0])
        raise ValueError(f"{name}[{index}] is {array[index].item()!r}; priors must be finite")
    too_small = np.flatnonzero(array < 0 if allow_zero else array <= 0)
    if too_small.size:
        index = int(too_small[0])
        wanted = "non-negative" if allow_zero else "strictly positive"
        raise ValueError(f"{name}[{index}] is {array[index].item()!r}; priors must be {wanted}")
    total = float(array.sum())
    if not abs(total - 1.0) <= atol:
        raise ValueError(f"{name} sums to {total!r}, not 1 within atol={atol:g}")
    return array / total


def check_labels(labels, n_classes: int, *, name: str = "labels") -> np.ndarray:
    """Check that ``labels`` are integer class indices in ``[0, n_classes)``.

    Parameters
    ----------
    labels : array_like of shape (n,)
        Class index of each example. Floats are accepted only if they are whole numbers.
    n_classes : int
        Number of classes ``C``.
    name : str, default "labels"
        Name of the argument, used in error messages.

    Returns
    -------
    ndarray of shape (n,), dtype int64

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, is not made of whole numbers, or has an entry outside
        ``[0, n_classes)``; the message names the first offending position.
    """
    if int(n_classes) != n_classes or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_examples,), got shape {array.shape}")
    if array.dtype.kind not in "iuf":  # booleans ("b") are not class indices
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if array.dtype.kind == "f":
        not_whole = np.flatnonzero(~(np.isfinite(array) & (array == np.round(array))))
        if not_whole.size:
            index = int(not_whole[0])
            raise ValueError(
                f"{name}[{index}] is {array[index].item()!r}, which is not an integer class index"
            )
    out_of_range = np.flatnonzero((array < 0) | (array >= n_classes))
    if out_of_range.size:
        index = int(out_of_range[0])
        raise ValueError(
            f"{name}[{index}] is {array[index].item()!r}, outside the class range [0, {n_classes})"
        )
    return array.astype(np.int64, copy=False)
