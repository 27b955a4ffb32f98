"""The Dask client of the command line: a running scheduler, or a local cluster of N workers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["dask_client"]


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator:
    """A ``distributed.Client`` for ``scheduler`` (an address) or a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler, e.g. ``tcp://host:8786`` (one
        started by dask-jobqueue on SLURM, or by ``dask scheduler``).
    workers : int, optional
        Start a ``LocalCluster`` of this many single-threaded worker processes instead. Each
        worker's numba kernels then use one thread too (``NUMBA_NUM_THREADS=1``, as Dask
        already sets for OpenMP and BLAS), so that N workers use N cores, not N times all of
        them. Workers of a running scheduler should be started the same way, e.g.
        ``NUMBA_NUM_THREADS=1 dask worker ADDRESS --nthreads 1 --nworkers CORES``.

    Yields
    ------
    distributed.Client or None
        None when neither is given (Dask's default threaded scheduler).
    """
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as error:  # pragma: no cover - the scale extra brings it
        raise ImportError(
            "--scheduler and --workers need the scale extra: pip install 'deweight[scale]'"
        ) from error
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=int(workers),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
