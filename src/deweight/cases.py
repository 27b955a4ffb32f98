"""The cases of Sect. 4 of Lake & Tsai (2022): which model, which prior, and their evaluation.

A *case* is one set of test-set probabilities the paper plots: a trained model (``base``,
``weighted`` with w_i = 1/P(i) of Eq. 19, ``biased``, and beyond the paper ``calibrated``) or a
post-hoc correction of one by Eq. 12 (``dewatered``/``deweighted``, ``debiased``). Which
trained model each case comes from (:data:`TRAINED_FROM`) and which prior its probabilities
carry (:func:`case_prior`) is decided here and nowhere else; the evaluation of the cases
(overshoot, Eqs. 9-11; KL divergence, Eq. 21) sits beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from deweight.metrics import kl_divergence, overshoot, stochastic_classify
from deweight.predictions import Predictions
from deweight.priors import effective_prior, replace_prior

__all__ = [
    "REAL_CASES",
    "SIMULATION_CASES",
    "TRAINED_FROM",
    "case_prior",
    "corrected_cases",
    "inverse_prior_weights",
    "kl_by_class",
    "overshoot_by_case",
]


#: The five cases of Figs. 6-7: three trained models and two post-hoc corrections (Eq. 12).
SIMULATION_CASES = ("base", "weighted", "dewatered", "biased", "debiased")
#: The cases of Figs. 8-9: the paper's three and, beyond the paper, "calibrated" (BCTS fitted
#: out of fold).
REAL_CASES = ("base", "weighted", "deweighted", "calibrated")
#: The trained model whose probabilities each case starts from. "dewatered" (Sect. 4.1, Figs.
#: 6-7) and "deweighted" (Figs. 8-9) are the paper's two words for one operation.
TRAINED_FROM = {
    "base": "base",
    "weighted": "weighted",
    "dewatered": "weighted",
    "deweighted": "weighted",
    "biased": "biased",
    "debiased": "biased",
    "calibrated": "calibrated",
}
#: The cases Eq. 12 makes from a trained model, in the order they are added.
_CORRECTED = ("dewatered", "deweighted", "debiased", "calibrated")


def inverse_prior_weights(labels, n_classes: int) -> np.ndarray:
    """Per-example training weights w_i = 1/P(i), Eq. 19 of Lake & Tsai (2022).

    ``P(i)`` is the class fraction of the training set itself (Eq. 3), as in Clarke et al.
    (2020), so the weighted set mimics one with equal contributions from every class.

    Parameters
    ----------
    labels : array_like of shape (N,)
        Class index of each training example.
    n_classes : int
        Number of classes.

    Returns
    -------
    ndarray of shape (N,)
        The weight of each example.

    Raises
    ------
    ValueError
        If a class has no training example (its weight would be infinite).
    """
    labels = np.asarray(labels)
    fractions = effective_prior(labels, n_classes=n_classes)
    empty = np.flatnonzero(fractions == 0)
    if empty.size:
        raise ValueError(
            f"class {int(empty[0])} has no training example, so its weight 1/P(i) is infinite; "
            "use a larger training set"
        )
    return 1.0 / fractions[labels]


def case_prior(case: str, trained: Predictions, *, debias_prior=None, target_prior=None):
    """The class prior that the probabilities of ``case`` carry (Eq. 7, or Eq. 12's new one).

    * ``base``, ``weighted``, ``biased``: the Eq. 7 prior of the training set the model saw
      (its ``model_prior``; flat for the weighted model, by Eq. 19).
    * ``dewatered``/``deweighted``: the weighted model's prior replaced by the unweighted class
      fractions of the same training set (Eq. 3) -- the prior a user of weighted training
      knows -- or by ``target_prior``.
    * ``debiased``: the biased model's (equal-composition) prior replaced by ``debias_prior``,
      the representative prior (the simulation's 60/38/2).
    * ``calibrated`` (beyond the paper): a weighted model recalibrated (BCTS,
      :class:`deweight.Calibrator`) on labelled rows carries their balance
      (``Calibrator.prior_``, stored as its ``model_prior``): the balance of its training set
      when cross-fitted (:func:`deweight.calibration.cross_fitted_calibrator`), of the dev
      split when calibrated on a held-back split. Eq. 12 replaces it by its training set's
      class fractions, so that it answers the same question as ``base`` and ``deweighted``.

    Parameters
    ----------
    case : str
        One of :data:`TRAINED_FROM`.
    trained : Predictions
        The predictions of the model ``TRAINED_FROM[case]``.
    debias_prior : array_like of shape (C,), optional
        Required for ``debiased``.
    target_prior : array_like of shape (C,), optional
        Overrides the training fractions for ``dewatered``/``deweighted``.

    Returns
    -------
    array_like of shape (C,)
    """
    if case not in TRAINED_FROM:
        raise ValueError(f"unknown case {case!r}; expected one of {list(TRAINED_FROM)}")
    if case in ("dewatered", "deweighted"):
        return trained.metadata["training_fractions"] if target_prior is None else target_prior
    if case == "debiased":
        if debias_prior is None:
            raise ValueError("debias_prior is needed to correct the biased model")
        return debias_prior
    if case == "calibrated":
        return trained.metadata["training_fractions"]
    return trained.metadata["model_prior"]


def corrected_cases(
    predictions: Mapping[str, Predictions],
    *,
    target_prior=None,
    debias_prior=None,
    weighted_correction: str = "deweighted",
) -> dict[str, np.ndarray]:
    """Add the post-hoc corrections of Eq. 12 to the trained models' probabilities.

    Each corrected case (``dewatered``/``deweighted``, ``debiased``, ``calibrated``) is its
    trained model's probabilities with the model's prior (Eq. 7, its ``model_prior``) replaced
    by the prior :func:`case_prior` gives it.

    Parameters
    ----------
    predictions : mapping of variant -> Predictions
        Any of ``base``, ``weighted``, ``biased``, ``calibrated``.
    target_prior : array_like of shape (C,), optional
        Overrides the training fractions as the new prior for the weighted model.
    debias_prior : array_like of shape (C,), optional
        New prior for the biased model; required when ``biased`` is present.
    weighted_correction : str, default "deweighted"
        Name of the corrected weighted model: the paper says "dewatered" in Sect. 4.1 (Figs.
        6-7) and "deweighted" for the real data (Figs. 8-9).

    Returns
    -------
    dict of case -> ndarray of shape (n, C)
        The trained cases unchanged plus the corrected ones.
    """
    if weighted_correction not in ("dewatered", "deweighted"):
        raise ValueError(
            f"weighted_correction must be 'dewatered' or 'deweighted', got {weighted_correction!r}"
        )
    cases = {variant: p.probs for variant, p in predictions.items()}
    for case in _CORRECTED:
        if case in ("dewatered", "deweighted") and case != weighted_correction:
            continue
        trained = predictions.get(TRAINED_FROM[case])
        if trained is None:
            continue
        cases[case] = replace_prior(
            trained.probs,
            trained.metadata["model_prior"],
            case_prior(case, trained, debias_prior=debias_prior, target_prior=target_prior),
        )
    return cases


def _case_seed(seed: int, size: int, case: str) -> np.random.Generator:
    """An independent, reproducible generator for the stochastic classifier of one case."""
    return np.random.default_rng([seed, size, sum(ord(ch) * 31**k for k, ch in enumerate(case))])


def overshoot_by_case(
    cases: Mapping[str, np.ndarray], labels, *, size: int, seed: int
) -> pd.DataFrame:
    """Observed minus predicted completeness, reliability and F1 for each case (Eqs. 9-11).

    Classes are assigned with the stochastic classifier of Sect. 3.1, seeded per case and size.

    Returns
    -------
    pandas.DataFrame
        Long table: case, size, class, metric, observed, predicted, sigma, overshoot, z.
    """
    frames = []
    for case, probs in cases.items():
        assigned = stochastic_classify(probs, _case_seed(seed, size, case))
        table = overshoot(labels, probs, assigned)
        table.insert(0, "size", size)
        table.insert(0, "case", case)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def kl_by_class(cases: Mapping[str, np.ndarray], true_probs, labels, *, size: int) -> pd.DataFrame:
    """Mean KL divergence of each case from the true posterior, per true class (Eq. 21, Fig. 7).

    Returns
    -------
    pandas.DataFrame
        Columns case, size, class, mean_kl (nats), sem_kl (standard error of the mean), n.
    """
    labels = np.asarray(labels)
    rows = []
    for case, probs in cases.items():
        divergence = kl_divergence(true_probs, probs)
        for cls in range(true_probs.shape[1]):
            values = divergence[labels == cls]
            n = values.size
            rows.append(
                {
                    "case": case,
                    "size": size,
                    "class": cls,
                    "mean_kl": float(values.mean()) if n else np.nan,
                    "sem_kl": float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                    "n": n,
                }
            )
    return pd.DataFrame(rows)
