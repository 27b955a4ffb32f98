"""Prior replacement (Eq. 12 of Lake & Tsai 2022) on a partitioned catalogue, and its atomic write.

:func:`replace_prior` returns a lazy catalogue with the corrected columns added (an LSDB
``Catalog`` for a HATS input, through ``Catalog.map_partitions``; a Dask DataFrame otherwise);
nothing is read until it is written or computed. :func:`write_dataset` writes it keeping its
partitioning (HATS through LSDB's own writer, a Parquet dataset one file per partition) into a
hidden directory beside the target, renamed into place only when complete.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deweight._validation import check_probabilities
from deweight.priors import replace_prior as replace_prior_in_memory
from deweight.scale.dataset import PartitionedDataset, open_dataset

__all__ = ["replace_prior", "write_dataset"]


def _corrected(frame, columns, names, old_prior, new_prior, dtype, atol, label):
    """One partition with the corrected columns added; bad rows raise naming ``label``."""
    values = frame[list(columns)].to_numpy(dtype=dtype)
    try:
        check_probabilities(values, atol=atol)
        result = replace_prior_in_memory(values, old_prior, new_prior)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from error
    frame = frame.copy()
    for index, name in enumerate(names):
        frame[name] = result[:, index]
    return frame


def _corrected_pixel(frame, pixel, base, *args):
    """:func:`_corrected` for an LSDB partition, labelled by its pixel's file."""
    if base is None:
        label = f"pixel {pixel}"
    else:
        from hats.io.paths import pixel_catalog_file

        label = str(pixel_catalog_file(base, pixel))
    return _corrected(frame, *args, label)


def _corrected_numbered(frame, *args, partition_info=None):
    """:func:`_corrected` for a Dask partition, labelled by its number."""
    number = "?" if partition_info is None else partition_info["number"]
    return _corrected(frame, *args, f"partition {number}")


def _meta(meta, names, dtype):
    meta = meta.copy()
    for name in names:
        meta[name] = np.empty(0, dtype=dtype)
    return meta


def _float_dtype(meta, columns) -> np.dtype:
    single = all(meta[name].dtype == np.float32 for name in columns)
    return np.dtype(np.float32 if single else np.float64)


def replace_prior(
    data,
    columns: Sequence[str],
    old_prior,
    new_prior,
    *,
    suffix: str = "_corrected",
    atol: float = 1e-3,
):
    """The catalogue with ``COLUMN+suffix`` = Eq. 12's probabilities under ``new_prior``, lazily.

    Parameters
    ----------
    data : path, PartitionedDataset, dask.dataframe.DataFrame or lsdb.Catalog
        A HATS catalogue (read with :func:`lsdb.open_catalog`), a directory of Parquet files
        (one partition per file) or a collection.
    columns : sequence of str
        Probability columns computed with ``old_prior``.
    old_prior, new_prior : array_like of shape (C,)
        As for :func:`deweight.priors.replace_prior`.
    suffix : str, default "_corrected"
        Added to each column's name to name its corrected column.
    atol : float, default 1e-3
        Row-sum tolerance when checking the rows (done as each partition is computed; an
        invalid row raises ValueError naming the partition and the row within it).

    Returns
    -------
    lsdb.Catalog or dask.dataframe.DataFrame
        Lazy; every column of ``data`` and the corrected ones.
    """
    import dask.dataframe as dd

    columns = list(columns)
    names = [name + suffix for name in columns]
    old = np.asarray(old_prior, dtype=float)
    new = np.asarray(new_prior, dtype=float)
    if isinstance(data, str | os.PathLike):
        data = open_dataset(data)
    if isinstance(data, PartitionedDataset):
        data.check_columns(columns)
        if data.kind == "parquet-file":
            raise ValueError(
                f"{data.path} is one file; correct it with deweight.io (or the deweight command)"
            )
        if data.kind == "hats":
            with _quiet_dependencies():
                import lsdb

                data = lsdb.open_catalog(data.path)
        else:
            return _replace_in_files(data, columns, names, old, new, atol)
    clashing = [name for name in names if name in data.columns]
    if clashing:
        raise ValueError(f"the catalogue already has column(s) {', '.join(clashing)}")
    if hasattr(data, "get_healpix_pixels"):
        meta = data.to_dask_dataframe()._meta
        dtype = _float_dtype(meta, columns)
        base = getattr(data.hc_structure, "catalog_base_dir", None)
        base = None if base is None else str(base)
        correction = (columns, names, old, new, dtype, atol)
        with _quiet_dependencies():
            return data.map_partitions(
                _corrected_pixel,
                base,
                *correction,
                include_pixel=True,
                meta=_meta(meta, names, dtype),
            )
    if not isinstance(data, dd.DataFrame):
        raise TypeError(f"expected a catalogue or a dask DataFrame, got {type(data).__name__}")
    dtype = _float_dtype(data._meta, columns)
    correction = (columns, names, old, new, dtype, atol)
    return data.map_partitions(
        _corrected_numbered, *correction, meta=_meta(data._meta, names, dtype)
    )


