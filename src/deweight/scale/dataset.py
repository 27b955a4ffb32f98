"""Partitioned catalogues: a HATS catalogue or a directory of Parquet files, one file a partition.

:func:`open_dataset` finds the partition files of a directory (a HATS catalogue's pixel files in
the catalogue's pixel order, or a plain directory's ``*.parquet`` files sorted by name), and
:func:`read_partition_arrays` reads one partition's columns into the arrays the pass kernels
take. Every error raised while reading names the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from deweight.io import CatalogReadError

__all__ = ["PartitionedDataset", "open_dataset", "read_partition_arrays"]

#: File whose presence marks a HATS catalogue (``properties`` in older versions of the format).
_HATS_MARKERS = ("hats.properties", "properties")
#: File whose presence marks a HATS collection: a main catalogue with its margins and indexes,
#: as LSDB writes by default and the survey servers publish.
_COLLECTION_MARKER = "collection.properties"


@dataclass(frozen=True)
class PartitionedDataset:
    """A catalogue stored as several Parquet files, or as one file of several row groups.

    Attributes
    ----------
    path : pathlib.Path
        The directory (or the one file).
    kind : {"hats", "parquet", "parquet-file"}
        A HATS catalogue (read and written through LSDB), a plain Parquet dataset, or one
        Parquet file cut into partitions of whole row groups.
    files : tuple of pathlib.Path
        The partitions' files, in order: the HATS pixels in the catalogue's order, the Parquet
        files sorted by their path, or the one file once per partition.
    schema : pyarrow.Schema
        Columns of the first partition.
    row_groups : tuple, optional
        For "parquet-file", each partition's row groups (tuples of indices).
    offsets : tuple of int, optional
        For "parquet-file", each partition's first row within the file (errors count from it).
    """

    path: Path
    kind: str
    files: tuple[Path, ...]
    schema: pa.Schema
    row_groups: tuple | None = None
    offsets: tuple[int, ...] | None = None

    def offset(self, index: int) -> int:
        """Row of the file where partition ``index`` starts."""
        return 0 if self.offsets is None else self.offsets[index]

    def n_rows(self) -> int:
        """The rows of all partitions, from the Parquet footers (no data is read)."""
        if self.row_groups is not None:
            metadata = pq.ParquetFile(self.path).metadata
            groups = (index for partition in self.row_groups for index in partition)
            return sum(metadata.row_group(index).num_rows for index in groups)
        return sum(pq.read_metadata(file).num_rows for file in self.files)

    def label(self, index: int) -> str:
        """How errors name partition ``index``: its file."""
        return str(self.files[index])

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise ValueError naming the first partition if a column is missing."""
        missing = [name for name in columns if name not in self.schema.names]
        if missing:
            raise ValueError(
                f"{self.label(0)}: no column {missing[0]!r}; the columns are "
                f"{', '.join(self.schema.names)}"
            )

    def float_dtype(self, columns: Sequence[str]) -> np.dtype:
        """float32 when every column is stored as float32, else float64 (as deweight.io)."""
        single = all(pa.types.is_float32(self.schema.field(name).type) for name in columns)
        return np.dtype(np.float32 if single else np.float64)


