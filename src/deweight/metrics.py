"""Predicted and observed classification metrics, classifiers and the KL divergence.

Section 2.2 of Lake & Tsai (2022): taking a model's probabilities literally, each example is an
independent categorical draw, so the expected true/false positive and false negative counts of
any assignment of labels follow from the probabilities alone (Eq. 9), and so do the expected
completeness, reliability and F1 score (Eq. 10) and their variances (Eq. 11). On labelled data
the *overshoot*, observed minus predicted, measured in units of the predicted standard
deviation, tests whether the probabilities are accurate.

Also here: the two classifiers the paper compares (Bayes: the most probable class; stochastic:
a draw from the probabilities) and the Kullback-Leibler divergence of Eq. 21.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from deweight._validation import check_labels, check_probabilities

__all__ = [
    "ExpectedCounts",
    "METRICS",
    "bayes_classify",
    "expected_counts",
    "kl_divergence",
    "metrics_from_counts",
    "observed_metrics",
    "observed_metrics_from_confusion",
    "overshoot",
    "overshoot_from_metrics",
    "predicted_metric_values",
    "predicted_metric_variances",
    "predicted_metrics",
    "stochastic_classify",
]

METRICS = ("completeness", "reliability", "f1")

# Rows processed at a time, so temporaries stay near 25 MB per (chunk, C) float64 array.
_CHUNK_ROWS = 1_048_576


@dataclass(frozen=True, eq=False)
class ExpectedCounts:
    """Expected confusion counts of each class and their variances (Eq. 9 of Lake & Tsai 2022).

    Every field is an ndarray of shape (C,) and is a sum over examples, so the counts of
    disjoint chunks of a catalogue add field by field.

    Attributes
    ----------
    etp, efp, efn : ndarray of shape (C,)
        Expected numbers of true positives, false positives and false negatives.
    vtp, vfp, vfn : ndarray of shape (C,)
        Their variances (sums of ``P (1 - P)`` over the same examples).
    n_positive : ndarray of shape (C,)
        ``NP_i``: number of examples assigned to each class (not random: ``etp + efp``).
    """

    etp: np.ndarray
    efp: np.ndarray
    efn: np.ndarray
    vtp: np.ndarray
    vfp: np.ndarray
    vfn: np.ndarray
    n_positive: np.ndarray

    def __add__(self, other: ExpectedCounts) -> ExpectedCounts:
        """Counts of the union of two disjoint sets of examples."""
        return ExpectedCounts(
            **{
                item.name: getattr(self, item.name) + getattr(other, item.name)
                for item in fields(self)
            }
        )


def _checked_table_and_labels(probs, assigned):
    probs = check_probabilities(probs)
    assigned = check_labels(assigned, probs.shape[1], name="assigned")
    if assigned.shape[0] != probs.shape[0]:
        raise ValueError(
            f"assigned has {assigned.shape[0]} labels but probs has {probs.shape[0]} rows"
        )
    return probs, assigned


def expected_counts(probs, assigned) -> ExpectedCounts:
    """Compute the expected true positives, false positives and false negatives of each class,
    and their variances, for given class assignments.

    This is Eq. 9 of Lake & Tsai (2022): with ``j_n`` the class assigned to example ``n``,
    ``eTP_i = sum_n [j_n = i] P(i|x_n)``, ``eFP_i = sum_n [j_n = i] (1 - P(i|x_n))`` and
    ``eFN_i = sum_n [j_n != i] P(i|x_n)``; the variances replace each probability by
    ``P (1 - P)`` (each example is an independent Bernoulli trial for each count).

    Parameters
    ----------
    probs : array_like of shape (n, C)
        Class probabilities ``P(i|x_n)``; rows sum to one.
    assigned : array_like of shape (n,)
        Class index ``j_n`` assigned to each example (by any classifier).

    Returns
    -------
    ExpectedCounts
        Arrays of shape (C,), accumulated in float64.

    Raises
    ------
    ValueError
        If ``probs`` is not a probability table (naming the bad row), or ``assigned`` has the
        wrong length or a label outside ``[0, C)``.
    """
    probs, assigned = _checked_table_and_labels(probs, assigned)
    n_rows, n_classes = probs.shape
    column_totals = np.zeros(n_classes)
    column_variances = np.zeros(n_classes)
    etp = np.zeros(n_classes)
    vtp = np.zeros(n_classes)
    for start in range(0, n_rows, _CHUNK_ROWS):
        chunk = probs[start : start + _CHUNK_ROWS].astype(np.float64)
        labels = assigned[start : start + _CHUNK_ROWS]
        of_assigned = chunk[np.arange(chunk.shape[0]), labels]
        column_totals += chunk.sum(axis=0)
        column_variances += (chunk * (1.0 - chunk)).sum(axis=0)
        etp += np.bincount(labels, weights=of_assigned, minlength=n_classes)
        vtp += np.bincount(labels, weights=of_assigned * (1.0 - of_assigned), minlength=n_classes)
    n_positive = np.bincount(assigned, minlength=n_classes).astype(np.float64)
    return ExpectedCounts(
        etp=etp,
        efp=n_positive - etp,
        efn=column_totals - etp,
        vtp=vtp,
        # P(i != j) (1 - P(i != j)) is the same product as P(i = j) (1 - P(i = j)).
        vfp=vtp.copy(),
        vfn=column_variances - vtp,
        n_positive=n_positive,
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise quotient that is NaN (not an error or inf) where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def predicted_metric_values(counts: ExpectedCounts) -> dict[str, np.ndarray]:
    """Compute the predicted completeness, reliability and F1 score of each class.

    This is Eq. 10 of Lake & Tsai (2022): ``C = eTP / (eTP + eFN)``, ``R = eTP / NP`` and
    ``F1 = 2 eTP / (NP + eTP + eFN)``, with ``NP_i`` the number of examples assigned to class
    ``i``. A metric whose denominator is zero (e.g. reliability of a class nothing was
    assigned to) is NaN.

    Parameters
    ----------
    counts : ExpectedCounts
        Output of :func:`expected_counts` (possibly summed over chunks).

    Returns
    -------
    dict of str to ndarray of shape (C,)
        Keys "completeness", "reliability", "f1".
    """
    return {
        "completeness": _ratio(counts.etp, counts.etp + counts.efn),
        "reliability": _ratio(counts.etp, counts.n_positive),
        "f1": _ratio(2.0 * counts.etp, counts.n_positive + counts.etp + counts.efn),
    }


def predicted_metric_variances(counts: ExpectedCounts) -> dict[str, np.ndarray]:
    """Compute the variances of the predicted completeness, reliability and F1 score.

    This is Eq. 11 of Lake & Tsai (2022), first-order error propagation from the variances
    of Eq. 9 (true positives and false negatives come from disjoint examples, so they are
    independent; ``NP_i`` is fixed):
    ``Var C = (vTP eFN^2 + vFN eTP^2) / (eTP + eFN)^4``, ``Var R = vTP / NP^2`` and
    ``Var F1 = 4 (vTP (NP + eFN)^2 + vFN eTP^2) / (NP + eTP + eFN)^4``. NaN where the
    metric's denominator is zero.

    Parameters
    ----------
    counts : ExpectedCounts

    Returns
    -------
    dict of str to ndarray of shape (C,)
        Keys "completeness_var", "reliability_var", "f1_var".
    """
    etp, efn, vtp, vfn, n_positive = (
        counts.etp,
        counts.efn,
        counts.vtp,
        counts.vfn,
        counts.n_positive,
    )
    actual = etp + efn
    f1_denominator = n_positive + etp + efn
    return {
        "completeness_var": _ratio(vtp * efn**2 + vfn * etp**2, actual**4),
        "reliability_var": _ratio(vtp, n_positive**2),
        "f1_var": _ratio(4.0 * (vtp * (n_positive + efn) ** 2 + vfn * etp**2), f1_denominator**4),
    }


def metrics_from_counts(counts: ExpectedCounts) -> pd.DataFrame:
    """Predicted metrics (Eq. 10) and their variances (Eq. 11) from expected counts (Eq. 9).

    Parameters
    ----------
    counts : ExpectedCounts
        Output of :func:`expected_counts`, possibly summed over the chunks of a catalogue.

    Returns
    -------
    pandas.DataFrame
        Index "class" (0 .. C-1); columns completeness, completeness_var, reliability,
        reliability_var, f1, f1_var.
    """
    values = predicted_metric_values(counts)
    variances = predicted_metric_variances(counts)
    columns = {}
    for metric in METRICS:
        columns[metric] = values[metric]
        columns[f"{metric}_var"] = variances[f"{metric}_var"]
    table = pd.DataFrame(columns)
    table.index.name = "class"
    return table


def predicted_metrics(probs, assigned) -> pd.DataFrame:
    """Predict each class's completeness, reliability and F1 score, with variances, from the
    probabilities alone (Eqs. 9-11 of Lake & Tsai 2022).

    Parameters
    ----------
    probs : array_like of shape (n, C)
        Class probabilities of each example.
    assigned : array_like of shape (n,)
        Class assigned to each example.

    Returns
    -------
    pandas.DataFrame
        See :func:`metrics_from_counts`.

    Raises
    ------
    ValueError
        See :func:`expected_counts`.
    """
    return metrics_from_counts(expected_counts(probs, assigned))


def observed_metrics(true, assigned, n_classes: int | None = None) -> pd.DataFrame:
    """Measure each class's completeness, reliability and F1 score against the true labels.

    Completeness ``TP / (TP + FN)``, reliability ``TP / (TP + FP)`` and
    ``F1 = 2 TP / (2 TP + FP + FN)``, the observed counterparts of Eq. 10 of Lake & Tsai
    (2022). NaN where a denominator is zero.

    Parameters
    ----------
    true : array_like of shape (n,)
        True class of each example.
    assigned : array_like of shape (n,)
        Class assigned to each example.
    n_classes : int, optional
        Number of classes ``C``; ``max(true, assigned) + 1`` when omitted.

    Returns
    -------
    pandas.DataFrame
        Index "class" (0 .. C-1); columns completeness, reliability, f1.

    Raises
    ------
    ValueError
        If the label arrays differ in length or hold invalid class indices.
    """
    true_raw, assigned_raw = np.asarray(true), np.asarray(assigned)
    if n_classes is None:
        n_classes = 1
        for labels in (true_raw, assigned_raw):
            if labels.size and labels.dtype.kind in "iuf" and np.all(np.isfinite(labels)):
                n_classes = max(n_classes, int(np.max(labels)) + 1)
    true = check_labels(true_raw, n_classes, name="true")
    assigned = check_labels(assigned_raw, n_classes, name="assigned")
    if true.shape != assigned.shape:
        raise ValueError(f"true has {true.size} labels but assigned has {assigned.size}")
    confusion = np.bincount(true * n_classes + assigned, minlength=n_classes * n_classes)
    return observed_metrics_from_confusion(confusion.reshape(n_classes, n_classes))


def observed_metrics_from_confusion(confusion) -> pd.DataFrame:
    """Observed completeness, reliability and F1 score of each class from a confusion matrix.

    The counts version of :func:`observed_metrics`, for labels read in chunks (confusion
    matrices of successive chunks add up).

    Parameters
    ----------
    confusion : array_like of shape (C, C)
        ``confusion[i, j]`` is the number of examples of true class ``i`` assigned to ``j``.

    Returns
    -------
    pandas.DataFrame
        Index "class" (0 .. C-1); columns completeness, reliability, f1 (NaN where a
        denominator is zero).

    Raises
    ------
    ValueError
        If ``confusion`` is not a square matrix of finite non-negative counts.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix, got shape {confusion.shape}")
    if not np.all(np.isfinite(confusion) & (confusion >= 0)):
        raise ValueError("confusion must hold finite non-negative counts")
    true_positive = np.diag(confusion).copy()
    actual = confusion.sum(axis=1)
    positive = confusion.sum(axis=0)
    table = pd.DataFrame(
        {
            "completeness": _ratio(true_positive, actual),
            "reliability": _ratio(true_positive, positive),
            "f1": _ratio(2.0 * true_positive, actual + positive),
        }
    )
    table.index.name = "class"
    return table


