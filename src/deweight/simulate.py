"""The simulated three-class data set of Section 3.2 of Lake & Tsai (2022).

Each class is an axis-aligned Gaussian in four features (Table 1); only the first three features
carry information, the fourth is distributed identically for every class. Because the class
densities are known, the true class probabilities ``P(i|x)`` that a classifier should learn
can be computed exactly (Eq. 2), which is what makes the simulation a sensitive test of
training-set composition bias.

Data sets (Table 2) are drawn with class counts that are multinomial around the nominal class
fractions -- "randomly generated parts of a non-random total" -- and with shuffled rows, so
that the first ``k`` rows of a training set are a random subset of it and the training sets of
a size sweep are nested.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from deweight._validation import check_prior

__all__ = [
    "CLASS_FRACTIONS",
    "CLASS_MEANS",
    "CLASS_SIGMAS",
    "DEFAULT_SEED",
    "N_CLASSES",
    "N_FEATURES",
    "class_log_likelihood",
    "draw",
    "draw_datasets",
    "table1",
    "table2",
    "true_posterior",
]


def _read_only(array: np.ndarray) -> np.ndarray:
    """Return ``array`` flagged read-only so that a module constant cannot be edited in place."""
    array.setflags(write=False)
    return array


#: Mean of each class (row) along each feature (column); Table 1 of Lake & Tsai (2022).
CLASS_MEANS = _read_only(
    np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [1.0, 0.5, 0.0, 0.0],
            [-0.75, -0.5, 0.0, 0.0],
        ]
    )
)

#: Standard deviation of each class (row) along each feature (column); Table 1.
CLASS_SIGMAS = _read_only(
    np.array(
        [
            [1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 2.0, 1.0],
        ]
    )
)

#: Nominal fraction of each class in the representative ("train" and "test") sets; Table 2.
CLASS_FRACTIONS = (0.6, 0.38, 0.02)

N_CLASSES, N_FEATURES = CLASS_MEANS.shape

#: Seed of :func:`draw_datasets`; the date of the paper's Figshare deposit (2022-06-20).
DEFAULT_SEED = 20220620

_EQUAL_FRACTIONS = (1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0)
_DATASET_NAMES = ("train", "biased", "test")


def table1() -> pd.DataFrame:
    """Return Table 1 of Lake & Tsai (2022): the Gaussian parameters of each class.

    Returns
    -------
    pandas.DataFrame
        One row per class (index ``class``), columns ``mu_0 .. mu_3`` (means) followed by
        ``sigma_0 .. sigma_3`` (standard deviations), in feature units.
    """
    columns = {f"mu_{k}": CLASS_MEANS[:, k] for k in range(N_FEATURES)}
    columns.update({f"sigma_{k}": CLASS_SIGMAS[:, k] for k in range(N_FEATURES)})
    return pd.DataFrame(columns, index=pd.RangeIndex(N_CLASSES, name="class"))


def _check_features(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n, N_FEATURES) with finite entries."""
    array = np.asarray(x, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != N_FEATURES:
        raise ValueError(
            f"{name} must have shape (n, {N_FEATURES}) (one column per simulated feature), "
            f"got {array.shape}"
        )
    bad_rows, bad_columns = np.nonzero(~np.isfinite(array))
    if bad_rows.size:
        row, column = int(bad_rows[0]), int(bad_columns[0])
        raise ValueError(f"{name}[{row}, {column}] is {array[row, column]!r}; must be finite")
    return array


def class_log_likelihood(x) -> np.ndarray:
    """Compute the log probability density ``ln L(x|i)`` of each simulated class at each point.

    The class densities are the axis-aligned Gaussians of Table 1, so the log density is a sum
    over features of one-dimensional normal log densities.

    Parameters
    ----------
    x : array_like of shape (n, 4)
        Feature vectors.

    Returns
    -------
    ndarray of shape (n, 3), float64
        ``ln L(x_n|i)`` in nats per unit feature volume, column ``i`` for class ``i``.

    Raises
    ------
    ValueError
        If ``x`` does not have 4 columns or contains a non-finite value (the message names it).
    """
    x = _check_features(x)
    standardized = (x[:, None, :] - CLASS_MEANS[None, :, :]) / CLASS_SIGMAS[None, :, :]
    normalization = np.log(CLASS_SIGMAS).sum(axis=1) + 0.5 * N_FEATURES * np.log(2.0 * np.pi)
    return -0.5 * np.einsum("nik,nik->ni", standardized, standardized) - normalization


def true_posterior(x, prior=CLASS_FRACTIONS) -> np.ndarray:
    """Compute the exact class probabilities ``P(i|x)`` of the simulation, Eq. 2 of Lake & Tsai (2022).

    ``P(i|x) = P(i) L(x|i) / sum_j P(j) L(x|j)`` with the analytic Gaussian likelihoods of
    :func:`class_log_likelihood`. The sum is done with log-sum-exp, so points far out in the
    wings (where every likelihood underflows) still get correct probabilities. Passing a
    weighted prior (Eq. 7) gives the weighted posterior ``P_w(i|x)`` of Eq. 8.

    Parameters
    ----------
    x : array_like of shape (n, 4)
        Feature vectors.
    prior : array_like of shape (3,), default CLASS_FRACTIONS
        Class prior ``P(i)``; entries may be zero but must sum to one.

    Returns
    -------
    ndarray of shape (n, 3), float64
        Rows sum to one.

    Raises
    ------
    ValueError
        If ``x`` is malformed (see :func:`class_log_likelihood`) or ``prior`` is not a
        probability vector over the three classes.
    """
    prior = check_prior(prior, N_CLASSES, allow_zero=True)
    with np.errstate(divide="ignore"):  # a zero prior is a legitimate -inf log prior
        log_joint = class_log_likelihood(x) + np.log(prior)
    return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))


