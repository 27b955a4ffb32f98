"""The partitions of a distributed catalogue and one map-reduce over them.

:func:`partitions_of` turns what the user gives (a directory, a :class:`PartitionedDataset`, a
Dask DataFrame or an LSDB ``Catalog``) into :class:`Partitions`: a Dask DataFrame of the wanted
columns and a label per partition (its file, or its HEALPix pixel) for error messages.
:func:`map_reduce` applies a function to every partition on the cluster and adds the small
results on the client in partition order, so that the same data give the same bits; only those
results travel, never a row.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyarrow import ArrowException

from deweight.scale.dataset import (
    PartitionedDataset,
    open_dataset,
    read_partition_arrays,
)

__all__ = ["Partitions", "map_reduce", "partitions_of"]


@dataclass
class Partitions:
    """The partitions of the wanted columns and how errors name each of them.

    ``frame`` is the Dask DataFrame of a collection in memory (None for partition files, whose
    ``readers`` read each file's arrays straight from Arrow); ``blocks``, once persisted,
    holds each partition as the arrays the partition functions see, kept in the workers'
    memory.
    """

    frame: Any
    labels: list[str]
    columns: list[str]
    extra: list[str] = field(default_factory=list)
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    blocks: list | None = None
    offsets: list[int] | None = None
    n_rows: int | None = None  # when known without reading the rows (footers, HATS metadata)
    readers: list | None = None  # files: each partition's arrays read straight from Arrow

    @property
    def persisted(self) -> bool:
        """Whether the partitions are held in memory (see :func:`persist_if_it_fits`)."""
        return self.blocks is not None

    def arrays(self) -> list:
        """Each partition as a delayed ``(values, extras)``: float 2-D array and dict of arrays."""
        if self.blocks is not None:
            return self.blocks
        if self.readers is not None:
            return self.readers
        import dask

        return [
            dask.delayed(_to_arrays, pure=True)(part, self.columns, self.extra, self.dtype.name)
            for part in self.frame.to_delayed()
        ]


def _is_lsdb_catalog(data) -> bool:
    return type(data).__module__.startswith("lsdb.") and hasattr(data, "get_healpix_pixels")


def _pixel_labels(catalog) -> list[str]:
    """A HATS partition's file when the catalogue was read from disk, else its pixel."""
    pixels = catalog.get_healpix_pixels()
    base = getattr(getattr(catalog, "hc_structure", None), "catalog_base_dir", None)
    if base is None:
        return [f"pixel {pixel}" for pixel in pixels]
    from hats.io.paths import pixel_catalog_file

    return [str(pixel_catalog_file(base, pixel)) for pixel in pixels]


def partitions_of(data, columns: Sequence[str], extra: Sequence[str] = ()) -> Partitions:
    """The partitions of ``data``: the float ``columns`` and, unconverted, the ``extra`` ones.

    Parameters
    ----------
    data : path, PartitionedDataset, dask.dataframe.DataFrame or lsdb.Catalog
        A HATS catalogue or Parquet directory (by path or opened), or a collection in memory.
    columns : sequence of str
        Probability columns, read as floats (float32 if all are float32, as :mod:`deweight.io`).
    extra : sequence of str
        Further columns (e.g. assigned classes), kept in their own dtype.

    Raises
    ------
    ValueError
        If a column is missing (naming it and the first partition) or no column is given.
    """
    columns, extra = list(columns), list(extra)
    if not columns:
        raise ValueError("no probability columns given")
    if isinstance(data, str | os.PathLike):
        data = open_dataset(data)
    if isinstance(data, PartitionedDataset):
        data.check_columns(columns + extra)
        labels = [data.label(index) for index in range(len(data.files))]
        offsets = [data.offset(index) for index in range(len(data.files))]
        dtype = data.float_dtype(columns)
        readers = _readers(data, columns, extra, dtype)
        return Partitions(
            None,
            labels,
            columns,
            extra,
            dtype,
            offsets=offsets,
            n_rows=_footer_rows(data),
            readers=readers,
        )
    n_rows = None
    if _is_lsdb_catalog(data):
        labels = _pixel_labels(data)
        frame = data.to_dask_dataframe()
        n_rows = _catalogue_rows(data)
    elif hasattr(data, "to_delayed") and hasattr(data, "npartitions"):
        frame = data
        labels = [f"partition {index}" for index in range(data.npartitions)]
    else:
        raise TypeError(
            "expected a HATS catalogue or Parquet directory, a dask DataFrame or an lsdb "
            f"Catalog, got {type(data).__name__}"
        )
    missing = [name for name in columns + extra if name not in frame.columns]
    if missing:
        raise ValueError(
            f"{labels[0] if labels else 'the catalogue'}: no column {missing[0]!r}; the columns "
            f"are {', '.join(map(str, frame.columns))}"
        )
    meta = frame._meta
    single = all(meta[name].dtype == np.float32 for name in columns)
    dtype = np.dtype(np.float32 if single else np.float64)
    selected = frame[list(dict.fromkeys(columns + extra))]
    return Partitions(selected, labels, columns, extra, dtype, n_rows=n_rows)


def _readers(dataset: PartitionedDataset, columns, extra, dtype) -> list:
    """Each partition file's arrays as a delayed read (:func:`read_partition_arrays`), keyed
    ``(name, partition number)`` as Dask keys its collections, which errors parse."""
    import dask
    from dask.base import tokenize

    row_groups = dataset.row_groups or (None,) * len(dataset.files)
    name = "deweight-read-" + tokenize(
        [str(file) for file in dataset.files], row_groups, columns, extra, dtype.name
    )
    return [
        dask.delayed(read_partition_arrays, pure=True)(
            str(file), groups, columns, dtype.name, extra, dask_key_name=(name, index)
        )
        for index, (file, groups) in enumerate(zip(dataset.files, row_groups, strict=True))
    ]


def _footer_rows(dataset: PartitionedDataset) -> int | None:
    """The dataset's rows from its Parquet footers; None if a footer is unreadable (the first
    pass then names the file)."""
    try:
        return dataset.n_rows()
    except (OSError, ValueError, ArrowException):
        return None


def _catalogue_rows(catalog) -> int | None:
    """An LSDB catalogue's rows as its HATS metadata states them, when it is unfiltered."""
    info = getattr(getattr(catalog, "hc_structure", None), "catalog_info", None)
    rows = getattr(info, "total_rows", None)
    return int(rows) if rows else None


def _gather_in_order(client, tasks, keys, on_done: Callable[[], None] | None) -> list:
    """Compute ``tasks`` on ``client`` and return their results in the order given."""
    from distributed import as_completed

    futures = client.compute(tasks)
    if on_done is not None:
        for _ in as_completed(futures):
            on_done()
    try:
        return client.gather(futures)
    except Exception as error:
        raise _named_failure(error, keys) from error
    finally:
        for future in futures:
            future.release()


def _named_failure(error: BaseException, keys: dict[str, str]) -> BaseException:
    """A worker lost too often (``KilledWorker``) becomes a RuntimeError naming the partition.

    The task is one of this map-reduce's (its key names the partition) or one of the collection's
    own tasks, whose key ends with the partition's number.
    """
    if type(error).__name__ != "KilledWorker":
        return error
    task = str(getattr(error, "task", "") or (error.args[0] if error.args else ""))
    label = next((label for key, label in keys.items() if key in task), None)
    number = re.search(r"', (\d+)\)", task)
    labels = list(keys.values())
    if label is None and number is not None and int(number[1]) < len(labels):
        label = labels[int(number[1])]
    return RuntimeError(
        f"{label or 'a partition'}: the workers computing it died repeatedly ({error}); no "
        "result was computed from the partitions that remained"
    )


def map_reduce(
    parts: Partitions,
    function: Callable,
    *args,
    client=None,
    combine: Callable[[list], Any],
    on_done: Callable[[], None] | None = None,
    name: str = "deweight",
):
    """``combine([function(values, extra, label, offset, *args) for each partition])``.

    ``values`` is the partition's float columns as a 2-D array of ``parts.dtype``; ``extra`` a
    dict of its extra columns as arrays; ``label`` names the partition in errors and
    ``offset`` is the row of that file where it starts (0 unless one file is cut in pieces). The results are gathered on the client in partition
    order (``combine`` sees them so), each of them small; ``on_done`` is called as each
    partition finishes. Without ``client`` Dask's default scheduler runs the tasks.
    """
    import dask

    delayed_parts = parts.arrays()
    token = uuid.uuid4().hex[:12]  # a fresh key per pass: Dask never reuses a result
    keys, tasks = {}, []
    offsets = parts.offsets or [0] * len(parts.labels)
    for index, (part, label) in enumerate(zip(delayed_parts, parts.labels, strict=True)):
        key = f"{name}-{index}-{token}"
        keys[key] = label
        tasks.append(
            dask.delayed(_apply, pure=False)(
                part,
                function,
                label,
                offsets[index],
                args,
                dask_key_name=key,
            )
        )
    if client is None:
        results = list(dask.compute(*tasks))
        if on_done is not None:
            for _ in results:
                on_done()
    else:
        results = _gather_in_order(client, tasks, keys, on_done)
    return combine(results)


def _to_arrays(frame, columns, extra, dtype):
    """One partition as a C-ordered float array of ``columns`` and a dict of ``extra`` arrays."""
    values = np.ascontiguousarray(frame[columns].to_numpy(dtype=dtype))
    return values, {name: frame[name].to_numpy() for name in extra}


def _apply(arrays, function, label, offset, args):
    """Run ``function`` on one partition (on a worker)."""
    values, extras = arrays
    return function(values, extras, label, offset, *args)


def persist_if_it_fits(parts: Partitions, n_rows: int, client, persist) -> Partitions:
    """Keep the columns in the cluster's memory across passes when they fit (or when told).

    ``persist``: True, False, or "auto" = when ``n_rows`` rows of the float columns take at most
    half the workers' memory limits together (a quarter of this machine's memory without a
    cluster).
    """
    if persist == "auto":
        size = n_rows * len(parts.columns) * parts.dtype.itemsize * 2  # a transient copy
        persist = size <= _memory_budget(client)
    if not persist or parts.persisted:
        return parts
    import dask

    arrays = parts.arrays()
    blocks = client.persist(arrays) if client is not None else list(dask.persist(*arrays))
    return dataclasses.replace(parts, blocks=blocks)


def _memory_budget(client) -> float:
    if client is not None:
        workers = client.scheduler_info().get("workers", {}).values()
        limits = [worker.get("memory_limit") or 0 for worker in workers]
        return 0.5 * sum(limits)
    try:
        return 0.25 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0.0