def overshoot(true, probs, assigned) -> pd.DataFrame:
    """Compare observed metrics with those the probabilities predict: the overshoot.

    The overshoot of Section 2.2 of Lake & Tsai (2022) is observed minus predicted (Eq. 10);
    divided by the predicted standard deviation (square root of Eq. 11) it is a z-score, and a
    significant one is evidence that the probabilities are inaccurate.

    Parameters
    ----------
    true : array_like of shape (n,)
        True class of each example.
    probs : array_like of shape (n, C)
        The model's class probabilities.
    assigned : array_like of shape (n,)
        Class assigned to each example.

    Returns
    -------
    pandas.DataFrame
        Long form, one row per (class, metric), metrics in the order completeness,
        reliability, f1; columns class, metric, observed, predicted, sigma,
        overshoot (= observed - predicted) and z (= overshoot / sigma; inf or NaN if
        sigma is 0).

    Raises
    ------
    ValueError
        If the inputs are invalid or disagree in length.
    """
    probs, assigned = _checked_table_and_labels(probs, assigned)
    n_classes = probs.shape[1]
    true = check_labels(true, n_classes, name="true")
    if true.shape != assigned.shape:
        raise ValueError(f"true has {true.size} labels but probs has {probs.shape[0]} rows")
    return overshoot_from_metrics(
        observed_metrics(true, assigned, n_classes), predicted_metrics(probs, assigned)
    )


