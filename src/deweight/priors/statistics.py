"""One pass's sufficient statistics over the rows of a probability table (Eqs. 14-16).

Notation. ``p[m, i] = P_M(i | x_m)`` are the model's probabilities, computed with the model
prior ``P_M``. For a candidate prior ``P`` let ``q_i = P(i) / P_M(i)`` (the *ratio*) and
``s_m = sum_i q_i p[m, i]``. Because ``L(x_m | i) = p[m, i] L_M(x_m) / P_M(i)``, the
log-likelihood of Eq. 15 of Lake & Tsai (2022) is ``sum_m log s_m`` plus a constant that does
not depend on ``P``, and::

    gradient  dl/dP(j)          = sum_m p[m, j] / s_m / P_M(j)
    Hessian  -d2l/dP(j)dP(k)    = sum_m p[m, j] p[m, k] / s_m**2 / (P_M(j) P_M(k))   (Eq. 16)

One pass over the rows therefore needs only three running sums, ``sum log s_m``,
``sum p[m, j] / s_m`` and ``sum p[m, j] p[m, k] / s_m**2``: a :class:`PassStatistics`
(1 + C + C*C numbers and a row count). Every solver of :mod:`deweight.priors.solvers` is built
on it and never sees a row.

- :func:`block_statistics`: the statistics of one block of rows (a plain 2-D array) for one
  ratio, by the numba kernels (:mod:`deweight.priors._kernels`) or NumPy, validating the rows
  on request. A distributed engine calls it once per partition.
- ``+`` / :func:`combine_statistics`: add the statistics of blocks, in the order given.
- :class:`_ProbabilitySource` and :func:`_likelihood_pass`: one pass over a table held in
  memory or streamed with ``iter_chunks()``, block by block.
- :func:`mean_probability`: Eq. 13's estimate, the gradient sums of one pass at ``q = 1``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from deweight._validation import _as_float_array, check_probabilities
from deweight.priors._kernels import _numba_installed, _statistics_numba
from deweight.priors.replace import DEFAULT_CHUNK_ROWS, _checked_chunk_size

__all__ = [
    "ENGINES",
    "NUMBA_MIN_ROWS",
    "PassStatistics",
    "block_statistics",
    "combine_statistics",
    "mean_probability",
]

ENGINES = ("auto", "numba", "numpy")

#: Below this many rows an in-memory table is summed by the NumPy engine under
#: ``engine="auto"``: a numba pass opens a parallel region whose start-up (and, in a fresh
#: process, loading the kernels) costs more than the sums of a small table.
NUMBA_MIN_ROWS = 100_000


def _resolve_engine(engine: str, probs=None) -> str:
    """The engine ("numba" or "numpy") that ``engine`` names for the table ``probs``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        small = isinstance(probs, np.ndarray) and probs.ndim == 2 and len(probs) < NUMBA_MIN_ROWS
        return "numba" if _numba_installed() and not small else "numpy"
    if engine == "numba" and not _numba_installed():
        raise ValueError("engine='numba' was requested but numba is not installed")
    return engine


@dataclass(frozen=True, eq=False)
class PassStatistics:
    """Sums over rows for one trial prior, the raw material of Eqs. 14-16.

    ``log_likelihood`` is ``sum_m log s_m``; ``gradient_sums[j]`` is ``sum_m p[m, j] / s_m``;
    ``hessian_sums[j, k]`` is ``sum_m p[m, j] p[m, k] / s_m**2`` (see the module's notation);
    ``n_rows`` is the number of rows summed. The statistics of disjoint blocks of rows add up
    (``a + b``, :func:`combine_statistics`); statistics of no rows add nothing.
    """

    log_likelihood: float
    gradient_sums: np.ndarray
    hessian_sums: np.ndarray
    n_rows: int

    def __add__(self, other: PassStatistics) -> PassStatistics:
        """The statistics of the rows of ``self`` followed by those of ``other``.

        Floating-point addition is not associative: add partial statistics in a fixed order
        (e.g. that of the partitions) to get the same bits on every run.
        """
        if not isinstance(other, PassStatistics):
            return NotImplemented
        if other.n_rows == 0:
            return self
        if self.n_rows == 0:
            return other
        if other.gradient_sums.shape != self.gradient_sums.shape:
            raise ValueError(
                f"cannot add pass statistics of {other.gradient_sums.size} classes to those "
                f"of {self.gradient_sums.size}"
            )
        return PassStatistics(
            self.log_likelihood + other.log_likelihood,
            self.gradient_sums + other.gradient_sums,
            self.hessian_sums + other.hessian_sums,
            self.n_rows + other.n_rows,
        )


