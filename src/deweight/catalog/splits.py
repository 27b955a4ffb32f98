"""Train / dev / test splits and the per-class tables of Lake & Tsai (2022), Tables 3 and 4."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["SPLIT_NAMES", "assign_splits", "class_split_table", "split_sizes"]

#: The split names, in the order of the ``fractions`` arguments.
SPLIT_NAMES: tuple[str, str, str] = ("train", "dev", "test")


def split_sizes(n_rows: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[int, int, int]:
    """Number of rows in train, dev and test for a group of ``n_rows``.

    The rounding reproduces both tables of Lake & Tsai (2022): the test set gets
    ``floor(f_test * n)`` rows, the dev set gets the nearest integer (halves rounded up) to
    ``f_dev / (f_train + f_dev)`` of the rest, and train gets what is left. For the 1,167,803
    sources of Table 3 this gives 934,243 / 116,780 / 116,780 (dev and test exactly equal),
    and applied per class to Table 4's class totals it gives every number in that table.

    Parameters
    ----------
    n_rows : int
        Size of the group.
    fractions : sequence of three floats, default (0.8, 0.1, 0.1)
        Nominal train, dev and test fractions; non-negative, summing to 1.

    Returns
    -------
    tuple of int
        ``(n_train, n_dev, n_test)``, summing to ``n_rows``.
    """
    train_fraction, dev_fraction, test_fraction = _check_fractions(fractions)
    n_rows = int(n_rows)
    # The 1e-9 keeps a product such as 0.1 * 30 = 3.0000000000000004 from changing the floor, and
    # one such as 0.7 * 10 = 6.999... from losing a row.
    n_test = min(n_rows, int(np.floor(test_fraction * n_rows + 1e-9)))
    rest = n_rows - n_test
    if train_fraction + dev_fraction > 0:
        n_dev = int(np.floor(dev_fraction / (train_fraction + dev_fraction) * rest + 0.5))
    else:
        n_dev, n_test = 0, n_rows
    n_dev = min(n_dev, n_rows - n_test)
    return n_rows - n_test - n_dev, n_dev, n_test


def assign_splits(
    n_rows: int,
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int,
    stratify_labels: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Randomly assign each row to "train", "dev" or "test", reproducibly.

    Without ``stratify_labels`` the split is a plain random split of all rows, as Section 3.3 of
    Lake & Tsai (2022) describes ("randomly divided ... 80%, 10%, 10%"); with them, each class is
    split separately, which Table 4's per-class counts show the paper did for the blazar task and
    which guarantees that a class of a few dozen members appears in dev and test. Group sizes are
    rounded by :func:`split_sizes`. The same ``n_rows``, ``fractions``, ``seed`` and labels give
    the same assignment on every platform (NumPy's PCG64 generator).

    Parameters
    ----------
    n_rows : int
        Number of rows to assign.
    fractions : sequence of three floats, default (0.8, 0.1, 0.1)
        Train, dev and test fractions.
    seed : int
        Seed of the random permutation.
    stratify_labels : array_like of shape (n_rows,), optional
        Class label of each row; if given, each class is split separately.

    Returns
    -------
    numpy.ndarray of str, shape (n_rows,)
        "train", "dev" or "test" for each row.

    Raises
    ------
    ValueError
        If ``fractions`` are invalid or ``stratify_labels`` does not have ``n_rows`` entries.
    """
    n_rows = int(n_rows)
    if n_rows < 0:
        raise ValueError(f"n_rows must be non-negative, got {n_rows}")
    _check_fractions(fractions)
    rng = np.random.default_rng(seed)
    if stratify_labels is None:
        groups = [np.arange(n_rows)]
    else:
        labels = np.asarray(stratify_labels)
        if labels.shape != (n_rows,):
            raise ValueError(f"stratify_labels has shape {labels.shape}, expected ({n_rows},)")
        # Sorted unique labels make the order in which groups draw from the generator fixed.
        groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    splits = np.empty(n_rows, dtype="<U5")
    for members in groups:
        n_train, n_dev, n_test = split_sizes(len(members), fractions)
        shuffled = rng.permutation(members)
        splits[shuffled[:n_test]] = "test"
        splits[shuffled[n_test : n_test + n_dev]] = "dev"
        splits[shuffled[n_test + n_dev :]] = "train"
    return splits


def class_split_table(
    labels: Sequence | np.ndarray, splits: Sequence | np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """Per-class counts in each split, laid out like Tables 3 and 4 of Lake & Tsai (2022).

    Parameters
    ----------
    labels : array_like of shape (n_rows,)
        Class of each row: an integer index into ``class_names`` or the class name itself.
    splits : array_like of shape (n_rows,)
        "train", "dev" or "test" for each row.
    class_names : sequence of str
        The classes, in table order.

    Returns
    -------
    pandas.DataFrame
        Columns ``class``, ``fraction`` (share of all rows), ``N_train``, ``N_dev``, ``N_test``;
        one row per class and a final ``total`` row whose entries are sums of the rows above it
        (not copied from anywhere: the paper's Table 4 total row repeats Table 3's by mistake).

    Raises
    ------
    ValueError
        If lengths differ, a label is not one of the classes or a split name is unknown.
    """
    labels = np.asarray(labels)
    splits = np.asarray(splits).astype(str)
    class_names = [str(name) for name in class_names]
    if labels.shape != splits.shape:
        raise ValueError(f"labels {labels.shape} and splits {splits.shape} differ in shape")
    unknown_splits = sorted(set(np.unique(splits)) - set(SPLIT_NAMES))
    if unknown_splits:
        raise ValueError(f"unknown split names {unknown_splits}; expected {SPLIT_NAMES}")
    if labels.size and np.issubdtype(labels.dtype, np.integer):
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise ValueError(f"integer labels must lie in [0, {len(class_names) - 1}]")
        names = np.asarray(class_names, dtype=object)[labels]
    else:
        names = labels.astype(str)
        unknown = sorted(set(np.unique(names)) - set(class_names))
        if unknown:
            raise ValueError(f"labels {unknown} are not among class_names {class_names}")
    n_total = labels.size
    rows = []
    for name in class_names:
        in_class = names == name
        counts = [int(np.sum(in_class & (splits == split))) for split in SPLIT_NAMES]
        fraction = float(in_class.sum() / n_total) if n_total else float("nan")
        rows.append([name, fraction, *counts])
    table = pd.DataFrame(rows, columns=["class", "fraction", "N_train", "N_dev", "N_test"])
    total = ["total", float(table["fraction"].sum())]
    total += [int(table[column].sum()) for column in ("N_train", "N_dev", "N_test")]
    table.loc[len(table)] = total
    return table


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1.0) > 1e-9:
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}"
        )
    return values  # type: ignore[return-value]