def overshoot_from_metrics(observed: pd.DataFrame, predicted: pd.DataFrame) -> pd.DataFrame:
    """The overshoot table of :func:`overshoot` from already computed metric tables.

    Parameters
    ----------
    observed : pandas.DataFrame
        As returned by :func:`observed_metrics` or :func:`observed_metrics_from_confusion`.
    predicted : pandas.DataFrame
        As returned by :func:`predicted_metrics` or :func:`metrics_from_counts` (with the
        ``*_var`` columns), for the same classes.

    Returns
    -------
    pandas.DataFrame
        As :func:`overshoot`.
    """
    n_classes = len(predicted)
    if len(observed) != n_classes:
        raise ValueError(f"observed has {len(observed)} classes but predicted has {n_classes}")
    records = []
    for class_index in range(n_classes):
        for metric in METRICS:
            observed_value = float(observed.at[class_index, metric])
            predicted_value = float(predicted.at[class_index, metric])
            sigma = float(np.sqrt(predicted.at[class_index, f"{metric}_var"]))
            difference = observed_value - predicted_value
            with np.errstate(divide="ignore", invalid="ignore"):
                z = float(np.float64(difference) / np.float64(sigma))
            records.append(
                {
                    "class": class_index,
                    "metric": metric,
                    "observed": observed_value,
                    "predicted": predicted_value,
                    "sigma": sigma,
                    "overshoot": difference,
                    "z": z,
                }
            )
    return pd.DataFrame.from_records(records)