def combine_statistics(parts: Iterable[PassStatistics]) -> PassStatistics:
    """Add the statistics of disjoint blocks of rows, left to right in the order given.

    Parameters
    ----------
    parts : iterable of PassStatistics
        The blocks' statistics, all for the same ratio and number of classes.

    Returns
    -------
    PassStatistics
        Their sum: the statistics of all their rows together.

    Raises
    ------
    ValueError
        If ``parts`` is empty or holds no rows at all ("probs has no rows"), or if the
        numbers of classes differ.
    """
    total = functools.reduce(PassStatistics.__add__, parts, _NO_ROWS)
    if total.n_rows == 0:
        raise ValueError("probs has no rows; the prior cannot be estimated from nothing")
    return total


# The sum of nothing, the start of combine_statistics (an empty block adds nothing).
_NO_ROWS = PassStatistics(0.0, np.zeros(0), np.zeros((0, 0)), 0)


def _statistics_numpy(chunk: np.ndarray, ratio: np.ndarray):
    """The sums of one likelihood pass over one chunk, in plain NumPy (float64)."""
    scaled = chunk.astype(np.float64)
    row_totals = scaled @ ratio
    supported = row_totals > 0
    with np.errstate(divide="ignore"):
        log_likelihood = float(np.log(row_totals).sum()) if supported.all() else -math.inf
    if not supported.all():
        scaled = scaled[supported]
        row_totals = row_totals[supported]
    scaled /= row_totals[:, None]
    return log_likelihood, scaled.sum(axis=0), scaled.T @ scaled


def block_statistics(
    block,
    ratio=None,
    *,
    engine: str = "auto",
    validate: bool = True,
    atol: float = 1e-3,
    row_offset: int = 0,
    where: str | None = None,
) -> PassStatistics:
    """The statistics of one block of rows for one trial prior, the unit of a pass.

    Computes ``sum_m log s_m`` (Eq. 15 up to a constant), ``sum_m p[m, j] / s_m`` and
    ``sum_m p[m, j] p[m, k] / s_m**2`` (Eq. 16) of Lake & Tsai (2022) over the rows of
    ``block``, accumulated in float64. Needs no source object: a distributed engine calls it
    on each partition and adds the results in partition order (:func:`combine_statistics`).

    Parameters
    ----------
    block : array_like of shape (n, C)
        Model probabilities ``P_M(i|x_m)`` of ``n`` rows, float32 or float64 (other numeric
        dtypes are converted to float64). ``n`` may be 0.
    ratio : array_like of shape (C,), optional
        ``q_i = P(i) / P_M(i)`` for the trial prior; all ones (``P = P_M``) when omitted.
    engine : {"auto", "numba", "numpy"}, default "auto"
        Parallel numba kernels or NumPy; ``"auto"`` as in
        :func:`deweight.priors.prediction_consistent_prior` (NumPy below
        :data:`NUMBA_MIN_ROWS` rows).
    validate : bool, default True
        Check every row (finite, non-negative, summing to one within ``atol``) on the way.
    atol : float, default 1e-3
        Row-sum tolerance used when validating.
    row_offset : int, default 0
        Index of the block's first row in the whole table, for the row named in errors.
    where : str, optional
        Label prefixed to error messages, e.g. the partition's file name.

    Returns
    -------
    PassStatistics
        The three sums and the block's row count. A row with ``s_m = 0`` makes the
        log-likelihood ``-inf`` and adds nothing to the other two sums.

    Raises
    ------
    ValueError
        If ``block`` is not 2-D, or if validating and a row is not a probability vector: the
        message names the row (``row_offset`` + its index), after ``"{where}: "`` if given.
    """
    try:
        return _block_statistics(block, ratio, engine, validate, atol, row_offset)
    except ValueError as error:
        if where is None:
            raise
        raise ValueError(f"{where}: {error}") from error


def _block_statistics(block, ratio, engine, validate, atol, row_offset) -> PassStatistics:
    array = _as_float_array(block, name="probs", allow_float32=True)
    if array.ndim != 2:
        raise ValueError(
            f"probs block starting at row {row_offset} is {array.ndim}-D; blocks must be 2-D"
        )
    n_rows, n_classes = array.shape
    if n_rows == 0:
        return PassStatistics(0.0, np.zeros(n_classes), np.zeros((n_classes, n_classes)), 0)
    ratio = np.ones(n_classes) if ratio is None else np.asarray(ratio, dtype=np.float64)
    if _resolve_engine(engine, array) == "numba":
        array = np.ascontiguousarray(array)
        log_likelihood, gradient, hessian, first_bad = _statistics_numba(
            array, ratio, validate, atol
        )
        if first_bad >= 0:
            _raise_for_bad_row(array, first_bad, row_offset, atol)
    else:
        if validate:
            check_probabilities(array, atol=atol, row_offset=row_offset)
        log_likelihood, gradient, hessian = _statistics_numpy(array, ratio)
    return PassStatistics(log_likelihood, gradient, hessian, n_rows)


