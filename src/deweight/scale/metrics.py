"""Predicted completeness, reliability and F1 (Eqs. 9-11 of Lake & Tsai 2022) by one map-reduce.

Each partition's expected counts (Eq. 9: 7 arrays of C numbers) are computed where the partition
is and added on the client in partition order; Eqs. 10-11 follow from the sums.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from deweight import metrics
from deweight.scale.partitions import map_reduce, partitions_of

__all__ = ["expected_counts", "predicted_metrics"]


def _partition_counts(values, extra, label, offset, assigned_column, to_indices, atol):
    """One partition's expected counts (on a worker); errors name the partition."""
    from deweight._validation import check_probabilities

    try:
        check_probabilities(values, atol=atol, row_offset=offset)
        raw = extra[assigned_column]
        assigned = raw if to_indices is None else to_indices(raw, assigned_column)
        return values.shape[0], metrics.expected_counts(values, assigned)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from error


def _summed(parts):
    n_rows = sum(rows for rows, _ in parts)
    counts = [counts for rows, counts in parts if rows]
    if not counts:
        raise ValueError("probs has no rows; there are no metrics to compute")
    total = counts[0]
    for more in counts[1:]:
        total = total + more
    return n_rows, total


def expected_counts(
    data,
    columns: Sequence[str],
    assigned_column: str,
    *,
    to_indices: Callable[[np.ndarray, str], np.ndarray] | None = None,
    atol: float = 1e-3,
    client=None,
    progress=None,
):
    """The number of rows and the expected counts (Eq. 9) of a partitioned catalogue.

    Parameters
    ----------
    data : path, PartitionedDataset, dask.dataframe.DataFrame or lsdb.Catalog
        As for :func:`deweight.scale.prediction_consistent_prior`.
    columns : sequence of str
        Probability columns, one per class.
    assigned_column : str
        Column of the class assigned to each row (indices ``0..C-1``, or anything
        ``to_indices`` turns into them).
    to_indices : callable, optional
        ``to_indices(values, column)`` -> int indices, run on the workers (must pickle).
    atol : float, default 1e-3
        Row-sum tolerance of the row check.
    client : distributed.Client, optional
    progress : deweight._progress.Progress, optional
        Counts partitions.

    Returns
    -------
    (int, deweight.metrics.ExpectedCounts)
    """
    parts = partitions_of(data, columns, [assigned_column])
    if progress is not None:
        progress.start("reading", len(parts.labels))
    result = map_reduce(
        parts,
        _partition_counts,
        assigned_column,
        to_indices,
        atol,
        client=client,
        combine=_summed,
        on_done=None if progress is None else lambda: progress.update(1),
        name="deweight-metrics",
    )
    if progress is not None:
        progress.finish()
    return result


def predicted_metrics(data, columns: Sequence[str], assigned_column: str, **options):
    """Predicted completeness, reliability and F1 with variances (Eqs. 9-11), by map-reduce.

    The distributed counterpart of :func:`deweight.metrics.predicted_metrics`; the options are
    those of :func:`expected_counts`.

    Returns
    -------
    pandas.DataFrame
        As :func:`deweight.metrics.metrics_from_counts`.
    """
    _, counts = expected_counts(data, columns, assigned_column, **options)
    return metrics.metrics_from_counts(counts)
