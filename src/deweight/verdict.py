"""Is a model biased by its training composition? PCP tables (Eq. 14) and a verdict per class.

:func:`pcp_table` tabulates the prediction-consistent priors of one probability table under
several assumed model priors; :func:`bias_verdict` applies the two tests of Sect. 2 of Lake &
Tsai (2022) class by class; :func:`clarke_pcp_table` is the Sect. 4.4 table of the Clarke et
al. (2020) catalogue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from deweight.priors import prediction_consistent_prior

__all__ = [
    "VERDICTS",
    "bias_verdict",
    "clarke_pcp_table",
    "pcp_table",
]

log = logging.getLogger(__name__)


def pcp_table(
    probs,
    assumed_priors: Mapping[str, Sequence[float]],
    *,
    class_names: Sequence[str],
    method: str,
    tol: float,
    max_iter: int,
    extra: Mapping | None = None,
    true_fractions=None,
    model_prior_name: str | None = None,
    solve=prediction_consistent_prior,
) -> pd.DataFrame:
    """Prediction-consistent priors (Eq. 14) of one probability table under several model priors.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or chunked source
        Model probabilities on an unlabelled set.
    assumed_priors : mapping of name -> prior
        The model priors P_M(i) to assume, e.g. ``{"flat": ..., "training": ...}``.
    class_names : sequence of str
    method, tol, max_iter
        Passed to :func:`deweight.priors.prediction_consistent_prior`.
    extra : mapping, optional
        Constant columns to add (e.g. task, model, data source).
    true_fractions : array_like of shape (C,), optional
        Known class fractions of the set, for comparison.
    model_prior_name : str, optional
        Which of ``assumed_priors`` the model really was trained with, when known. Eq. 14
        is only meaningful under that one; the others show what a wrong assumption does.
    solve : callable, default :func:`deweight.priors.prediction_consistent_prior`
        ``solve(probs, prior, method=, tol=, max_iter=)``; e.g. the distributed
        :func:`deweight.scale.prediction_consistent_prior` bound to its columns and client.

    Returns
    -------
    pandas.DataFrame
        One row per assumed prior and class: assumed_prior_name, class, class_name,
        assumed_prior, is_model_prior, mean_probability, pcp, stderr, on_boundary (a PCP
        within 10^-3 standard errors of zero, where the standard error is only indicative),
        true_fraction, iterations, converged, method. The solver's wall time goes to the log,
        not the table, so that a rerun writes the same bytes.
    """
    rows = []
    for name, prior in assumed_priors.items():
        result = solve(
            probs, np.asarray(prior, dtype=np.float64), method=method, tol=tol, max_iter=max_iter
        )
        log.info(
            "PCP under the %s prior: %s, %d iterations, %.3f s",
            name,
            result.method,
            result.iterations,
            result.seconds,
        )
        for cls, cls_name in enumerate(class_names):
            row = dict(extra or {})
            row.update(
                assumed_prior_name=name,
                **{"class": cls},
                class_name=cls_name,
                assumed_prior=float(result.model_prior[cls]),
                is_model_prior=(None if model_prior_name is None else name == model_prior_name),
                mean_probability=float(result.mean_probability[cls]),
                pcp=float(result.prior[cls]),
                stderr=float(result.stderr[cls]),
                on_boundary=bool(result.prior[cls] < 1e-3 * result.stderr[cls]),
                true_fraction=(
                    float(true_fractions[cls]) if true_fractions is not None else np.nan
                ),
                iterations=result.iterations,
                converged=bool(result.converged),
                method=result.method,
            )
            rows.append(row)
    return pd.DataFrame(rows)


VERDICTS = ("no significant bias", "prior mismatch", "probabilities inaccurate")


def bias_verdict(
    model_prior,
    pcp,
    pcp_stderr,
    max_abs_overshoot_z,
    *,
    z_threshold: float = 3.0,
    model_prior_variance=None,
) -> pd.DataFrame:
    """Say, class by class, whether a model's training composition has biased it.

    Two tests from Sect. 2 of Lake & Tsai (2022), both reported:

    1. the model's prior P_M(i) (Eq. 7) against the prediction-consistent prior of unlabelled
       data (Eq. 14): a difference of more than ``z_threshold`` standard errors is a
       **prior mismatch**, which Eq. 12 can correct;
    2. the overshoot of completeness, reliability and F1 on labelled data (Eqs. 9-11): an
       overshoot of more than ``z_threshold`` sigma with no prior mismatch means the
       **probabilities are inaccurate** in a way no prior replacement fixes. An infinite z
       (a predicted metric with zero variance that is missed) counts as significant.

    Otherwise: **no significant bias**.

    Parameters
    ----------
    model_prior, pcp, pcp_stderr : array_like of shape (C,)
    max_abs_overshoot_z : array_like of shape (C,)
        Largest |z| of the overshoot over the three metrics, per class.
    z_threshold : float
    model_prior_variance : array_like of shape (C,), optional
        Variance of the model prior itself when it is an estimate, e.g. the class fractions of
        a training set of N rows, P(1-P)/N; zero (a prior fixed by construction) if omitted.

    Returns
    -------
    pandas.DataFrame
        Columns class, model_prior, pcp, pcp_stderr, pcp_on_boundary, prior_difference_sigma,
        max_abs_overshoot_z, verdict, z_threshold. ``pcp_on_boundary`` marks a PCP within
        10^-3 standard errors of zero, where the normal approximation behind its standard
        error does not hold and the difference in sigma is only indicative.
    """
    model_prior = np.asarray(model_prior, dtype=np.float64)
    pcp = np.asarray(pcp, dtype=np.float64)
    stderr = np.asarray(pcp_stderr, dtype=np.float64)
    max_z = np.abs(np.asarray(max_abs_overshoot_z, dtype=np.float64))
    prior_variance = (
        np.zeros_like(model_prior)
        if model_prior_variance is None
        else np.asarray(model_prior_variance, dtype=np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = (model_prior - pcp) / np.sqrt(stderr**2 + prior_variance)
    verdicts = []
    for diff, z in zip(difference, max_z, strict=True):
        if not np.isnan(diff) and abs(diff) > z_threshold:
            verdicts.append(VERDICTS[1])
        elif not np.isnan(z) and z > z_threshold:
            verdicts.append(VERDICTS[2])
        else:
            verdicts.append(VERDICTS[0])
    return pd.DataFrame(
        {
            "class": np.arange(model_prior.size),
            "model_prior": model_prior,
            "pcp": pcp,
            "pcp_stderr": stderr,
            "pcp_on_boundary": pcp < 1e-3 * stderr,
            "prior_difference_sigma": difference,
            "max_abs_overshoot_z": max_z,
            "verdict": verdicts,
            "z_threshold": z_threshold,
        }
    )


def clarke_pcp_table(
    path,
    *,
    training_prior,
    method: str,
    tol: float,
    max_iter: int,
    columns,
    engine: str = "stream",
    scheduler: str | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Sect. 4.4: PCPs of the Clarke et al. (2020) catalogue, streamed from Parquet.

    Assumes (a) a flat model prior and (b) the training-set balance 72.9/15.0/12.1 % that the
    paper quotes. The paper found a mean of 41.8/53.5/4.6 %, PCPs of 44.6/55.0/0.4 % (flat) and
    37.6/61.0/1.3 % (training prior).

    ``engine="dask"`` runs each pass as a map-reduce over the file's row groups on a Dask cluster
    (:mod:`deweight.scale`): the scheduler at ``scheduler``, or a local cluster of ``workers``
    processes. The priors agree with the streamed ones to rounding.
    """
    priors = {"flat": np.full(3, 1 / 3), "training composition": np.asarray(training_prior)}
    options = {
        "class_names": ["galaxy", "star", "qso"],
        "method": method,
        "tol": tol,
        "max_iter": max_iter,
        "extra": {"task": "clarke2020", "model": "Clarke et al. (2020)"},
    }
    if engine == "stream":
        from deweight.io import open_catalog

        table = pcp_table(open_catalog(path, list(columns)), priors, **options)
    elif engine == "dask":
        from deweight.scale import dask_client, open_dataset
        from deweight.scale import prediction_consistent_prior as distributed_pcp

        with dask_client(scheduler, None if scheduler else (workers or 2)) as client:

            def solve(dataset, prior, **settings):
                return distributed_pcp(dataset, list(columns), prior, client=client, **settings)

            table = pcp_table(open_dataset(path), priors, solve=solve, **options)
    else:
        raise ValueError(f"engine must be 'stream' or 'dask', got {engine!r}")
    table.insert(0, "probabilities", "Clarke et al. (2020) catalogue")
    return table