def _raise_for_bad_row(chunk: np.ndarray, row: int, offset: int, atol: float) -> None:
    """Raise the standard validation error for a row a numba kernel flagged."""
    check_probabilities(chunk[row : row + 1], atol=atol, row_offset=offset + row)
    # The kernel and the checker sum the row in the same order, so this is a safety net only.
    raise ValueError(
        f"probs row {offset + row} is not a probability vector: {chunk[row].tolist()!r}"
    )


class _ProbabilitySource:
    """Uniform access to a probability table held in memory or streamed in chunks.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or object with ``iter_chunks()``
    chunk_size : int
        Rows per chunk when an in-memory table is processed in pieces.
    engine : {"numba", "numpy"}
    """

    def __init__(self, probs, chunk_size: int, engine: str):
        self.engine = engine
        self.chunk_size = chunk_size
        if hasattr(probs, "iter_chunks") and not isinstance(probs, np.ndarray):
            self.streamed = probs
            self.array = None
            self.n_classes = None
        else:
            self.streamed = None
            array = _as_float_array(probs, name="probs", allow_float32=True)
            if array.ndim != 2:
                raise ValueError(
                    "probs must be a 2-D array of shape (n_examples, n_classes), "
                    f"got {array.ndim}-D with shape {array.shape}"
                )
            if array.shape[1] < 1:
                raise ValueError(f"probs must have at least one class column, got {array.shape}")
            self.array = array
            self.n_classes = array.shape[1]

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_row_index, chunk)`` pairs covering the table once, in order."""
        if self.array is not None:
            whole = self.engine == "numba" and self.array.flags.c_contiguous
            step = self.array.shape[0] if whole else self.chunk_size
            for start in range(0, self.array.shape[0], max(step, 1)):
                yield start, self.array[start : start + step]
            return
        offset = 0
        for raw in self.streamed.iter_chunks():
            chunk = _as_float_array(raw, name="probs chunk", allow_float32=True)
            if chunk.ndim != 2:
                raise ValueError(
                    f"probs chunk starting at row {offset} is {chunk.ndim}-D; chunks must be 2-D"
                )
            if self.n_classes is None:
                self.n_classes = chunk.shape[1]
            if chunk.shape[1] != self.n_classes:
                raise ValueError(
                    f"probs chunk starting at row {offset} has {chunk.shape[1]} columns, "
                    f"earlier chunks have {self.n_classes}"
                )
            yield offset, chunk
            offset += chunk.shape[0]


def _likelihood_pass(
    source: _ProbabilitySource, ratio: np.ndarray | None, *, validate: bool, atol: float
) -> PassStatistics:
    """Compute the log-likelihood (Eq. 15) and its first and second derivatives (Eq. 16) in one
    pass over the table: the :class:`PassStatistics` of its blocks, added in order.

    Parameters
    ----------
    source : _ProbabilitySource
        The probability table ``P_M(i|x_m)``.
    ratio : ndarray of shape (C,) or None
        ``q_i = P(i) / P_M(i)`` for the trial prior; None means all ones (``P = P_M``).
    validate : bool
        Check every row (finite, non-negative, sums to one within ``atol``) on the way.
    atol : float
        Row-sum tolerance used when validating.

    Returns
    -------
    PassStatistics

    Raises
    ------
    ValueError
        If validating and a row is not a probability vector (naming the row), or if the
        table has no rows.
    """
    return combine_statistics(
        block_statistics(
            chunk, ratio, engine=source.engine, validate=validate, atol=atol, row_offset=offset
        )
        for offset, chunk in source.chunks()
    )


def mean_probability(probs, *, chunk_size: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
    """Estimate the class prior of a data set as the mean of the model's probabilities.

    This is the sample average in the last line of Eq. 13 of Lake & Tsai (2022),
    ``P(i) ~ (1/N) sum_m P_M(i|x_m)``. It is also the first step of the recursion of Eq. 14
    started from the model prior, and is what :attr:`PCPResult.mean_probability` reports.

    Parameters
    ----------
    probs : array_like of shape (n, C) or object with ``iter_chunks()``
        Model probabilities; an object whose ``iter_chunks()`` returns an iterator over 2-D
        arrays of shape (k, C) is read one chunk at a time.
    chunk_size : int, default 1_048_576
        Rows processed at a time for an in-memory table.

    Returns
    -------
    ndarray of shape (C,), float64
        Column means of the row-normalised probabilities (rows summing to one within the
        validation tolerance are divided by their exact sums first, so the result sums to 1).

    Raises
    ------
    ValueError
        If a row is not a probability vector (the message names it) or there are no rows.
    """
    source = _ProbabilitySource(
        probs, _checked_chunk_size(chunk_size), _resolve_engine("auto", probs)
    )
    statistics = _likelihood_pass(source, None, validate=True, atol=1e-3)
    return statistics.gradient_sums / statistics.n_rows
