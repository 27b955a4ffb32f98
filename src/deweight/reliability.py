"""Reliability curves: is a model's probability of a class what it claims to be?

Beyond the paper. Rows are binned by the model's probability of class ``k``; in each bin the
model's mean probability is set against what that probability should have been:

* on the simulation, the mean of the analytic posterior ``P(k|x)`` (Eq. 2 of Lake & Tsai 2022)
  over the same rows, with the standard error of that mean;
* on labelled data, the observed fraction of rows whose true class is ``k``, with a Wilson
  binomial interval.

A calibrated model lies on the diagonal. A model above it in the top bins is under-confident
(it says 0.86 where the truth is 0.98), one below it over-confident. The paper's prior
mismatch of a weighted model shows as a whole curve below the diagonal for a rare class.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtri

from deweight._validation import check_labels, check_probabilities

__all__ = ["RELIABILITY_COLUMNS", "reliability_curve", "wilson_interval"]

#: Columns of :func:`reliability_curve`'s table.
RELIABILITY_COLUMNS = (
    "class",
    "bin",
    "bin_low",
    "bin_high",
    "n",
    "mean_probability",
    "reference",
    "reference_low",
    "reference_high",
)


def wilson_interval(successes, trials, *, level: float = 0.6827) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (Wilson 1927).

    Parameters
    ----------
    successes, trials : array_like of int
        Counts; ``trials`` must be positive.
    level : float, default 0.6827
        Coverage; the default is one normal standard deviation.

    Returns
    -------
    low, high : ndarray
        Interval bounds, within [0, 1].
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("wilson_interval needs 0 <= successes <= trials and trials > 0")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    z = float(ndtri(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def reliability_curve(probs, *, true_probs=None, labels=None, bins: int = 10) -> pd.DataFrame:
    """Bin rows by the model's probability of each class and compare with the reference.

    Exactly one of ``true_probs`` (a known posterior, e.g. the simulation's analytic one) and
    ``labels`` (true classes) is given.

    Parameters
    ----------
    probs : array_like of shape (n, C)
        The model's class probabilities.
    true_probs : array_like of shape (n, C), optional
        The true posterior of the same rows: the reference is its mean in the bin, with the
        standard error of that mean as the interval (zero for a bin of one row).
    labels : array_like of int, shape (n,), optional
        True classes: the reference is the fraction of the bin's rows of class ``k``, with the
        Wilson interval of one standard deviation (:func:`wilson_interval`).
    bins : int, default 10
        Equal-width bins of [0, 1]; a probability of exactly 1 falls in the last.

    Returns
    -------
    pandas.DataFrame
        One row per class and non-empty bin, columns :data:`RELIABILITY_COLUMNS`.

    Raises
    ------
    ValueError
        If both or neither reference is given, shapes disagree, a table is not a probability
        table (naming the row), or ``bins`` is not a positive integer.
    """
    if (true_probs is None) == (labels is None):
        raise ValueError("give exactly one of true_probs and labels")
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    probs = check_probabilities(probs, name="probs")
    n_rows, n_classes = probs.shape
    if true_probs is not None:
        true_probs = check_probabilities(true_probs, name="true_probs")
        if true_probs.shape != probs.shape:
            raise ValueError(f"true_probs has shape {true_probs.shape}, probs {probs.shape}")
    else:
        labels = check_labels(labels, n_classes=n_classes, name="labels")
        if labels.shape != (n_rows,):
            raise ValueError(f"labels has shape {labels.shape}, expected ({n_rows},)")
    edges = np.linspace(0.0, 1.0, int(bins) + 1)
    frames = []
    for k in range(n_classes):
        which = np.minimum((probs[:, k] * bins).astype(np.int64), int(bins) - 1)
        reference = true_probs[:, k] if true_probs is not None else (labels == k)
        frames.append(
            _class_bins(k, which, probs[:, k], reference, edges, labelled=labels is not None)
        )
    return pd.concat(frames, ignore_index=True).loc[:, list(RELIABILITY_COLUMNS)]


def _class_bins(k, which, probability, reference, edges, *, labelled: bool) -> pd.DataFrame:
    """The reliability rows of one class: per non-empty bin, means and the reference interval."""
    n_bins = edges.size - 1
    counts = np.bincount(which, minlength=n_bins)
    sums = np.bincount(which, weights=probability, minlength=n_bins)
    reference = reference.astype(np.float64)
    ref_sums = np.bincount(which, weights=reference, minlength=n_bins)
    used = counts > 0
    n = counts[used]
    mean_reference = ref_sums[used] / n
    if labelled:
        low, high = wilson_interval(np.rint(ref_sums[used]), n)
    else:
        squares = np.bincount(which, weights=reference**2, minlength=n_bins)[used]
        variance = np.maximum(squares / n - mean_reference**2, 0.0)
        sem = np.sqrt(variance / np.maximum(n - 1, 1))
        low, high = mean_reference - sem, mean_reference + sem
    return pd.DataFrame(
        {
            "class": k,
            "bin": np.flatnonzero(used),
            "bin_low": edges[:-1][used],
            "bin_high": edges[1:][used],
            "n": n,
            "mean_probability": sums[used] / n,
            "reference": mean_reference,
            "reference_low": low,
            "reference_high": high,
        }
    )
