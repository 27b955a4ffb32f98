"""Nested training subsets of the size sweeps: a smaller training set inside a larger one.

:func:`nested_subset` draws class-stratified subsets (every class keeps its share, and at least
a few rows), :func:`nested_prefix` the plain random subsets of a shuffled draw (the paper's
Sect. 4.1 training sets); :data:`SUBSET_METHODS` names the two for the workflow's
``simulation.subsets`` setting.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SUBSET_METHODS", "nested_prefix", "nested_subset"]


def nested_subset(labels, size: int, seed: int, *, min_per_class: int = 3) -> np.ndarray:
    """Indices of a class-stratified random subset of ``size`` rows, nested across sizes.

    Every class keeps its share of the whole set, ``floor(size * n_c / n)``, but at least
    ``min_per_class`` examples (or all it has): a plain random subset of 10^3 rows of Table 4's
    data would miss the BL Lacs (0.02 %) most of the time, and neither a weighted fit
    (w = 1/P(i), Eq. 19) nor a cross-entropy can learn a class it never sees. The most abundant
    class takes the remainder. Within each class the rows are the first ones of one seeded
    permutation, and the per-class counts never decrease with ``size`` for the half-dex steps
    of the sweeps, so a smaller training set is contained in a larger one, as in the paper.

    Parameters
    ----------
    labels : array_like of shape (n,)
        Class of every row available for training.
    size : int
        Rows wanted; a size at or above ``n`` gives all rows.
    seed : int
    min_per_class : int, default 3

    Returns
    -------
    ndarray of int
        Sorted row indices.

    Raises
    ------
    ValueError
        If ``size`` is too small to hold ``min_per_class`` examples of every class.
    """
    labels = np.asarray(labels)
    n_rows = labels.size
    if size >= n_rows:
        return np.arange(n_rows)
    n_classes = int(labels.max()) + 1
    available = np.bincount(labels, minlength=n_classes)
    present = available > 0
    wanted = np.floor(size * available / n_rows).astype(np.int64)
    wanted = np.where(present, np.maximum(wanted, np.minimum(min_per_class, available)), 0)
    largest = int(np.argmax(available))
    others = wanted.sum() - wanted[largest]
    if others >= size:
        raise ValueError(
            f"a training set of {size} rows cannot hold {min_per_class} examples of each of "
            f"the {int(present.sum())} classes; use a larger size"
        )
    wanted[largest] = size - others
    # Near the full size the largest class can run out; hand its excess to the others.
    excess = max(0, int(wanted[largest] - available[largest]))
    wanted[largest] -= excess
    for cls in np.argsort(-available):
        room = int(available[cls] - wanted[cls])
        take = min(room, excess)
        wanted[cls] += take
        excess -= take
    rng = np.random.default_rng([seed, 7])
    chosen = []
    for cls in range(n_classes):
        rows = np.flatnonzero(labels == cls)
        chosen.append(rows[rng.permutation(rows.size)[: wanted[cls]]])
    return np.sort(np.concatenate(chosen))


def nested_prefix(n_rows: int, size: int) -> np.ndarray:
    """Indices of a plain random nested subset: the first ``size`` rows of a shuffled draw.

    The simulation's rows are shuffled when drawn (:func:`deweight.simulate.draw`), so its first
    ``size`` rows are a uniformly random subset, and a smaller one is contained in a larger one:
    the paper's training sets of Sect. 4.1, with no stratification. A rare class (2 % in Table
    2) then has a binomially scattered count, e.g. about 6 +- 2.5 rows of 316.

    Parameters
    ----------
    n_rows : int
        Rows available.
    size : int
        Rows wanted; a size at or above ``n_rows`` gives all rows.

    Returns
    -------
    ndarray of int
        ``0, 1, ..., min(size, n_rows) - 1``.

    Raises
    ------
    ValueError
        If ``size`` is not a positive integer.
    """
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return np.arange(min(int(size), int(n_rows)))


#: How :func:`~deweight.sweeps.training.train_sweep_member` draws its nested training
#: subsets (config: simulation.subsets; the real-data sweeps always stratify).
SUBSET_METHODS = ("stratified", "prefix")