def _replace_in_files(dataset, columns, names, old, new, atol):
    """:func:`replace_prior` of a Parquet dataset: each file read whole, one partition each."""
    import dask.dataframe as dd

    clashing = [name for name in names if name in dataset.schema.names]
    if clashing:
        raise ValueError(
            f"{dataset.path} already has column(s) {', '.join(clashing)}; choose another suffix"
        )
    dtype = dataset.float_dtype(columns)
    meta = dataset.schema.empty_table().to_pandas()
    frame = dd.from_map(
        _read_and_correct,
        [str(file) for file in dataset.files],
        columns=columns,
        names=names,
        old=old,
        new=new,
        dtype=dtype,
        atol=atol,
        meta=_meta(meta, names, dtype),
        enforce_metadata=False,
        label="deweight-correct",
    )
    return _FilesFrame(frame, dataset)


def _read_and_correct(file, columns, names, old, new, dtype, atol):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deweight.io import CatalogReadError

    try:
        frame = pq.read_table(file).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise CatalogReadError(f"cannot read {file} as Parquet: {error}") from error
    return _corrected(frame, columns, names, old, new, dtype, atol, file)


class _FilesFrame:
    """A lazy Dask DataFrame with one partition per file of a Parquet dataset, which
    :func:`write_dataset` writes back under the same file names."""

    def __init__(self, frame, dataset: PartitionedDataset):
        self.frame = frame
        self.dataset = dataset

    def __getattr__(self, name):
        return getattr(self.frame, name)

    def compute(self, **options):
        return self.frame.compute(**options)


@contextlib.contextmanager
def _quiet_dependencies():
    """Silence the deprecation notices LSDB and its pandas extensions give about themselves."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


@contextlib.contextmanager
def _directory_in_place(target: Path):
    """A hidden directory beside ``target``, renamed onto it when the block ends normally.

    On any error, an interrupt included, the hidden directory is removed and ``target`` is as
    it was. An existing ``target`` is replaced only after the new one is complete.
    """
    temporary = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        yield temporary
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(temporary, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, target)
    finally:
        _remove_while_writes_settle(temporary)


def _remove_while_writes_settle(directory: Path, seconds: float = 30.0) -> None:
    """Remove ``directory``, again if a write still in flight on a worker left a file in it.

    The partition writers never create the directory itself (:func:`_write_partition`), so
    once it is gone no late write can bring it back; a removal that raced with one is retried.
    """
    deadline = time.monotonic() + seconds
    while directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        if not directory.exists() or time.monotonic() > deadline:
            break
        time.sleep(0.05)


def write_dataset(lazy, target: str | os.PathLike, *, client=None) -> Path:
    """Write a result of :func:`replace_prior` to ``target`` atomically, keeping the partitions.

    An LSDB catalogue is written as a HATS catalogue by ``Catalog.to_hats``; the result of a
    Parquet dataset as a Parquet dataset with the input's file names (relative paths); another
    Dask DataFrame as ``part.N.parquet`` files. The directory appears whole or not at all: it
    is written beside ``target`` under a hidden name and renamed into place at the end; an
    error or an interrupt removes it and leaves an existing ``target`` as it was.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    if not target.parent.is_dir():
        raise FileNotFoundError(2, "No such directory", str(target.parent))
    with _directory_in_place(target) as temporary:
        if hasattr(lazy, "to_hats"):
            with _quiet_dependencies():
                lazy.to_hats(
                    temporary, catalog_name=target.name, as_collection=False, progress_bar=False
                )
        elif isinstance(lazy, _FilesFrame):
            _write_files(lazy, temporary, client)
        else:
            lazy.to_parquet(temporary, write_index=False, compute=True)
    return target


def _write_files(lazy: _FilesFrame, directory: Path, client) -> None:
    """Each partition to the input file's relative path under ``directory``."""
    import dask

    directory.mkdir()
    relative = [file.relative_to(lazy.dataset.path) for file in lazy.dataset.files]
    tasks = [
        dask.delayed(_write_partition)(part, str(directory), str(name))
        for part, name in zip(lazy.frame.to_delayed(), relative, strict=True)
    ]
    if client is not None:
        client.gather(client.compute(tasks))
        return
    # Threads of our own pool: on an error, leaving the block waits for the writes already
    # running, so that none lands after the directory is removed.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        dask.compute(*tasks, scheduler="threads", pool=pool)


def _write_partition(frame, root: str, relative: str) -> int:
    """Write one partition to ``root/relative``; never creates ``root`` (see
    :func:`_remove_while_writes_settle`): if it is gone, the write was cancelled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(root) / relative
    folder = Path(root)
    for part in Path(relative).parent.parts:
        folder = folder / part
        folder.mkdir(exist_ok=True)  # FileNotFoundError once root has been removed
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return len(frame)