def bayes_classify(probs) -> np.ndarray:
    """Assign each example to its most probable class (the Bayes classifier).

    Parameters
    ----------
    probs : array_like of shape (n, C)

    Returns
    -------
    ndarray of shape (n,), int64
        ``argmax`` of each row; ties go to the lowest class index.

    Raises
    ------
    ValueError
        If ``probs`` is not a probability table.
    """
    return np.argmax(check_probabilities(probs), axis=1).astype(np.int64)


def stochastic_classify(probs, rng) -> np.ndarray:
    """Assign each example to a class drawn from its own probabilities (stochastic classifier).

    The classifier of Section 3.1 of Lake & Tsai (2022). One uniform number ``u`` is drawn
    per row, in row order, and the class is the first whose cumulative probability exceeds
    ``u`` times the row total (inverse-CDF sampling), so a class of probability 0 is never
    chosen and the result is exactly reproducible for a given seed.

    Parameters
    ----------
    probs : array_like of shape (n, C)
    rng : numpy.random.Generator or int
        Random generator, or a seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    ndarray of shape (n,), int64

    Raises
    ------
    ValueError
        If ``probs`` is not a probability table or ``rng`` is neither a Generator nor an int.
    """
    probs = check_probabilities(probs)
    if isinstance(rng, bool) or not isinstance(rng, np.random.Generator | int | np.integer):
        raise ValueError(f"rng must be a numpy.random.Generator or an integer seed, got {rng!r}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(int(rng))
    n_rows, n_classes = probs.shape
    uniforms = generator.random(n_rows)
    labels = np.empty(n_rows, dtype=np.int64)
    for start in range(0, n_rows, _CHUNK_ROWS):
        chunk = probs[start : start + _CHUNK_ROWS].astype(np.float64)
        cumulative = np.cumsum(chunk, axis=1)
        thresholds = uniforms[start : start + _CHUNK_ROWS] * cumulative[:, -1]
        chosen = np.count_nonzero(cumulative <= thresholds[:, None], axis=1)
        # u * total can round up to total; fall back to the last class with probability > 0.
        last_possible = n_classes - 1 - np.argmax(chunk[:, ::-1] > 0, axis=1)
        labels[start : start + _CHUNK_ROWS] = np.minimum(chosen, last_possible)
    return labels


def kl_divergence(p_true, p_model) -> np.ndarray:
    """Compute the Kullback-Leibler divergence of model probabilities from the true ones, per
    example.

    This is Eq. 21 of Lake & Tsai (2022),
    ``D_KL(P_true || P_model) = sum_i P_true(i|x) ln(P_true(i|x) / P_model(i|x))``, in nats.
    Terms with ``P_true = 0`` contribute 0; a class with ``P_model = 0`` but ``P_true > 0``
    makes the divergence ``inf``.

    Parameters
    ----------
    p_true : array_like of shape (n, C)
        True class probabilities.
    p_model : array_like of shape (n, C)
        Model class probabilities.

    Returns
    -------
    ndarray of shape (n,), float64
        Non-negative; zero exactly where the rows are equal.

    Raises
    ------
    ValueError
        If either table is not a probability table or their shapes differ.
    """
    p_true = check_probabilities(p_true, name="p_true")
    p_model = check_probabilities(p_model, name="p_model")
    if p_true.shape != p_model.shape:
        raise ValueError(f"p_true has shape {p_true.shape} but p_model has shape {p_model.shape}")
    divergence = rel_entr(p_true.astype(np.float64), p_model.astype(np.float64)).sum(axis=1)
    # Gibbs' inequality makes each sum >= 0; rounding can leave a tiny negative number.
    return np.maximum(divergence, 0.0)
