"""Class priors: the prior a training set implies, replacing it, and estimating it from data.

Section 2 of Lake & Tsai (2022): a classifier trained on a set with class prior ``P_M(i)`` (the
training-set composition, Eq. 3, or its weighted version, Eq. 7) returns probabilities
``P_M(i|x)`` that carry that prior. :func:`replace_prior` swaps it for another (Eq. 12,
"deweighting"); :func:`prediction_consistent_prior` finds the prior that agrees with the model's
own predictions on an unlabelled set (Eqs. 13-16).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from deweight._estimator import EstimatorParams
from deweight._progress import Progress
from deweight._validation import (
    _as_float_array,
    check_labels,
    check_prior,
    check_probabilities,
)
from deweight.errors import ConvergenceWarning, DeweightWarning, NotFittedError

# numba is a declared dependency, but the NumPy path keeps the library usable without it. It
# is imported (and the kernels below compiled or loaded from their cache) on the first pass
# that needs it, by :func:`_compiled_kernels`, not when this module is imported: prior
# replacement and the command line's other subcommands never pay for it.
numba = None

__all__ = [
    "PCPResult",
    "PredictionConsistentPrior",
    "effective_prior",
    "mean_probability",
    "prediction_consistent_prior",
    "replace_prior",
    "weighted_prior",
]

DEFAULT_CHUNK_ROWS = 1_048_576


def _check_weights(values, shape: tuple, name: str, other: str) -> np.ndarray:
    """Weights as float64, of the given shape, finite and non-negative; else a ValueError."""
    weights = np.asarray(values, dtype=np.float64)
    if weights.shape != shape:
        raise ValueError(f"{name} has shape {weights.shape} but {other} has shape {shape}")
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
    if bad.size:
        index = int(bad[0])
        raise ValueError(
            f"{name}[{index}] is {weights[index].item()!r}; weights must be finite and >= 0"
        )
    return weights


def effective_prior(labels, sample_weight=None, n_classes: int | None = None) -> np.ndarray:
    """Compute the class prior a (weighted) training set implies.

    Unweighted this is the class fraction ``n_i / N`` of Eq. 3 of Lake & Tsai (2022); with
    per-example weights ``w_n`` it is the first line of Eq. 7,
    ``P_w(i) = sum_n w_n delta(i, j_n) / sum_n w_n``.

    Parameters
    ----------
    labels : array_like of shape (N,)
        Class index ``j_n`` of each training example.
    sample_weight : array_like of shape (N,), optional
        Non-negative training weight ``w_n`` of each example; all ones when omitted.
    n_classes : int, optional
        Number of classes ``C``; ``max(labels) + 1`` when omitted. Give it when a class may be
        absent from the training set.

    Returns
    -------
    ndarray of shape (C,)
        The effective prior. A class with no (or only zero-weight) examples gets 0.

    Raises
    ------
    ValueError
        If ``labels`` is empty or not valid class indices, if ``sample_weight`` has the wrong
        shape or a negative or non-finite entry, or if all weights are zero.
    """
    raw = np.asarray(labels)
    if raw.ndim != 1 or raw.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {raw.shape}")
    if n_classes is None:
        n_classes = int(np.max(raw)) + 1 if raw.dtype.kind in "iuf" else 1
    labels = check_labels(raw, n_classes)
    if sample_weight is None:
        weights = np.ones(labels.shape[0])
    else:
        weights = _check_weights(sample_weight, labels.shape, "sample_weight", "labels")
    class_totals = np.bincount(labels, weights=weights, minlength=n_classes)
    total = class_totals.sum()
    if total <= 0:
        raise ValueError("sample_weight sums to zero, so the training set implies no prior")
    return class_totals / total


def weighted_prior(prior, class_weights) -> np.ndarray:
    """Compute the prior a classifier sees after per-class training weights are applied.

    This is the second line of Eq. 7 of Lake & Tsai (2022),
    ``P_w(i) = wbar_i P(i) / sum_j wbar_j P(j)``, where ``wbar_i`` is the mean weight of the
    training examples of class ``i``. The ratio ``P_w / P`` is what :func:`replace_prior` undoes
    when "deweighting" (Eq. 12).

    Parameters
    ----------
    prior : array_like of shape (C,)
        Unweighted class prior ``P(i)``, e.g. the training-set fractions (Eq. 3). Zero entries
        are allowed.
    class_weights : array_like of shape (C,)
        Mean training weight ``wbar_i`` of each class; finite and non-negative. Only ratios
        matter: multiplying all weights by a constant leaves the result unchanged.

    Returns
    -------
    ndarray of shape (C,)
        The weighted prior ``P_w(i)``, summing to one.

    Raises
    ------
    ValueError
        If ``prior`` is not a probability vector, ``class_weights`` has the wrong shape or a
        negative or non-finite entry, or every class ends up with zero weighted mass.
    """
    prior = check_prior(prior, allow_zero=True)
    weights = _check_weights(class_weights, prior.shape, "class_weights", "prior")
    weighted = weights * prior
    total = weighted.sum()
    if total <= 0:
        raise ValueError("every class has zero weighted prior (weights are zero where prior > 0)")
    return weighted / total


def _prior_ratio(old_prior: np.ndarray, new_prior: np.ndarray) -> np.ndarray:
    """Return ``q = new / old`` rescaled so that its largest entry is 1.

    Eq. 12 is invariant to a common factor in ``q``; putting the largest at 1 means the
    products ``q_i P(i|x)`` can only underflow, never overflow.
    """
    ratio = new_prior / old_prior
    return ratio / ratio.max()


def _replace_prior_in_log_space(
    rows: np.ndarray, log_ratio: np.ndarray, row_indices: np.ndarray
) -> np.ndarray:
    """Eq. 12 for rows whose reweighted sum underflows, evaluated as a soft-max of logs.

    Parameters
    ----------
    rows : ndarray of shape (k, C), float64
    log_ratio : ndarray of shape (C,)
        ``log(new / old)``, ``-inf`` where the new prior is zero.
    row_indices : ndarray of shape (k,)
        Index of each row in the whole table, for error messages.

    Returns
    -------
    ndarray of shape (k, C), float64
    """
    with np.errstate(divide="ignore"):
        log_terms = np.log(rows) + log_ratio
    largest = log_terms.max(axis=1, keepdims=True)
    impossible = np.flatnonzero(~np.isfinite(largest[:, 0]))
    if impossible.size:
        row = int(impossible[0])
        raise ValueError(
            f"probs row {int(row_indices[row])} puts all its probability on classes whose new prior "
            f"is zero, so no prior replacement exists for it: {rows[row].tolist()!r}"
        )
    terms = np.exp(log_terms - largest)
    return terms / terms.sum(axis=1, keepdims=True)


def replace_prior(
    probs,
    old_prior,
    new_prior,
    *,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Replace the class prior built into classifier probabilities by another prior.

    This is Eq. 12 of Lake & Tsai (2022): divide each probability by its old prior, multiply by
    the new one and normalise each row,
    ``P(i|x) = q_i P_old(i|x) / sum_j q_j P_old(j|x)`` with ``q_i = P_new(i) / P_old(i)``.
    With ``old_prior`` the weighted prior of Eq. 7 this is "deweighting"; with the
    training-set composition and a prediction-consistent prior it is "debiasing".

    The work is done on ``chunk_size`` rows at a time in float64, so the scratch memory is a
    few times one chunk whatever the size of the table, and the result has the dtype of the
    input (float32 stays float32). Rows whose reweighted sum underflows (the new prior is
    vanishingly small on every class the row supports) are recomputed from logarithms instead
    of being turned into ``0/0``.

    Parameters
    ----------
    probs : array_like of shape (n, C)
        Probabilities ``P_old(i|x)`` computed with the old prior; rows sum to one.
    old_prior : array_like of shape (C,)
        Prior the probabilities were computed with. Strictly positive (it is divided by).
    new_prior : array_like of shape (C,)
        Prior to impose. May contain zeros: those classes get probability zero.
    chunk_size : int, default 1_048_576
        Rows processed at a time.
    out : ndarray of shape (n, C), optional
        Array to write the result into; must have the result's dtype (that of the validated
        ``probs``). May be ``probs`` itself for an in-place update.

    Returns
    -------
    ndarray of shape (n, C)
        Probabilities under ``new_prior``, float32 if ``probs`` is float32, else float64.

    Raises
    ------
    ValueError
        If ``probs`` is not a valid probability table (the message names the first bad row),
        a prior is invalid or of the wrong length, ``out`` has the wrong shape or dtype, or a
        row supports only classes whose new prior is zero.
    """
    probs = check_probabilities(probs)
    n_rows, n_classes = probs.shape
    old = check_prior(old_prior, n_classes, name="old_prior")
    new = check_prior(new_prior, n_classes, name="new_prior", allow_zero=True)
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    chunk_size = int(chunk_size)
    if out is None:
        out = np.empty_like(probs)
    elif out.shape != probs.shape or out.dtype != probs.dtype:
        raise ValueError(
            f"out must have shape {probs.shape} and dtype {probs.dtype}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    ratio = _prior_ratio(old, new)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(ratio)
    # Below this a row sum has lost bits to gradual underflow, so its quotient is inaccurate.
    smallest_accurate_sum = np.finfo(np.float64).tiny * 2.0**53
    for start in range(0, n_rows, chunk_size):
        stop = min(start + chunk_size, n_rows)
        reweighted = probs[start:stop].astype(np.float64)
        reweighted *= ratio
        row_sums = reweighted.sum(axis=1, keepdims=True)
        underflowed = np.flatnonzero(row_sums[:, 0] < smallest_accurate_sum)
        row_sums[underflowed] = 1.0  # placeholder; these rows are redone below
        reweighted /= row_sums
        if underflowed.size:
            rows = probs[start:stop][underflowed].astype(np.float64)
            reweighted[underflowed] = _replace_prior_in_log_space(
                rows, log_ratio, start + underflowed
            )
        out[start:stop] = reweighted
    return out


# ---------------------------------------------------------------------------------------------
# Prediction-consistent prior (Eqs. 13-16)
# ---------------------------------------------------------------------------------------------
#
# Notation used below. ``p[m, i] = P_M(i | x_m)`` are the model's probabilities, computed with
# the model prior ``P_M``. For a candidate prior ``P`` let ``q_i = P(i) / P_M(i)`` and
# ``s_m = sum_i q_i p[m, i]``. Because ``L(x_m | i) = p[m, i] L_M(x_m) / P_M(i)``, the
# log-likelihood of Eq. 15 is ``sum_m log s_m`` plus a constant that does not depend on P, and
#
#     gradient  dl/dP(j)          = sum_m p[m, j] / s_m / P_M(j)
#     Hessian  -d2l/dP(j)dP(k)    = sum_m p[m, j] p[m, k] / s_m**2 / (P_M(j) P_M(k))   (Eq. 16)
#
# One pass over the rows therefore needs only three running sums, ``sum log s_m``,
# ``sum p[m, j] / s_m`` and ``sum p[m, j] p[m, k] / s_m**2``; every solver below is built on
# that single pass (:func:`_likelihood_pass`).

PCP_METHODS = ("newton", "em", "squarem")
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
# Newton steps that would push a class prior through zero take it to exactly 0 when the
# quadratic model's optimality condition holds there, else shrink it by this factor.
_BOUNDARY_SHRINK = 0.1
# Armijo sufficient-increase constant of the Newton line search.
_ARMIJO = 1e-4
# Newton stops one pass early when quadratic convergence is evident (a step at most this
# fraction of the previous one) and predicts a next change below this fraction of tol.
_QUADRATIC_CONTRACTION = 0.1
_PREDICTED_TOL_FRACTION = 0.1
# ... and only for a last step of at most this many tol: the covariance and log-likelihood are
# those of the iterate before it, which must stay close to the answer.
_EARLY_STOP_STEPS = 100.0
# Step halvings tried before a Newton iteration falls back to a (monotone) EM step.
_MAX_HALVINGS = 30
# A class held at exactly 0 whose slope (gradient / N) exceeds the multiplier 1 by more than
# this violates the optimality condition on the simplex: the likelihood rises by moving
# prior into it, so Newton brings it back (at _RETURN_FRACTION of the mass) and never
# zeroes it again in that solve.
_KKT_TOL = 1e-7
_RETURN_FRACTION = 1e-3
# Relative eigenvalue below which a direction of the Hessian counts as not identified.
_SINGULAR_RTOL = 1e-10


@dataclass(frozen=True, eq=False)
class PCPResult:
    """Result of :func:`prediction_consistent_prior`.

    Attributes
    ----------
    prior : ndarray of shape (C,)
        The prediction-consistent prior ``P(i)`` (Eq. 14), summing to one.
    stderr : ndarray of shape (C,)
        One-sigma standard error of each entry of ``prior``, the square root of the diagonal
        of ``covariance``. ``inf`` for classes in a direction the predictions do not identify,
        ``nan`` for classes that no row supports (their prior is exactly 0, at the boundary,
        where the normal approximation does not apply).
    covariance : ndarray of shape (C, C)
        Asymptotic covariance of ``prior``: the inverse of the Fisher information (Eq. 16)
        restricted to the simplex, so ``covariance @ ones(C) == 0`` (the sum is exact).
    iterations : int
        Number of updates of the prior made by the solver.
    converged : bool
        Whether the mean absolute change of the prior in the last iteration fell below
        ``tol`` (for "newton", alternatively: quadratic convergence predicted the next change
        below ``tol / 10`` after a last step of at most ``100 * tol``). False means the result is not a solution (a :class:`ConvergenceWarning` was
        also issued).
    log_likelihood : float
        Log-likelihood of the data under ``prior`` (Eq. 15 with the sign flipped and without
        the Lagrange term), up to the constant ``sum_m log L_M(x_m)``:
        ``sum_m log sum_i q_i P_M(i|x_m)`` with ``q_i = P(i) / P_M(i)``. It is 0 at
        ``prior == model_prior`` for rows summing to one, and larger is better.
    method : str
        Solver used: "newton", "em" or "squarem".
    model_prior : ndarray of shape (C,)
        Prior ``P_M(i)`` the probabilities were computed with.
    mean_probability : ndarray of shape (C,)
        Mean of the (row-normalised) model probabilities, the estimate of Eq. 13; it is the
        first EM iterate from ``model_prior``.
    n_rows : int
        Number of examples ``N``.
    seconds : float
        Wall-clock time of the computation.
    passes : int
        Number of passes made over the probability table.
    """

    prior: np.ndarray
    stderr: np.ndarray
    covariance: np.ndarray
    iterations: int
    converged: bool
    log_likelihood: float
    method: str
    model_prior: np.ndarray
    mean_probability: np.ndarray
    n_rows: int
    seconds: float
    passes: int = 0

    def __post_init__(self):
        # The arrays are shared with the caller; freezing them keeps the result immutable.
        for name in ("prior", "stderr", "covariance", "model_prior", "mean_probability"):
            value = np.array(getattr(self, name), dtype=np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)


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


def _em_update(prior: np.ndarray, gradient_sums: np.ndarray, model_prior, n_rows: int):
    """Compute one step of the recursion (half-EM) for the prediction-consistent prior.

    This is the right-hand side of Eq. 14 of Lake & Tsai (2022) evaluated at ``prior``:
    ``P_new(i) = (1/N) sum_m q_i P_M(i|x_m) / sum_j q_j P_M(j|x_m)``
    ``= q_i * gradient_sums[i] / N`` with ``q = prior / model_prior``.

    Parameters
    ----------
    prior : ndarray of shape (C,)
    gradient_sums : ndarray of shape (C,)
        ``sum_m P_M(i|x_m) / s_m`` at ``prior``, from :func:`_likelihood_pass`.
    model_prior : ndarray of shape (C,)
    n_rows : int

    Returns
    -------
    ndarray of shape (C,)
    """
    updated = prior / model_prior * gradient_sums / n_rows
    # The update sums to one exactly in exact arithmetic; renormalising stops rounding drift.
    return updated / updated.sum()


def _simplex_tangent_basis(n_classes: int) -> np.ndarray:
    """Orthonormal basis, shape (C, C-1), of the directions ``d`` with ``sum(d) == 0``.

    Moving a prior along these directions keeps it summing to one. The basis is the
    (normalised) Helmert contrasts, so it is deterministic.
    """
    basis = np.zeros((n_classes, max(n_classes - 1, 0)))
    for column in range(n_classes - 1):
        basis[: column + 1, column] = 1.0
        basis[column + 1, column] = -(column + 1.0)
        basis[:, column] /= math.sqrt((column + 1.0) * (column + 2.0))
    return basis


def _log_likelihood_derivatives(statistics: _PassStatistics, model_prior: np.ndarray):
    """Compute the gradient and the Hessian of minus the log-likelihood with respect to the
    prior, the matrix of second partials of Eq. 16 of Lake & Tsai (2022).

    With ``s_m = sum_i q_i P_M(i|x_m)`` and ``q_i = P(i) / P_M(i)``, the likelihoods of Eq. 16
    are ``L(x_m|j) = P_M(j|x_m) L_M(x_m) / P_M(j)`` and the common factor ``L_M(x_m)``
    cancels, leaving
    ``d2L/dP(j)dP(k) = sum_m P_M(j|x_m) P_M(k|x_m) / (s_m**2 P_M(j) P_M(k))``.

    Parameters
    ----------
    statistics : _PassStatistics
        Sums from one pass at the prior of interest.
    model_prior : ndarray of shape (C,)

    Returns
    -------
    gradient : ndarray of shape (C,)
        ``d(log-likelihood)/dP(j)`` (its Lagrange multiplier, Eq. 15, is ``N``).
    hessian : ndarray of shape (C, C)
        Eq. 16, positive semi-definite.
    """
    gradient = statistics.gradient_sums / model_prior
    hessian = statistics.hessian_sums / np.outer(model_prior, model_prior)
    return gradient, hessian


def _newton_direction(
    prior: np.ndarray, gradient: np.ndarray, hessian: np.ndarray, may_zero: np.ndarray
):
    """Newton step for maximising the log-likelihood over the simplex (sum fixed to one).

    Solves the equality-constrained Newton system
    ``[[H, 1], [1^T, 0]] [d, mu] = [g, 0]`` (least squares, so a singular ``H`` gives the
    minimum-norm step). A class the full step would push through zero is "blocked": its step
    is fixed and the others are re-solved given that: the class is shrunk by
    ``_BOUNDARY_SHRINK``. A class blocked again in the next iteration (``may_zero``), by a step
    that overshoots 0 by at least the class's own prior, is taken to exactly 0 instead,
    provided that is the maximum of the quadratic model on the simplex
    (the model's Karush-Kuhn-Tucker condition: its slope towards that class, ``g_k - (H d)_k``,
    is at most the multiplier ``mu``). A class whose maximum-likelihood prior is on the boundary
    then reaches it after two steps instead of approaching it geometrically, while a class
    pushed towards 0 by one inaccurate early step (far from the optimum, where the quadratic
    model is poor) is only shrunk and can come back.

    Parameters
    ----------
    prior : ndarray of shape (K,)
        Current prior of the free (supported) classes, non-negative.
    gradient : ndarray of shape (K,)
    hessian : ndarray of shape (K, K)
        Eq. 16 for the free classes; only its scale relative to ``gradient`` matters.
    may_zero : ndarray of shape (K,), bool
        Classes that were blocked in the previous iteration.

    Returns
    -------
    step : ndarray of shape (K,) or None
        The step ``d``; ``sum(d) == 0`` and ``prior + d >= 0``, with equality only for classes
        sent to the boundary. None if no such step was found.
    blocked : ndarray of shape (K,), bool
        Classes whose step was fixed.
    """
    n_free = prior.size
    blocked = np.zeros(n_free, dtype=bool)
    to_zero = np.zeros(n_free, dtype=bool)
    while True:
        fixed_step = np.where(
            blocked, np.where(to_zero, -prior, -(1.0 - _BOUNDARY_SHRINK) * prior), 0.0
        )
        free = ~blocked
        n_unknown = int(free.sum())
        system = np.zeros((n_unknown + 1, n_unknown + 1))
        system[:n_unknown, :n_unknown] = hessian[np.ix_(free, free)]
        system[:n_unknown, n_unknown] = 1.0
        system[n_unknown, :n_unknown] = 1.0
        right = np.empty(n_unknown + 1)
        right[:n_unknown] = gradient[free] - hessian[np.ix_(free, blocked)] @ fixed_step[blocked]
        right[n_unknown] = -fixed_step.sum()
        solution = np.linalg.lstsq(system, right, rcond=None)[0]
        step = fixed_step
        step[free] = solution[:n_unknown]
        newly_blocked = free & ~(prior + step > 0)
        if newly_blocked.any():
            blocked |= newly_blocked
            # Only a class the step overshoots by at least its own prior goes to exactly 0:
            # one the model wants only slightly below 0 may well have a small positive optimum.
            to_zero |= newly_blocked & may_zero & (prior + step <= -prior)
            if blocked.all():  # only possible through rounding; the caller takes an EM step
                return None, blocked
            continue
        # The model's slope into each class sent to zero, less the multiplier: positive means
        # the model would rather keep some of that class, so shrink it instead.
        slack = gradient - hessian @ step - solution[n_unknown]
        keep = to_zero & (slack > 0)
        if not keep.any():
            return step, blocked
        to_zero &= ~keep


class _Evaluator:
    """Runs likelihood passes at trial priors and counts them (and drives a progress bar)."""

    def __init__(self, source, model_prior, supported, atol, progress):
        self.source = source
        self.model_prior = model_prior
        self.supported = supported
        self.atol = atol
        self.passes = 0
        self.bar = Progress("prediction-consistent prior", unit="passes") if progress else None

    def count_pass(self, note: str = "") -> None:
        self.passes += 1
        if self.bar is not None:
            self.bar.update(1)
            if note:
                self.bar.set_postfix_str(note)

    def __call__(self, prior: np.ndarray) -> _PassStatistics:
        ratio = np.where(self.supported, prior / self.model_prior, 0.0)
        statistics = _likelihood_pass(self.source, ratio, validate=False, atol=self.atol)
        self.count_pass()
        return statistics

    def close(self, *, finished: bool = False) -> None:
        if self.bar is not None:
            if finished:
                self.bar.finish()
            self.bar.close()


class _SolverState(NamedTuple):
    """Where a solver stopped.

    ``statistics`` were computed at ``evaluated_prior``; ``prior`` may differ from it by one
    final step smaller than ``tol`` that was accepted without another pass.
    """

    prior: np.ndarray
    evaluated_prior: np.ndarray
    statistics: _PassStatistics
    iterations: int
    converged: bool
    last_change: float


def _mean_absolute_change(new: np.ndarray, old: np.ndarray) -> float:
    """The paper's convergence measure: mean absolute change of the prior per iteration."""
    return float(np.mean(np.abs(new - old)))


def _likelihood_noise(statistics: _PassStatistics) -> float:
    """Rounding-level tolerance for comparing two log-likelihood sums over the same rows."""
    return 1e-12 * (abs(statistics.log_likelihood) + statistics.n_rows)


def _solve_em(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """Iterate the recursion of Eq. 14 (half-EM) until the prior changes by less than ``tol``."""
    change = math.inf
    for iteration in range(1, max_iter + 1):
        updated = _em_update(
            prior, statistics.gradient_sums, evaluate.model_prior, statistics.n_rows
        )
        change = _mean_absolute_change(updated, prior)
        if change < tol:
            return _SolverState(updated, prior, statistics, iteration, True, change)
        prior, statistics = updated, evaluate(updated)
    return _SolverState(prior, prior, statistics, max_iter, False, change)


def _solve_squarem(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """SQUAREM-accelerated recursion of Eq. 14 (scheme S3 of Varadhan & Roland 2008).

    Each cycle takes two EM steps ``p1 = F(p0)``, ``p2 = F(p1)``, extrapolates to
    ``p0 - 2 a r + a**2 v`` with ``r = p1 - p0``, ``v = p2 - 2 p1 + p0`` and
    ``a = -|r| / |v|`` (at most -1, where the extrapolation is just ``p2``), and backtracks
    ``a`` towards -1 while the extrapolated prior leaves the simplex or lowers the likelihood.
    Convergence is judged on the EM steps, exactly as for the plain recursion.
    """
    model_prior = evaluate.model_prior
    free = evaluate.supported
    change = math.inf
    for iteration in range(1, max_iter + 1):
        first = _em_update(prior, statistics.gradient_sums, model_prior, statistics.n_rows)
        change = _mean_absolute_change(first, prior)
        if change < tol:
            return _SolverState(first, prior, statistics, iteration, True, change)
        first_statistics = evaluate(first)
        second = _em_update(
            first, first_statistics.gradient_sums, model_prior, first_statistics.n_rows
        )
        change = _mean_absolute_change(second, first)
        if change < tol:
            return _SolverState(second, first, first_statistics, iteration, True, change)
        residual = first - prior
        curvature = second - first - residual
        curvature_norm = float(np.linalg.norm(curvature))
        step_length = (
            -float(np.linalg.norm(residual)) / curvature_norm if curvature_norm > 0 else -1.0
        )
        step_length = min(step_length, -1.0)
        while True:
            if step_length == -1.0:
                trial = second
            else:
                trial = prior - 2.0 * step_length * residual + step_length**2 * curvature
            if step_length == -1.0 or np.all(trial[free] > 0):
                trial = np.where(free, trial, 0.0)
                trial = trial / trial.sum()
                trial_statistics = evaluate(trial)
                noise = _likelihood_noise(statistics)
                if (
                    step_length == -1.0
                    or trial_statistics.log_likelihood >= statistics.log_likelihood - noise
                ):
                    break
            step_length = (step_length - 1.0) / 2.0
            if step_length > -1.01:
                step_length = -1.0
        prior, statistics = trial, trial_statistics
    return _SolverState(prior, prior, statistics, max_iter, False, change)


def _solve_newton(prior, statistics, evaluate, tol, max_iter) -> _SolverState:
    """Newton's method on the log-likelihood of Eq. 15 over the simplex, with safeguards.

    The direction is the equality-constrained Newton step of :func:`_newton_direction`
    (a class that would cross zero is shrunk, and sent to exactly 0 when that happens twice in
    a row and the quadratic model agrees). A step is accepted when the
    log-likelihood rises by at least an Armijo fraction of the predicted rise; otherwise it is
    halved, and after ``_MAX_HALVINGS`` halvings (or if the direction is not uphill) an EM step,
    which never lowers the likelihood, is taken instead. The log-likelihood is concave in the
    prior (Eq. 16 is positive semi-definite), so close to the optimum full steps are accepted
    and convergence is quadratic.

    Quadratic convergence also ends the iteration one pass early: once two successive full
    Newton steps, on the same set of classes held at 0, have shrunk from ``c'`` to
    ``c <= _QUADRATIC_CONTRACTION * c'``, the next change is predicted as ``c**3 / c'**2``
    (``c = K c'**2`` gives ``K``, and the next is ``K c**2``). When that prediction is below
    ``_PREDICTED_TOL_FRACTION * tol`` (and the step itself at most ``_EARLY_STOP_STEPS * tol``)
    the last step is applied without another pass, as a step below ``tol`` would be: the prior
    returned is then within about that prediction of the solution, well inside ``tol``.
    """
    model_prior = evaluate.model_prior
    free = evaluate.supported
    change = math.inf
    previously_blocked = np.zeros(int(free.sum()), dtype=bool)
    # Mean absolute change of the last step if it was a full Newton step on an unchanged set
    # of classes held at 0 (so the next step can be predicted from it), else inf.
    last_full_step = math.inf
    # Classes brought back from 0 because the optimality condition said so: not zeroed again.
    never_zero = np.zeros(int(free.sum()), dtype=bool)
    for iteration in range(1, max_iter + 1):
        n_rows = statistics.n_rows
        gradient, hessian = _log_likelihood_derivatives(statistics, model_prior)
        # Dividing by N keeps the Newton system well scaled (gradient ~ 1 at the optimum).
        gradient_free = gradient[free] / n_rows
        hessian_free = hessian[np.ix_(free, free)] / n_rows
        # sum_i P(i) gradient_i = N, so the multiplier of the scaled problem is 1: a class at 0
        # with a larger slope must not stay at 0 (an early step on a poor quadratic model can
        # have sent it there, and neither Newton's blocked step nor EM can move it back).
        returning = (prior[free] == 0.0) & (gradient_free > 1.0 + _KKT_TOL)
        if returning.any():
            never_zero |= returning
            restart = prior.copy()
            restart[free] *= 1.0 - _RETURN_FRACTION * returning.sum()
            restart[np.flatnonzero(free)[returning]] = _RETURN_FRACTION
            prior, statistics = restart, evaluate(restart)
            previously_blocked = np.zeros_like(previously_blocked)
            last_full_step = change = math.inf
            continue
        step_free, blocked = _newton_direction(
            prior[free], gradient_free, hessian_free, previously_blocked & ~never_zero
        )
        # The same classes held at 0 as before, and none of them moving: a plain Newton step.
        same_face = (
            step_free is not None
            and np.array_equal(blocked, previously_blocked)
            and not np.any(step_free[blocked])
        )
        previously_blocked = blocked
        step = np.zeros_like(prior)
        if step_free is not None:
            step[free] = step_free
            change = _mean_absolute_change(prior + step, prior)
            if change < tol:
                return _SolverState(prior + step, prior, statistics, iteration, True, change)
            if (
                same_face
                and math.isfinite(last_full_step)
                and change <= _QUADRATIC_CONTRACTION * last_full_step
                and change <= _EARLY_STOP_STEPS * tol
            ):
                predicted_next = change**3 / last_full_step**2
                if predicted_next < _PREDICTED_TOL_FRACTION * tol:
                    return _SolverState(prior + step, prior, statistics, iteration, True, change)
            # The steps sum to zero, so removing the gradient's mean (~1 near the optimum)
            # changes nothing but the rounding error of the predicted rise.
            slope = n_rows * float((gradient_free - gradient_free.mean()) @ step_free)
        uphill = step_free is not None and slope > 0
        if not uphill:
            step = _em_update(prior, statistics.gradient_sums, model_prior, n_rows) - prior
            change = _mean_absolute_change(prior + step, prior)
            if change < tol:
                return _SolverState(prior + step, prior, statistics, iteration, True, change)
        accepted = None
        full_step = False
        if uphill:
            noise = _likelihood_noise(statistics)
            fraction = 1.0
            for _ in range(_MAX_HALVINGS + 1):
                trial = prior + fraction * step
                trial = trial / trial.sum()
                trial_statistics = evaluate(trial)
                rise = trial_statistics.log_likelihood - statistics.log_likelihood
                if rise >= _ARMIJO * fraction * slope - noise:
                    accepted = trial, trial_statistics
                    full_step = fraction == 1.0
                    break
                fraction /= 2.0
        if accepted is None:
            trial = _em_update(prior, statistics.gradient_sums, model_prior, n_rows)
            accepted = trial, evaluate(trial)
        change = _mean_absolute_change(accepted[0], prior)
        last_full_step = change if full_step and same_face else math.inf
        prior, statistics = accepted
    return _SolverState(prior, prior, statistics, max_iter, False, change)


_SOLVERS = {"em": _solve_em, "newton": _solve_newton, "squarem": _solve_squarem}


def _prior_covariance(hessian: np.ndarray, supported: np.ndarray):
    """Compute the covariance of the prediction-consistent prior as the inverse of the Fisher
    information of Eq. 16 of Lake & Tsai (2022), restricted to the simplex.

    The prior sums to one, so only the ``K - 1`` directions ``d`` with ``sum(d) == 0`` are free
    (``K`` supported classes). With ``B`` an orthonormal basis of them
    (:func:`_simplex_tangent_basis`) the covariance is ``B (B^T H B)^-1 B^T``, where ``H`` is
    Eq. 16 at the estimate. Eigen-directions of ``B^T H B`` with eigenvalue at most
    ``_SINGULAR_RTOL`` times the largest are not identified by the predictions (the
    likelihood is flat along them, e.g. for two identical probability columns): they
    contribute ``+-inf`` to every covariance entry they touch. Unsupported classes (prior
    exactly 0) get ``nan`` rows and columns.

    Parameters
    ----------
    hessian : ndarray of shape (C, C)
        Eq. 16 at the estimate (entries of unsupported classes are ignored).
    supported : ndarray of shape (C,), bool

    Returns
    -------
    covariance : ndarray of shape (C, C)
    unidentified : ndarray of shape (C,), bool
        Classes with a component along a non-identified direction.
    """
    n_classes = supported.size
    covariance = np.full((n_classes, n_classes), np.nan)
    unidentified = np.zeros(n_classes, dtype=bool)
    free = np.flatnonzero(supported)
    basis = _simplex_tangent_basis(free.size)
    if free.size == 1:
        covariance[free[0], free[0]] = 0.0
        return covariance, unidentified
    reduced = basis.T @ hessian[np.ix_(free, free)] @ basis
    eigenvalues, eigenvectors = np.linalg.eigh((reduced + reduced.T) / 2.0)
    identified = eigenvalues > _SINGULAR_RTOL * max(float(eigenvalues.max()), 0.0)
    directions = basis @ eigenvectors
    kept = directions[:, identified]
    block = (kept / eigenvalues[identified]) @ kept.T
    flat = directions[:, ~identified]
    if flat.shape[1]:
        overlap = flat @ flat.T
        touched = np.abs(overlap) > 1e-9
        block = np.where(touched, np.copysign(np.inf, overlap), block)
        unidentified[free] = np.diag(touched)
    covariance[np.ix_(free, free)] = block
    return covariance, unidentified


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


def prediction_consistent_prior(
    probs,
    model_prior=None,
    *,
    method: str = "newton",
    tol: float = 1e-8,
    max_iter: int = 1000,
    start=None,
    chunk_size: int = DEFAULT_CHUNK_ROWS,
    progress: bool = False,
    engine: str = "auto",
    atol: float = 1e-3,
) -> PCPResult:
    """Find the prior that is consistent with a model's own predictions on a data set.

    Solves Eq. 14 of Lake & Tsai (2022),
    ``P(i) = (1/N) sum_m q_i P_M(i|x_m) / sum_j q_j P_M(j|x_m)`` with ``q = P / P_M``, which is
    the maximum of the likelihood of the unlabelled data (Eq. 15) over priors on the simplex;
    its curvature (Eq. 16) gives the standard errors. Applying the result with
    :func:`replace_prior` (Eq. 12, old prior ``model_prior``) "debiases" the probabilities.

    Parameters
    ----------
    probs : array_like of shape (N, C), or object with ``iter_chunks()``
        Model probabilities ``P_M(i|x_m)``, float32 or float64 (kept as they are; all sums are
        accumulated in float64). Instead of an array, any object whose ``iter_chunks()``
        returns a fresh iterator over 2-D arrays of shape (k, C) on every call; each solver
        iteration is then one streamed pass, so the table never has to fit in memory.
    model_prior : array_like of shape (C,), optional
        Prior ``P_M(i)`` the model's probabilities carry (e.g. the training-set composition,
        Eq. 3, or the weighted prior, Eq. 7). Strictly positive. Flat when omitted.
    method : {"newton", "em", "squarem"}, default "newton"
        ``"em"``: the paper's recursion (half-EM) on Eq. 14, one pass per iteration, linear
        convergence. ``"newton"``: Newton's method on Eq. 15 constrained to the simplex, with
        a line search that keeps the prior positive and the likelihood increasing, falling
        back to EM steps when needed; quadratic convergence, typically 5-10 passes.
        ``"squarem"``: the recursion accelerated by SQUAREM (Varadhan & Roland 2008).
    tol : float, default 1e-8
        Convergence threshold on the mean absolute change of the prior between iterations,
        as in the paper. The last step, once smaller than ``tol``, is applied without another
        pass; ``log_likelihood`` is then extrapolated to it to second order and the covariance
        is the one of the previous iterate (both differences are below rounding). Newton also
        stops, one pass early, when its last two steps show quadratic convergence and predict a
        next change below ``tol / 10`` (see :func:`_solve_newton`).
    max_iter : int, default 1000
        Largest number of iterations (prior updates; SQUAREM cycles for "squarem").
    start : array_like of shape (C,), optional
        First guess for the prior; positive on every class that some row supports. Defaults
        to ``model_prior``, as the paper suggests.
    chunk_size : int, default 1_048_576
        Rows per chunk for an in-memory table processed by the NumPy engine.
    progress : bool, default False
        Show progress on stderr, counting passes: a bar on a terminal, one line at the end
        elsewhere (:class:`deweight._progress.Progress`).
    engine : {"auto", "numba", "numpy"}, default "auto"
        Implementation of a pass: parallel numba kernels or chunked NumPy. ``"auto"`` takes
        numba when it is installed, except for an in-memory table of fewer than
        :data:`NUMBA_MIN_ROWS` rows, where NumPy is faster. Both accumulate in float64 and
        agree to rounding.
    atol : float, default 1e-3
        Tolerance on row sums when validating ``probs`` (done during the first pass).

    Returns
    -------
    PCPResult
        Prior, standard errors, covariance, convergence information and Eq. 13's mean.

    Raises
    ------
    ValueError
        If ``probs`` is not a probability table (naming the first bad row) or has no rows,
        if ``model_prior`` or ``start`` are invalid or of the wrong length, or if an option
        is invalid.

    Warns
    -----
    ConvergenceWarning
        If ``max_iter`` iterations did not reach ``tol`` (the result has ``converged=False``).
    DeweightWarning
        If some class has probability 0 in every row: the likelihood always prefers giving it
        no prior mass, so its prior is exactly 0 (the boundary of the simplex) and its
        standard error is ``nan``. If the predictions do not identify some direction of the
        prior (the Hessian of Eq. 16 is singular there, e.g. two classes with identical
        probability columns): the likelihood is flat along it, the solver keeps the starting
        point's position along it, and the classes involved get ``stderr = inf``. If a class's
        estimate ends on (or within 1e-3 standard errors of) the boundary 0, where the normal
        approximation behind ``stderr`` fails.

    Notes
    -----
    The standard errors are asymptotic (the inverse observed Fisher information of the
    ``N`` rows, treated as independent draws) and cover only the sampling of the data set,
    not errors in the model's likelihoods.

    References
    ----------
    Lake, S. E. & Tsai, C.-W. (2022), Eqs. 13-16. Varadhan, R. & Roland, C. (2008),
    "Simple and globally convergent methods for accelerating the convergence of any EM
    algorithm", Scandinavian Journal of Statistics 35, 335.
    """
    started = time.perf_counter()
    if method not in _SOLVERS:
        raise ValueError(f"method must be one of {PCP_METHODS}, got {method!r}")
    try:
        tol_value = float(tol)
    except (TypeError, ValueError):
        tol_value = math.nan
    if not (math.isfinite(tol_value) and tol_value > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    tol = tol_value
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    max_iter = int(max_iter)
    source = _ProbabilitySource(
        probs, _checked_chunk_size(chunk_size), _resolve_engine(engine, probs)
    )
    if model_prior is not None and source.n_classes is not None:
        check_prior(model_prior, source.n_classes, name="model_prior")

    evaluate = None
    try:
        at_model_prior = _likelihood_pass(source, None, validate=True, atol=atol)
        n_classes = at_model_prior.gradient_sums.size
        if model_prior is None:
            model = np.full(n_classes, 1.0 / n_classes)
        else:
            model = check_prior(model_prior, n_classes, name="model_prior")
        n_rows = at_model_prior.n_rows
        # At q = 1 the gradient sums are the column sums of the row-normalised probabilities.
        mean = at_model_prior.gradient_sums / n_rows
        supported = at_model_prior.gradient_sums > 0
        if not supported.all():
            warnings.warn(
                f"classes {np.flatnonzero(~supported).tolist()} have probability 0 in every "
                "row; their prediction-consistent prior is exactly 0 (on the boundary) and "
                "has no standard error (nan)",
                DeweightWarning,
                stacklevel=2,
            )
        evaluate = _Evaluator(source, model, supported, atol, progress)
        evaluate.count_pass()
        prior, statistics = _starting_point(start, model, supported, at_model_prior, evaluate)
        state = _SOLVERS[method](prior, statistics, evaluate, tol, max_iter)
        evaluate.close(finished=True)
    finally:
        if evaluate is not None:
            evaluate.close()

    prior = np.where(supported, state.prior, 0.0)
    prior = prior / prior.sum()
    gradient, hessian = _log_likelihood_derivatives(state.statistics, model)
    final_step = (prior - state.evaluated_prior)[supported]
    # Second-order Taylor extrapolation over the final sub-tol step (error ~ N |step|^3).
    log_likelihood = (
        state.statistics.log_likelihood
        + float(gradient[supported] @ final_step)
        - 0.5 * float(final_step @ hessian[np.ix_(supported, supported)] @ final_step)
    )
    covariance, unidentified = _prior_covariance(hessian, supported)
    with np.errstate(invalid="ignore"):
        stderr = np.sqrt(np.diag(covariance))
    _warn_about_result(state, method, tol, max_iter, prior, stderr, unidentified, supported)
    return PCPResult(
        prior=prior,
        stderr=stderr,
        covariance=covariance,
        iterations=state.iterations,
        converged=state.converged,
        log_likelihood=log_likelihood,
        method=method,
        model_prior=model,
        mean_probability=mean,
        n_rows=n_rows,
        seconds=time.perf_counter() - started,
        passes=evaluate.passes,
    )


def _starting_point(start, model_prior, supported, at_model_prior, evaluate):
    """First prior of the solvers and the pass statistics there (reusing the first pass)."""
    n_classes = model_prior.size
    if start is None:
        if supported.all():
            return model_prior.copy(), at_model_prior
        prior = np.where(supported, model_prior, 0.0)
    else:
        prior = check_prior(start, n_classes, name="start", allow_zero=True)
        zero = np.flatnonzero(supported & (prior <= 0))
        if zero.size:
            raise ValueError(
                f"start[{int(zero[0])}] is 0 but some rows give that class probability; the "
                "solvers cannot move a prior away from exactly 0"
            )
        prior = np.where(supported, prior, 0.0)
    prior = prior / prior.sum()
    return prior, evaluate(prior)


def _warn_about_result(state, method, tol, max_iter, prior, stderr, unidentified, supported):
    if not state.converged:
        warnings.warn(
            f"prediction_consistent_prior (method={method!r}) did not converge in {max_iter} "
            f"iterations: the last mean absolute change of the prior was "
            f"{state.last_change:.3g} > tol={tol:g}; the returned prior is not a solution",
            ConvergenceWarning,
            stacklevel=3,
        )
    if unidentified.any():
        warnings.warn(
            f"the predictions do not identify the prior of classes "
            f"{np.flatnonzero(unidentified).tolist()} separately (the Hessian of Eq. 16 is "
            "singular: their probability columns are linearly dependent); the likelihood is "
            "flat along that direction, so the estimate there is arbitrary and its standard "
            "error is inf",
            DeweightWarning,
            stacklevel=3,
        )
    on_boundary = supported & ~unidentified & (prior < 1e-3 * stderr)
    if on_boundary.any():
        warnings.warn(
            f"the prior of classes {np.flatnonzero(on_boundary).tolist()} is on (or within "
            "1e-3 standard errors of) the boundary 0; the normal approximation behind their "
            "standard errors does not hold there",
            DeweightWarning,
            stacklevel=3,
        )


class PredictionConsistentPrior(EstimatorParams):
    """Estimator-style wrapper of :func:`prediction_consistent_prior` (QuaPy-like ``fit``).

    Parameters
    ----------
    model_prior : array_like of shape (C,), optional
        Prior the model's probabilities carry; flat when omitted.
    method : {"newton", "em", "squarem"}, default "newton"
    tol : float, default 1e-8
    max_iter : int, default 1000

    Attributes
    ----------
    result_ : PCPResult
        Full result of the last :meth:`fit`.
    prior_ : ndarray of shape (C,)
        The prediction-consistent prior.
    stderr_ : ndarray of shape (C,)
        Its standard errors.

    Examples
    --------
    >>> estimator = PredictionConsistentPrior(model_prior=[0.5, 0.5]).fit(probs)  # doctest: +SKIP
    >>> debiased = estimator.predict_proba(probs)  # doctest: +SKIP
    """

    def __init__(self, model_prior=None, method: str = "newton", tol: float = 1e-8, max_iter=1000):
        self.model_prior = model_prior
        self.method = method
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, probs) -> PredictionConsistentPrior:
        """Estimate the prior consistent with ``probs`` (see :func:`prediction_consistent_prior`).

        Parameters
        ----------
        probs : array_like of shape (N, C), or object with ``iter_chunks()``

        Returns
        -------
        PredictionConsistentPrior
            ``self``, fitted.
        """
        self.result_ = prediction_consistent_prior(
            probs, self.model_prior, method=self.method, tol=self.tol, max_iter=self.max_iter
        )
        self.prior_ = self.result_.prior
        self.stderr_ = self.result_.stderr
        return self

    def predict_proba(self, probs) -> np.ndarray:
        """Re-express ``probs`` under the fitted prior (Eq. 12, via :func:`replace_prior`).

        Parameters
        ----------
        probs : array_like of shape (n, C)
            Model probabilities carrying ``model_prior``.

        Returns
        -------
        ndarray of shape (n, C)

        Raises
        ------
        NotFittedError
            If called before :meth:`fit`.
        """
        if not hasattr(self, "result_"):
            raise NotFittedError(
                "this PredictionConsistentPrior is not fitted yet; call fit(probs) first"
            )
        return replace_prior(probs, self.result_.model_prior, self.prior_)
