"""The prior a training set implies (Eqs. 3, 7) and replacing it by another (Eq. 12).

Section 2 of Lake & Tsai (2022): a classifier trained on a set with class prior ``P_M(i)`` (the
training-set composition, Eq. 3, or its weighted version, Eq. 7) returns probabilities
``P_M(i|x)`` that carry that prior; :func:`replace_prior` swaps it for another (Eq. 12,
"deweighting" or "debiasing"). Row by row, in chunks: no pass statistics, no solver.
"""

from __future__ import annotations

import numpy as np

from deweight._validation import check_labels, check_prior, check_probabilities

__all__ = ["DEFAULT_CHUNK_ROWS", "effective_prior", "replace_prior", "weighted_prior"]

#: Rows processed at a time by the chunked functions of :mod:`deweight.priors`.
DEFAULT_CHUNK_ROWS = 1_048_576


def _checked_chunk_size(chunk_size) -> int:
    """``chunk_size`` as an int, or a ValueError if it is not a positive integer."""
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


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
    chunk_size = _checked_chunk_size(chunk_size)
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
