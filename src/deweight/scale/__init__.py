"""deweight beyond one machine: PCP, prior replacement and predicted metrics on Dask and LSDB.

Needs the optional extra ``pip install 'deweight[scale]'`` (``dask[distributed]`` and ``lsdb``);
the rest of deweight never imports this package.

* :mod:`deweight.scale.dataset` -- a HATS catalogue or a directory of Parquet files as partition
  files, each read with errors that name it.
* :mod:`deweight.scale.partitions` -- any supported input as a Dask DataFrame with a label per
  partition, and the one map-reduce (small per-partition results, added in partition order).
* :mod:`deweight.scale.pcp` -- :func:`prediction_consistent_prior`, each pass one map-reduce
  driving the in-memory path's solver core (:func:`deweight.priors.solve_pcp`).
* :mod:`deweight.scale.correct` -- :func:`replace_prior` (Eq. 12) as a lazy catalogue, and
  :func:`write_dataset`, which writes it atomically keeping its partitioning.
* :mod:`deweight.scale.metrics` -- :func:`predicted_metrics` (Eqs. 9-11) by one map-reduce.
* :mod:`deweight.scale.cluster` -- the client of ``--scheduler`` / ``--workers``.
"""

from deweight.scale.cluster import dask_client
from deweight.scale.correct import replace_prior, write_dataset
from deweight.scale.dataset import PartitionedDataset, open_dataset
from deweight.scale.metrics import expected_counts, predicted_metrics
from deweight.scale.pcp import prediction_consistent_prior

__all__ = [
    "PartitionedDataset",
    "dask_client",
    "expected_counts",
    "open_dataset",
    "prediction_consistent_prior",
    "predicted_metrics",
    "replace_prior",
    "write_dataset",
]