def is_hats(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a HATS catalogue or collection directory."""
    markers = (*_HATS_MARKERS, _COLLECTION_MARKER)
    return any((Path(path) / marker).is_file() for marker in markers)


def _hats_files(path: Path) -> list[Path]:
    """The pixel files of a HATS catalogue, in the catalogue's pixel order.

    For a collection, those of its main catalogue: a margin catalogue repeats rows of the
    neighbouring pixels, and counting them would bias every sum.
    """
    try:
        import hats
        from hats.io.paths import pixel_catalog_file
    except ImportError as error:  # pragma: no cover - the scale extra brings hats
        raise ImportError(
            f"{path} is a HATS catalogue; reading it needs the scale extra: "
            "pip install 'deweight[scale]'"
        ) from error
    try:
        catalog = hats.read_hats(path)
    except Exception as error:
        raise CatalogReadError(f"cannot read {path} as a HATS catalogue: {error}") from error
    base = getattr(catalog, "main_catalog_dir", None) or path
    pixels = catalog.get_healpix_pixels()
    return [Path(str(pixel_catalog_file(base, pixel))) for pixel in pixels]


def open_dataset(
    path: str | os.PathLike, *, rows_per_partition: int = 1 << 22
) -> PartitionedDataset:
    """Find the partitions of a HATS catalogue, a directory of Parquet files or a Parquet file.

    Parameters
    ----------
    path : str or path-like
        A HATS catalogue (a directory with ``hats.properties``), a directory holding
        ``*.parquet`` files (searched recursively, e.g. a hive-partitioned dataset), or one
        Parquet file, cut into partitions of whole row groups.
    rows_per_partition : int, default 2**22
        For one file: row groups are joined into partitions of about this many rows.

    Returns
    -------
    PartitionedDataset

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CatalogReadError
        If it is not a directory, holds no Parquet file, or its first file is unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if not path.is_dir():
        return _file_dataset(path, rows_per_partition)
    kind = "hats" if is_hats(path) else "parquet"
    if kind == "hats":
        files = _hats_files(path)
    else:
        files = sorted(
            file
            for file in path.rglob("*.parquet")
            if not any(part.startswith((".", "_")) for part in file.relative_to(path).parts)
        )
    if not files:
        raise CatalogReadError(
            f"{path} is a directory holding no Parquet file (and not a HATS catalogue)"
        )
    try:
        schema = pq.read_schema(files[0])
    except (pa.ArrowException, OSError) as error:
        raise CatalogReadError(f"cannot read {files[0]} as Parquet: {error}") from error
    return PartitionedDataset(path, kind, tuple(files), schema)


def _file_dataset(path: Path, rows_per_partition: int) -> PartitionedDataset:
    """One Parquet file as partitions of consecutive row groups of about ``rows_per_partition``."""
    try:
        metadata = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as error:
        raise CatalogReadError(f"cannot read {path} as Parquet: {error}") from error
    groups, offsets, current, start, rows = [], [], [], 0, 0
    for index in range(metadata.num_row_groups):
        current.append(index)
        rows += metadata.row_group(index).num_rows
        if rows - start >= rows_per_partition or index == metadata.num_row_groups - 1:
            groups.append(tuple(current))
            offsets.append(start)
            current, start = [], rows
    if not groups:
        groups, offsets = [()], [0]
    schema = metadata.schema.to_arrow_schema()
    files = (path,) * len(groups)
    return PartitionedDataset(path, "parquet-file", files, schema, tuple(groups), tuple(offsets))


def _read_table(file: str, row_groups: tuple | None, wanted: list[str]):
    """The ``wanted`` columns of one partition as an Arrow table; errors name the file."""
    try:
        if row_groups is None:
            return pq.read_table(file, columns=wanted)
        return pq.ParquetFile(file).read_row_groups(list(row_groups), columns=wanted)
    except (pa.ArrowException, OSError) as error:
        try:
            available = pq.read_schema(file).names
        except (pa.ArrowException, OSError):
            available = None
        missing = [name for name in wanted if available is not None and name not in available]
        if missing:
            raise ValueError(
                f"{file}: no column {missing[0]!r}; the columns are {', '.join(available)}"
            ) from error
        raise CatalogReadError(f"cannot read {file} as Parquet: {error}") from error


def read_partition_arrays(
    file: str,
    row_groups: tuple | None,
    columns: Sequence[str],
    dtype: str,
    extra: Sequence[str] = (),
):
    """One partition as the arrays the pass kernels read, straight from Arrow.

    Returns ``(values, extras)``: ``columns`` as one C-ordered ``(n, C)`` array of ``dtype``
    (one copy, no DataFrame on the way; a null becomes NaN, which the first pass names), and
    ``extra`` as a dict of arrays.

    Raises
    ------
    CatalogReadError
        If the file cannot be read as Parquet (the message names it).
    ValueError
        If a column is missing or not numeric (the message names the file).
    """
    table = _read_table(file, row_groups, list(dict.fromkeys([*columns, *extra])))
    values = np.empty((table.num_rows, len(columns)), dtype=dtype)
    for index, name in enumerate(columns):
        column = table.column(name)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise ValueError(
                f"{file}: columns {', '.join(columns)} are not numeric: {name} is {column.type}"
            )
        values[:, index] = column.to_numpy()
    extras = {name: table.column(name).to_numpy() for name in extra}
    return values, extras