def draw(n: int, fractions, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a simulated data set of ``n`` labelled points.

    The class counts are one multinomial draw around the nominal ``fractions`` (so the total is
    exactly ``n`` but the per-class counts scatter, as in Table 2), each class's points are drawn
    from its Gaussian (Table 1), and the rows are then shuffled. Because of the shuffle the
    first ``k`` rows are a uniformly random subset of size ``k``: the training sets of a size
    sweep can be taken as nested prefixes of one draw.

    Parameters
    ----------
    n : int
        Number of points, ``n >= 0``.
    fractions : array_like of shape (3,)
        Nominal class fractions; must sum to one.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (n, 4), float64
        Features.
    y : ndarray of shape (n,), int64
        Class labels in ``{0, 1, 2}``.

    Raises
    ------
    ValueError
        If ``n`` is negative or not an integer, or ``fractions`` is not a probability vector.
    """
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    fractions = check_prior(fractions, N_CLASSES, name="fractions", allow_zero=True)
    counts = rng.multinomial(int(n), fractions)
    y = np.repeat(np.arange(N_CLASSES, dtype=np.int64), counts)
    X = rng.normal(CLASS_MEANS[y], CLASS_SIGMAS[y])
    order = rng.permutation(int(n))
    return X[order], y[order]


def draw_datasets(
    seed: int = DEFAULT_SEED,
    n_train: int = 10**6,
    n_biased: int = 10**6,
    n_test: int = 20_000,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draw the three simulated data sets of Table 2 of Lake & Tsai (2022).

    Each set has its own NumPy generator spawned from ``np.random.SeedSequence(seed)``, so the
    sets are independent and each is reproducible on its own: changing ``n_test`` does not
    change the training set.

    Parameters
    ----------
    seed : int, default DEFAULT_SEED
        Root seed.
    n_train, n_biased, n_test : int
        Sizes of the representative training set, the equal-composition ("biased") training
        set and the representative test set.

    Returns
    -------
    dict
        ``{"train": (X, y), "biased": (X, y), "test": (X, y)}`` as returned by :func:`draw`;
        "train" and "test" have nominal fractions :data:`CLASS_FRACTIONS`, "biased" one third
        per class.
    """
    generators = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    sizes = (n_train, n_biased, n_test)
    fractions = (CLASS_FRACTIONS, _EQUAL_FRACTIONS, CLASS_FRACTIONS)
    return {
        name: draw(size, fraction, rng)
        for name, size, fraction, rng in zip(
            _DATASET_NAMES, sizes, fractions, generators, strict=True
        )
    }


def table2(datasets: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Tabulate the class composition of the simulated data sets, as Table 2 of Lake & Tsai (2022).

    Parameters
    ----------
    datasets : mapping
        Must hold "train", "biased" and "test", each ``(X, y)`` as from :func:`draw_datasets`.

    Returns
    -------
    pandas.DataFrame
        Columns ``class`` ("0", "1", "2", "all"), ``fraction`` (nominal fraction in the
        representative sets), ``N_train``, ``N_biased``, ``N_test``. The "all" row is the sum
        of the class rows.

    Raises
    ------
    ValueError
        If a data set is missing or its labels are not in ``{0, 1, 2}``.
    """
    counts = {}
    for name in _DATASET_NAMES:
        if name not in datasets:
            raise ValueError(f"datasets has no {name!r} entry; need {list(_DATASET_NAMES)}")
        labels = np.asarray(datasets[name][1])
        outside = np.flatnonzero((labels < 0) | (labels >= N_CLASSES) | (labels != labels // 1))
        if outside.size:
            index = int(outside[0])
            raise ValueError(f"datasets[{name!r}] label {index} is {labels[index]!r}, not 0-2")
        counts[f"N_{name}"] = np.bincount(labels.astype(np.int64), minlength=N_CLASSES)
    rows = pd.DataFrame(
        {"class": [str(i) for i in range(N_CLASSES)], "fraction": CLASS_FRACTIONS, **counts}
    )
    # The "all" row is summed from the class rows (not taken from the nominal sizes), so the
    # table checks itself: its totals are the data set sizes only if every row was counted.
    total = {"class": "all", "fraction": float(np.sum(CLASS_FRACTIONS))}
    total.update({column: int(rows[column].sum()) for column in counts})
    return pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
