"""The prediction-consistent prior (Eq. 14 of Lake & Tsai 2022) of a partitioned catalogue.

Every Newton, EM or SQUAREM pass is one map-reduce: each partition's
:func:`~deweight.priors.statistics.block_statistics` (C + C^2 + 2 numbers: log-likelihood,
gradient sums, Hessian sums, rows) is computed where the partition is, and the client adds them
in partition order (:func:`~deweight.priors.statistics.combine_statistics`). The sums drive
:func:`deweight.priors.solve_pcp`, the very solver core of the in-memory and streaming paths, so
the answers agree with theirs to rounding (and bit for bit with a stream over the same
partitions in the same order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deweight.priors import solve_pcp
from deweight.priors.statistics import _resolve_engine, block_statistics, combine_statistics
from deweight.scale.partitions import Partitions, map_reduce, partitions_of, persist_if_it_fits

__all__ = ["DistributedPasses", "prediction_consistent_prior"]


def _partition_statistics(values, extra, label, offset, ratio, engine, validate, atol):
    """One partition's pass statistics (on a worker); errors name the partition's file."""
    return block_statistics(
        values, ratio, engine=engine, validate=validate, atol=atol, row_offset=offset, where=label
    )


class DistributedPasses:
    """The pass function of :func:`deweight.priors.solve_pcp` over a cluster's partitions.

    Parameters
    ----------
    parts : Partitions
        The probability columns, partitioned.
    client : distributed.Client, optional
        Where to run; Dask's default scheduler without one.
    engine : {"numba", "numpy"}
        Kernel run on each partition.
    atol : float
        Row-sum tolerance of the validating (first) pass.
    persist : bool or "auto"
        Whether to keep the columns in the workers' memory after the first pass (see
        :func:`prediction_consistent_prior`).
    progress : deweight._progress.Progress, optional
        Shown per pass, counting partitions.
    """

    def __init__(self, parts: Partitions, *, client, engine: str, atol: float, persist, progress):
        self.parts = parts
        self.client = client
        self.engine = engine
        self.atol = atol
        self.persist = persist
        self.progress = progress
        self.passes = 0

    def __call__(self, ratio, *, validate: bool):
        self.passes += 1
        progress = self.progress
        if progress is not None:
            progress.start(f"pass {self.passes}", len(self.parts.labels))
        ratio = None if ratio is None else np.asarray(ratio, dtype=np.float64)
        if validate and self.parts.n_rows is not None:
            # The rows are counted from the footers: persist before the first pass, so that
            # it reads every partition once, for its sums and for the later passes alike.
            self.parts = persist_if_it_fits(
                self.parts, self.parts.n_rows, self.client, self.persist
            )
        statistics = map_reduce(
            self.parts,
            _partition_statistics,
            ratio,
            self.engine,
            validate,
            self.atol,
            client=self.client,
            combine=combine_statistics,
            on_done=None if progress is None else lambda: progress.update(1),
            name=f"deweight-pass-{self.passes}",
        )
        if progress is not None:
            progress.finish()
        if validate:
            self.parts = persist_if_it_fits(
                self.parts, statistics.n_rows, self.client, self.persist
            )
        return statistics


def prediction_consistent_prior(
    data,
    columns: Sequence[str],
    model_prior=None,
    *,
    method: str = "newton",
    tol: float = 1e-8,
    max_iter: int = 1000,
    start=None,
    engine: str = "auto",
    atol: float = 1e-3,
    client=None,
    persist="auto",
    progress=None,
):
    """The prediction-consistent prior of a partitioned catalogue, by map-reduce passes.

    Same solver, options and result as :func:`deweight.priors.prediction_consistent_prior`
    (Eq. 14 of Lake & Tsai 2022, standard errors from Eq. 16); only the passes differ: each is
    one map-reduce of per-partition sums, and no row travels to the client.

    Parameters
    ----------
    data : path, PartitionedDataset, dask.dataframe.DataFrame or lsdb.Catalog
        A HATS catalogue or a directory of Parquet files (one partition per file), or a Dask
        or LSDB collection.
    columns : sequence of str
        The probability columns ``P_M(i|x)``, one per class.
    model_prior, method, tol, max_iter, start, atol
        As for :func:`deweight.priors.prediction_consistent_prior`.
    engine : {"auto", "numba", "numpy"}, default "auto"
        Kernel run on each partition; "auto" is numba when installed.
    client : distributed.Client, optional
        The cluster to use; Dask's default (threaded) scheduler without one.
    persist : bool or "auto", default "auto"
        Keep the probability columns in the workers' memory, so that later passes do not
        reread them. "auto" persists when they fit: at most half the workers' memory limits
        together (a quarter of this machine's memory without a cluster), counting a transient
        copy; otherwise every pass rereads the partitions from disk. When the row count is
        known beforehand (Parquet footers, an LSDB catalogue's HATS metadata) the columns are
        persisted as the first pass reads them, so every partition is read once; otherwise
        (a Dask DataFrame) after the first pass has counted them. A partition lost with a
        worker is recomputed by Dask from the files either way.
    progress : deweight._progress.Progress, optional
        Shows each pass, counting partitions.

    Returns
    -------
    deweight.priors.PCPResult

    Raises
    ------
    ValueError
        If a row is not a probability vector (the message names the partition's file and the
        row within it), a column is missing, or an option is invalid.
    RuntimeError
        If the workers computing a partition died repeatedly (Dask's ``KilledWorker``), naming
        the partition; a prior is never computed from the partitions that remained.
    """
    parts = partitions_of(data, columns)
    passes = DistributedPasses(
        parts,
        client=client,
        engine=_resolve_engine(engine),
        atol=atol,
        persist=persist,
        progress=progress,
    )
    # Persisted partitions are released with ``passes`` when this function returns.
    return solve_pcp(
        passes,
        model_prior,
        method=method,
        tol=tol,
        max_iter=max_iter,
        start=start,
        progress=False,
        _stacklevel=3,
    )
