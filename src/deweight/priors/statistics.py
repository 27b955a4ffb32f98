"""One pass's sufficient statistics over a block of rows (the raw material of Eqs. 14-16).

For a trial prior, one pass over a probability table gives ``sum_m log s_m`` (the
log-likelihood, Eq. 15), ``sum_m p[m, j] / s_m`` and ``sum_m p[m, j] p[m, k] / s_m**2`` (its
derivatives, Eq. 16): ``1 + C + C**2`` numbers, whatever the number of rows
(:class:`_PassStatistics`). They are summed by numba kernels (three-class and generic) or by
NumPy, block by block in a fixed order, from a table in memory or streamed in chunks
(:class:`_ProbabilitySource`, :func:`_likelihood_pass`). The solvers of
:mod:`deweight.priors.solvers` see only these sums, never rows.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from deweight._validation import (
    _as_float_array,
    check_probabilities,
)

# numba is a declared dependency, but the NumPy path keeps the library usable without it. It
# is imported (and the kernels below compiled or loaded from their cache) on the first pass
# that needs it, by :func:`_compiled_kernels`, not when this module is imported: prior
# replacement and the command line's other subcommands never pay for it.
numba = None

__all__ = ["mean_probability"]


DEFAULT_CHUNK_ROWS = 1_048_576


ENGINES = ("auto", "numba", "numpy")


# Rows per parallel work item of the numba kernels. The blocks, not the threads, fix the order
# of the floating-point sums, so results do not depend on the number of threads.
_KERNEL_BLOCK_ROWS = 16_384


# The kernels sum log s_m as the logarithm of a running product of the s_m, taken only when
# the product leaves [_PRODUCT_LOW, _PRODUCT_HIGH] (and once at the end of a block): a
# logarithm per row would dominate the cost of a pass. For s_m of order one the product stays
# in range for hundreds of rows or more. The bounds leave room for any s_m in [_FACTOR_LOW, _FACTOR_HIGH] to be
# multiplied in without overflow or underflow; an s_m outside (tiny, huge, 0 for a row the
# prior cannot explain, which gives -inf) has its own logarithm taken. The product's relative rounding error grows like sqrt(rows multiplied) * 2**-53, far below the
# noise the line searches allow for (see :func:`_likelihood_noise`).
_PRODUCT_LOW = 1e-200


_PRODUCT_HIGH = 1e200


_FACTOR_LOW = 1e-100


_FACTOR_HIGH = 1e100


class _PassStatistics(NamedTuple):
    """Sums over all rows for one trial prior, the raw material of Eqs. 14-16.

    ``log_likelihood`` is ``sum_m log s_m``; ``gradient_sums[j]`` is ``sum_m p[m, j] / s_m``;
    ``hessian_sums[j, k]`` is ``sum_m p[m, j] p[m, k] / s_m**2`` (see the notation above).
    """

    log_likelihood: float
    gradient_sums: np.ndarray
    hessian_sums: np.ndarray
    n_rows: int


# --- numba kernels ----------------------------------------------------------------------------
#
# Each kernel sums, for its block of rows, log s_m, p[m, j] / s_m and p[m, j] p[m, k] / s_m**2
# in float64 (whatever the table's dtype) and returns one row of partial sums per block; the
# caller adds the blocks in a fixed order. With ``validate`` true it also records the first row
# of each block that is not a probability vector, so the first pass doubles as input
# validation. A row with ``s_m == 0`` (all its probability on classes of zero prior) makes the
# log-likelihood -inf and is otherwise skipped.


def _generic_pass_kernel(probs, ratio, validate, atol, block_rows):
    """Partial sums of one likelihood pass for any number of classes (numba kernel)."""
    n_rows, n_classes = probs.shape
    n_blocks = (n_rows + block_rows - 1) // block_rows
    n_stats = 1 + n_classes + n_classes * (n_classes + 1) // 2
    partial = np.zeros((n_blocks, n_stats))
    first_bad = np.full(n_blocks, -1, dtype=np.int64)
    for block in numba.prange(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_rows)
        log_sum = 0.0
        product = 1.0
        gradient = np.zeros(n_classes)
        hessian = np.zeros((n_classes, n_classes))
        scaled = np.empty(n_classes)
        for m in range(start, stop):
            if validate:
                total = 0.0
                negative = False
                for j in range(n_classes):
                    value = np.float64(probs[m, j])
                    total += value
                    negative = negative or value < 0.0
                if negative or not abs(total - 1.0) <= atol:
                    if first_bad[block] < 0:
                        first_bad[block] = m
                    continue
            s = 0.0
            for j in range(n_classes):
                s += ratio[j] * np.float64(probs[m, j])
            if _FACTOR_LOW <= s <= _FACTOR_HIGH:
                product *= s
                if not _PRODUCT_LOW <= product <= _PRODUCT_HIGH:
                    log_sum += math.log(product)
                    product = 1.0
            else:  # extreme, zero or NaN: its own logarithm
                log_sum += math.log(s) if s > 0.0 else -math.inf
            if not s > 0.0:
                continue
            inverse = 1.0 / s
            for j in range(n_classes):
                scaled[j] = np.float64(probs[m, j]) * inverse
                gradient[j] += scaled[j]
            for j in range(n_classes):
                for k in range(j, n_classes):
                    hessian[j, k] += scaled[j] * scaled[k]
        log_sum += math.log(product)
        partial[block, 0] = log_sum
        index = 1 + n_classes
        for j in range(n_classes):
            partial[block, 1 + j] = gradient[j]
            for k in range(j, n_classes):
                partial[block, index] = hessian[j, k]
                index += 1
    return partial, first_bad


def _three_class_pass_kernel(probs, ratio, validate, atol, block_rows):
    """:func:`_generic_pass_kernel` unrolled for three classes (numba kernel).

    Three classes (star / galaxy / quasar) is the case with 10^8-row tables; with the ten
    running sums in scalar variables they stay in registers, which doubles the speed.
    """
    n_rows = probs.shape[0]
    n_blocks = (n_rows + block_rows - 1) // block_rows
    partial = np.zeros((n_blocks, 10))
    first_bad = np.full(n_blocks, -1, dtype=np.int64)
    q0 = ratio[0]
    q1 = ratio[1]
    q2 = ratio[2]
    for block in numba.prange(n_blocks):
        start = block * block_rows
        stop = min(start + block_rows, n_rows)
        log_sum = 0.0
        product = 1.0
        g0 = g1 = g2 = 0.0
        h00 = h01 = h02 = h11 = h12 = h22 = 0.0
        for m in range(start, stop):
            p0 = np.float64(probs[m, 0])
            p1 = np.float64(probs[m, 1])
            p2 = np.float64(probs[m, 2])
            if validate:
                total = p0 + p1 + p2
                if p0 < 0.0 or p1 < 0.0 or p2 < 0.0 or not abs(total - 1.0) <= atol:
                    if first_bad[block] < 0:
                        first_bad[block] = m
                    continue
            s = q0 * p0 + q1 * p1 + q2 * p2
            if _FACTOR_LOW <= s <= _FACTOR_HIGH:
                product *= s
                if not _PRODUCT_LOW <= product <= _PRODUCT_HIGH:
                    log_sum += math.log(product)
                    product = 1.0
            else:  # extreme, zero or NaN: its own logarithm
                log_sum += math.log(s) if s > 0.0 else -math.inf
            if not s > 0.0:
                continue
            inverse = 1.0 / s
            a0 = p0 * inverse
            a1 = p1 * inverse
            a2 = p2 * inverse
            g0 += a0
            g1 += a1
            g2 += a2
            h00 += a0 * a0
            h01 += a0 * a1
            h02 += a0 * a2
            h11 += a1 * a1
            h12 += a1 * a2
            h22 += a2 * a2
        log_sum += math.log(product)
        partial[block, 0] = log_sum
        partial[block, 1] = g0
        partial[block, 2] = g1
        partial[block, 3] = g2
        partial[block, 4] = h00
        partial[block, 5] = h01
        partial[block, 6] = h02
        partial[block, 7] = h11
        partial[block, 8] = h12
        partial[block, 9] = h22
    return partial, first_bad


_KERNELS: tuple | None = None


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _compiled_kernels():
    """The numba-compiled pass kernels ``(generic, three_class)``, made on first use."""
    global _KERNELS, numba
    if _KERNELS is None:
        import numba as numba_module

        numba = numba_module  # the kernels refer to numba.prange through this global
        # fastmath stays off: reassociating the sums would make results depend on
        # vectorisation. nogil lets other Python threads (progress bars, memory samplers,
        # servers) run meanwhile. error_model="numpy": the one division (1 / s_m) is guarded
        # by s_m > 0, so the Python error model's ZeroDivisionError check is dead code.
        # cache=True: compiled once per machine (on disk, beside this file, or in numba's
        # per-user cache directory when that is not writable), then loaded in well under a
        # second by every later process.
        options = {
            "parallel": True,
            "cache": True,
            "fastmath": False,
            "nogil": True,
            "error_model": "numpy",
        }
        _KERNELS = (
            numba.njit(**options)(_generic_pass_kernel),
            numba.njit(**options)(_three_class_pass_kernel),
        )
    return _KERNELS


def _unpack_partial_sums(partial: np.ndarray, n_classes: int):
    """Turn the flat per-block sums of a kernel into (log-likelihood, gradient, Hessian)."""
    totals = partial.sum(axis=0)
    gradient = totals[1 : 1 + n_classes].copy()
    hessian = np.zeros((n_classes, n_classes))
    upper = np.triu_indices(n_classes)
    hessian[upper] = totals[1 + n_classes :]
    hessian = hessian + np.triu(hessian, 1).T
    return float(totals[0]), gradient, hessian


def _statistics_numba(chunk: np.ndarray, ratio: np.ndarray, validate: bool, atol: float):
    generic, three_class = _compiled_kernels()
    kernel = three_class if chunk.shape[1] == 3 else generic
    partial, first_bad = kernel(chunk, ratio, validate, atol, _KERNEL_BLOCK_ROWS)
    bad_rows = first_bad[first_bad >= 0]
    first = int(bad_rows.min()) if bad_rows.size else -1
    return (*_unpack_partial_sums(partial, chunk.shape[1]), first)


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
) -> _PassStatistics:
    """Compute the log-likelihood (Eq. 15) and its first and second derivatives (Eq. 16) in one
    pass over the table, as the sums of Eq. 14-16 described in :class:`_PassStatistics`.

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
    _PassStatistics

    Raises
    ------
    ValueError
        If validating and a row is not a probability vector (naming the row), or if the
        table has no rows.
    """
    log_likelihood = 0.0
    gradient = hessian = None
    n_rows = 0
    for offset, raw_chunk in source.chunks():
        if raw_chunk.shape[0] == 0:
            continue
        chunk_ratio = np.ones(raw_chunk.shape[1]) if ratio is None else ratio
        if source.engine == "numba":
            chunk = np.ascontiguousarray(raw_chunk)
            chunk_log, chunk_gradient, chunk_hessian, first_bad = _statistics_numba(
                chunk, chunk_ratio, validate, atol
            )
            if first_bad >= 0:
                _raise_for_bad_row(chunk, first_bad, offset, atol)
        else:
            if validate:
                check_probabilities(raw_chunk, atol=atol, row_offset=offset)
            chunk_log, chunk_gradient, chunk_hessian = _statistics_numpy(raw_chunk, chunk_ratio)
        log_likelihood += chunk_log
        gradient = chunk_gradient if gradient is None else gradient + chunk_gradient
        hessian = chunk_hessian if hessian is None else hessian + chunk_hessian
        n_rows += raw_chunk.shape[0]
    if n_rows == 0:
        raise ValueError("probs has no rows; the prior cannot be estimated from nothing")
    return _PassStatistics(log_likelihood, gradient, hessian, n_rows)


def _raise_for_bad_row(chunk: np.ndarray, row: int, offset: int, atol: float) -> None:
    """Raise the standard validation error for a row a numba kernel flagged."""
    check_probabilities(chunk[row : row + 1], atol=atol, row_offset=offset + row)
    # The kernel and the checker sum the row in the same order, so this is a safety net only.
    raise ValueError(
        f"probs row {offset + row} is not a probability vector: {chunk[row].tolist()!r}"
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


def _checked_chunk_size(chunk_size) -> int:
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


#: Below this many rows an in-memory table is summed by the NumPy engine under
#: ``engine="auto"``: a numba pass opens a parallel region whose start-up (and, in a fresh
#: process, loading the kernels) costs more than the sums of a small table.
NUMBA_MIN_ROWS = 100_000


def _resolve_engine(engine: str, probs=None) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "auto":
        small = isinstance(probs, np.ndarray) and probs.ndim == 2 and len(probs) < NUMBA_MIN_ROWS
        return "numba" if _numba_installed() and not small else "numpy"
    if engine == "numba" and not _numba_installed():
        raise ValueError("engine='numba' was requested but numba is not installed")
    return engine
