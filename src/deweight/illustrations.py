"""Analytic numbers behind the illustration figures (Figs. 1-3) of Lake & Tsai (2022).

Nothing here trains a model: every number is computed from known densities, so the figures show
what an ideal classifier would learn.

* :func:`two_gaussian_illustration` and :func:`bayes_boundary` -- Fig. 1: two overlapping
  Gaussian classes, unweighted and weighted to balance (Eqs. 1, 7, 8, 19).
* :func:`pcp_illustration` -- Fig. 2 panel (c): the weighted model applied to unweighted,
  unlabelled data, and the class abundance its probabilities imply (Eq. 13).
* :func:`simulation_slices` -- Fig. 3: two slices through the four-dimensional simulation of
  Section 3.2 (Tables 1 and 2), with the total density and the true class probabilities.

Each function returns a tidy :class:`pandas.DataFrame` that :mod:`deweight.figures` plots.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid
from scipy.optimize import brentq
from scipy.special import logsumexp
from scipy.stats import norm

from deweight import simulate
from deweight._validation import check_prior
from deweight.priors import weighted_prior

__all__ = [
    "FIGURE1_FRACTIONS",
    "FIGURE1_MEANS",
    "FIGURE1_SIGMAS",
    "bayes_boundary",
    "pcp_illustration",
    "simulation_slices",
    "two_gaussian_illustration",
]

#: Class fractions of the Fig. 1 and Fig. 2 illustration: class 0 is 90% of the sources.
FIGURE1_FRACTIONS = (0.9, 0.1)
#: Means of the two Gaussian classes of Figs. 1 and 2.
FIGURE1_MEANS = (0.0, 1.5)
#: Standard deviations of the two Gaussian classes of Figs. 1 and 2.
FIGURE1_SIGMAS = (1.0, 0.25)

# Half-width of the default x range, in standard deviations of the class that reaches furthest:
# beyond 4 sigma a Gaussian holds < 1e-4 of its mass, so integrals over the grid lose nothing
# that shows in a percentage.
_DEFAULT_HALF_WIDTH_SIGMAS = 4.0


def _check_two_gaussians(fractions, means, sigmas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the parameters of the two-class illustration and return them as arrays."""
    fractions = check_prior(fractions, name="fractions")
    if fractions.size != 2:
        raise ValueError(f"fractions must have two entries (two classes), got {fractions.size}")
    means = np.asarray(means, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    for name, values in (("means", means), ("sigmas", sigmas)):
        if values.shape != (2,):
            raise ValueError(
                f"{name} must have two entries (two classes), got shape {values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} must be finite, got {values.tolist()!r}")
    if np.any(sigmas <= 0):
        raise ValueError(f"sigmas must be strictly positive, got {sigmas.tolist()!r}")
    return fractions, means, sigmas


def _class_weights(fractions: np.ndarray, weights) -> np.ndarray:
    """Return the per-class training weights: ``1 / P(i)`` (Eq. 19) for "balanced"."""
    if isinstance(weights, str):
        if weights != "balanced":
            raise ValueError(f'weights must be "balanced" or one weight per class, got {weights!r}')
        return 1.0 / fractions
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != fractions.shape:
        raise ValueError(f"weights must have {fractions.size} entries, got shape {array.shape}")
    return array


def two_gaussian_illustration(
    n_points: int = 801,
    fractions: Sequence[float] = FIGURE1_FRACTIONS,
    means: Sequence[float] = FIGURE1_MEANS,
    sigmas: Sequence[float] = FIGURE1_SIGMAS,
    weights: str | Sequence[float] = "balanced",
    x_limits: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Tabulate the class densities and probabilities of Fig. 1 of Lake & Tsai (2022).

    Two classes with Gaussian feature densities ``L(x|i) = N(x | mu_i, sigma_i)`` make up
    fractions ``P(i)`` of the data. Unweighted, the density of class ``i`` is
    ``L(i, x) = P(i) L(x|i)`` and its probability is Eq. 1, ``P(i|x) = L(i, x) / sum_j L(j, x)``.
    Weighting the training examples of class ``i`` by ``w_i`` replaces the prior by
    ``P_w(i) = w_i P(i) / sum_j w_j P(j)`` (Eq. 7), giving ``L_w(i, x) = P_w(i) L(x|i)`` and
    the weighted probabilities of Eq. 8.

    Parameters
    ----------
    n_points : int, default 801
        Number of evenly spaced x values (at least 2).
    fractions : sequence of 2 floats, default (0.9, 0.1)
        Class prior ``P(i)``; must sum to one.
    means, sigmas : sequence of 2 floats, default (0, 1.5) and (1, 0.25)
        Mean and standard deviation of each class's Gaussian.
    weights : "balanced" or sequence of 2 floats, default "balanced"
        Training weight of each class; "balanced" is ``w_i = 1 / P(i)`` (Eq. 19), which makes
        the weighted classes equally abundant. Only ratios matter.
    x_limits : (float, float), optional
        Range of x. Default: 4 standard deviations beyond the outermost class on each side.

    Returns
    -------
    pandas.DataFrame
        One row per x value with columns ``x``, ``L0``, ``L1`` (``L(i, x)``), ``L0_weighted``,
        ``L1_weighted`` (``L_w(i, x)``), ``P0``, ``P1`` (Eq. 1) and ``P0_weighted``,
        ``P1_weighted`` (Eq. 8). Densities are per unit x.

    Raises
    ------
    ValueError
        If the class parameters are not two finite values each, a sigma is not positive, the
        fractions are not a probability vector or ``n_points < 2``.
    """
    fractions, means, sigmas = _check_two_gaussians(fractions, means, sigmas)
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    prior_weighted = weighted_prior(fractions, _class_weights(fractions, weights))
    if x_limits is None:
        x_limits = (
            float(np.min(means - _DEFAULT_HALF_WIDTH_SIGMAS * sigmas)),
            float(np.max(means + _DEFAULT_HALF_WIDTH_SIGMAS * sigmas)),
        )
    x = np.linspace(x_limits[0], x_limits[1], int(n_points))
    pdfs = norm.pdf(x[:, None], loc=means[None, :], scale=sigmas[None, :])
    densities = pdfs * fractions
    densities_weighted = pdfs * prior_weighted
    probabilities = densities / densities.sum(axis=1, keepdims=True)
    probabilities_weighted = densities_weighted / densities_weighted.sum(axis=1, keepdims=True)
    columns = {"x": x}
    for label, table in (
        ("L{}", densities),
        ("L{}_weighted", densities_weighted),
        ("P{}", probabilities),
        ("P{}_weighted", probabilities_weighted),
    ):
        for i in range(2):
            columns[label.format(i)] = table[:, i]
    return pd.DataFrame(columns)


def _crossover_between_means(prior: np.ndarray, means: np.ndarray, sigmas: np.ndarray) -> float:
    """Return where ``P(0) N(x|0) = P(1) N(x|1)`` between the two means, or NaN if nowhere."""

    def log_ratio(x: float) -> float:
        return float(
            np.log(prior[0])
            + norm.logpdf(x, means[0], sigmas[0])
            - np.log(prior[1])
            - norm.logpdf(x, means[1], sigmas[1])
        )

    low, high = float(np.min(means)), float(np.max(means))
    at_low, at_high = log_ratio(low), log_ratio(high)
    if at_low == 0.0:
        return low
    if at_high == 0.0:
        return high
    if np.sign(at_low) == np.sign(at_high):
        # One class dominates all the way from one mean to the other: no boundary between them.
        return float("nan")
    return float(brentq(log_ratio, low, high, xtol=1e-12, rtol=1e-12))


def bayes_boundary(
    fractions: Sequence[float] = FIGURE1_FRACTIONS,
    means: Sequence[float] = FIGURE1_MEANS,
    sigmas: Sequence[float] = FIGURE1_SIGMAS,
    weights: str | Sequence[float] = "balanced",
) -> dict[str, float]:
    """Find the Bayes-classifier decision boundary of Fig. 1, unweighted and weighted.

    The boundary is where the class probabilities cross, ``P(0|x) = P(1|x)``, i.e.
    ``P(0) N(x|mu_0, sigma_0) = P(1) N(x|mu_1, sigma_1)`` (Eq. 1), and for the weighted model
    the same with the weighted prior ``P_w(i)`` of Eq. 7 (Eq. 8). With unequal sigmas the two
    densities cross twice; the boundary returned is the crossing between the two means, the one
    Fig. 1 of Lake & Tsai (2022) points at. Up-weighting the rare class moves it toward the
    common class.

    Parameters
    ----------
    fractions, means, sigmas, weights
        As for :func:`two_gaussian_illustration`.

    Returns
    -------
    dict
        ``{"unweighted": x_b, "weighted": x_bw}``. A value is NaN when the same class is more
        probable at both means, so that no boundary lies between them.

    Raises
    ------
    ValueError
        If the parameters are invalid (see :func:`two_gaussian_illustration`).
    """
    fractions, means, sigmas = _check_two_gaussians(fractions, means, sigmas)
    prior_weighted = weighted_prior(fractions, _class_weights(fractions, weights))
    return {
        "unweighted": _crossover_between_means(fractions, means, sigmas),
        "weighted": _crossover_between_means(prior_weighted, means, sigmas),
    }


def pcp_illustration(
    n_points: int = 801,
    fractions: Sequence[float] = FIGURE1_FRACTIONS,
    means: Sequence[float] = FIGURE1_MEANS,
    sigmas: Sequence[float] = FIGURE1_SIGMAS,
    weights: str | Sequence[float] = "balanced",
    x_limits: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tabulate Fig. 2 of Lake & Tsai (2022): a weighted model applied to unweighted data.

    A model trained on weighted data returns ``P_w(i|x)`` (Eq. 8). Applied to unlabelled data
    drawn from the unweighted density ``L(x) = sum_j L(j, x)``, it assigns class ``i`` the
    "apparent" density ``P_w(i|x) L(x)``. Integrating gives the abundance its probabilities
    imply, Eq. 13: ``E_x[P_w(i|x)] = integral P_w(i|x) L(x) dx``, the mean model probability
    over the unlabelled sources. That it differs from the model's prior ``P_w(i)`` (and from the
    true ``P(i)``) is the signal that the model's prior is wrong for the data (Section 2.3).

    Parameters
    ----------
    n_points, fractions, means, sigmas, weights, x_limits
        As for :func:`two_gaussian_illustration`.

    Returns
    -------
    curves : pandas.DataFrame
        The columns of :func:`two_gaussian_illustration` plus ``L_total`` (``L(x)``) and
        ``L0_apparent``, ``L1_apparent`` (``P_w(i|x) L(x)``).
    summary : pandas.DataFrame
        One row per class: ``class``, ``true_fraction`` (``P(i)``), ``model_prior``
        (``P_w(i)``, Eq. 7) and ``implied_fraction`` (Eq. 13, integrated with the trapezoid
        rule over the x grid and divided by the integral of ``L(x)`` so that truncating the
        range does not bias it).

    Raises
    ------
    ValueError
        If the parameters are invalid (see :func:`two_gaussian_illustration`).
    """
    curves = two_gaussian_illustration(n_points, fractions, means, sigmas, weights, x_limits)
    fractions, _, _ = _check_two_gaussians(fractions, means, sigmas)
    prior_weighted = weighted_prior(fractions, _class_weights(fractions, weights))
    x = curves["x"].to_numpy()
    total = (curves["L0"] + curves["L1"]).to_numpy()
    curves["L_total"] = total
    implied = []
    for i in range(2):
        apparent = curves[f"P{i}_weighted"].to_numpy() * total
        curves[f"L{i}_apparent"] = apparent
        implied.append(trapezoid(apparent, x))
    implied = np.asarray(implied) / trapezoid(total, x)
    summary = pd.DataFrame(
        {
            "class": np.arange(2),
            "true_fraction": fractions,
            "model_prior": prior_weighted,
            "implied_fraction": implied,
        }
    )
    return curves, summary


def simulation_slices(
    grid_points: int = 201,
    extent: float = 4.0,
    prior: Sequence[float] = simulate.CLASS_FRACTIONS,
) -> pd.DataFrame:
    """Tabulate two slices through the simulated feature space, Fig. 3 of Lake & Tsai (2022).

    The slices are the (x0, x2) plane with x1 = x3 = 0 and the (x0, x1) plane with
    x2 = x3 = 0. At each grid point the total density ``sum_i P(i) L(x|i)`` and the true class
    probabilities ``P(i|x)`` (Eq. 2) are computed from the class Gaussians of Table 1 and the
    prior of Table 2, via :mod:`deweight.simulate`.

    Parameters
    ----------
    grid_points : int, default 201
        Grid points along each axis of a slice (at least 2).
    extent : float, default 4.0
        Each axis runs from ``-extent`` to ``+extent`` (feature units).
    prior : sequence of 3 floats, default simulate.CLASS_FRACTIONS
        Class prior ``P(i)``.

    Returns
    -------
    pandas.DataFrame
        One row per grid point of each slice, columns: ``slice`` ("x0-x2" or "x0-x1"),
        ``horizontal_feature`` and ``vertical_feature`` (feature names, e.g. "x0" and "x2"),
        ``horizontal`` and ``vertical`` (the coordinates), ``log10_density`` (log10 of the
        four-dimensional probability density, per unit feature volume) and ``P0``, ``P1``,
        ``P2`` (true class probabilities; each row sums to one).

    Raises
    ------
    ValueError
        If ``grid_points < 2``, ``extent`` is not positive and finite, or ``prior`` is not a
        probability vector over three classes.
    """
    if int(grid_points) != grid_points or grid_points < 2:
        raise ValueError(f"grid_points must be an integer >= 2, got {grid_points!r}")
    if not (np.isfinite(extent) and extent > 0):
        raise ValueError(f"extent must be positive and finite, got {extent!r}")
    prior = check_prior(prior, simulate.N_CLASSES, allow_zero=True)
    axis = np.linspace(-extent, extent, int(grid_points))
    # Vertical is the slow index so that each slice is stored row by row of its image.
    vertical, horizontal = np.meshgrid(axis, axis, indexing="ij")
    horizontal, vertical = horizontal.ravel(), vertical.ravel()
    tables = []
    for horizontal_index, vertical_index in ((0, 2), (0, 1)):
        points = np.zeros((horizontal.size, simulate.N_FEATURES))
        points[:, horizontal_index] = horizontal
        points[:, vertical_index] = vertical
        with np.errstate(divide="ignore"):  # a zero prior is a legitimate -inf log prior
            log_joint = simulate.class_log_likelihood(points) + np.log(prior)
        log10_density = logsumexp(log_joint, axis=1) / np.log(10.0)
        posterior = simulate.true_posterior(points, prior)
        table = pd.DataFrame(
            {
                "slice": f"x{horizontal_index}-x{vertical_index}",
                "horizontal_feature": f"x{horizontal_index}",
                "vertical_feature": f"x{vertical_index}",
                "horizontal": horizontal,
                "vertical": vertical,
                "log10_density": log10_density,
            }
        )
        for i in range(simulate.N_CLASSES):
            table[f"P{i}"] = posterior[:, i]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
