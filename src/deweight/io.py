"""Streaming reads and atomic writes of catalogues in Parquet, FITS and CSV.

A classifier's output catalogue can be far larger than memory (the catalogue of Clarke et al.
2020 that Lake & Tsai 2022 use in §4.4 has 1.1e8 rows), so the statistics of this package accept
any object whose ``iter_chunks()`` method returns a fresh iterator over blocks of rows. This
module provides that object for files on disk, :class:`Catalog` (made by :func:`open_catalog`),
and the writers that put results back on disk without ever leaving a half-written file behind
(:func:`write_table_atomic`, :func:`write_catalog_with_columns`).

Formats are chosen from the file name (``.parquet``/``.pq``, ``.fits``/``.fit``/``.fts`` with an
optional ``.gz``, ``.csv`` with an optional ``.gz``) unless given explicitly:

* Parquet is read with :meth:`pyarrow.parquet.ParquetFile.iter_batches`, memory-mapped, only the
  needed columns, in batches that may span row groups. It is the fast path: a float32 column is
  copied once, straight from the mapped file into the output block.
* FITS binary or ASCII tables are read with :mod:`astropy.io.fits`, memory-mapped (a ``.gz`` file
  is decompressed in memory by astropy), in slices of rows of the first table extension.
* CSV is read with :func:`pandas.read_csv` in chunks of rows, only the needed columns. Its row
  count is unknown until a first pass has counted it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from deweight._formats import DEFAULT_CHUNK_ROWS, FORMATS, infer_format

if TYPE_CHECKING:
    import pandas as pd
from deweight._validation import check_probabilities

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "Catalog",
    "CatalogChunk",
    "CatalogReadError",
    "infer_format",
    "open_catalog",
    "write_catalog_with_columns",
    "write_table_atomic",
]


class CatalogReadError(OSError):
    """A catalogue file exists but cannot be read in the expected format.

    The message names the file and the format it was read as, followed by the reader's own
    explanation.
    """


@dataclass(frozen=True)
class CatalogChunk:
    """One block of consecutive rows of a catalogue.

    Attributes
    ----------
    offset : int
        Index, within the whole catalogue, of the block's first row.
    values : ndarray of shape (k, C)
        The catalogue's numeric ``columns`` as floats, in the order they were requested.
    extra : dict of str to ndarray of shape (k,)
        Further columns asked for by name, in their own dtype (strings as Python ``str``
        objects; FITS strings decoded and stripped of padding).
    """

    offset: int
    values: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of rows in the block."""
        return int(self.values.shape[0])


# --------------------------------------------------------------------------------------------
# Format back ends. Each reads blocks of named columns as 1-D NumPy arrays, and blocks of every
# column as Arrow tables (for writing a catalogue back out with new columns).
# --------------------------------------------------------------------------------------------


class _ParquetBackend:
    """Reads a Parquet file through a memory map, batch by batch."""

    def __init__(self, path: Path):
        self.path = path
        try:
            # Memory-mapping and pre-buffering let Arrow decode straight from the page cache
            # instead of copying each column chunk into a read buffer first (3x faster here).
            self._file = pq.ParquetFile(path, memory_map=True, pre_buffer=True)
        except (pa.ArrowException, OSError) as error:
            raise CatalogReadError(f"cannot read {path} as Parquet: {error}") from error
        self.schema = self._file.schema_arrow
        self.names = tuple(self.schema.names)
        self.n_rows: int | None = int(self._file.metadata.num_rows)

    def numeric_dtype(self, column: str) -> np.dtype | None:
        arrow_type = self.schema.field(column).type
        if pa.types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        if pa.types.is_float32(arrow_type) or pa.types.is_float16(arrow_type):
            return np.dtype(np.float32)
        if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
            return np.dtype(np.float64)
        if pa.types.is_boolean(arrow_type) or pa.types.is_decimal(arrow_type):
            return np.dtype(np.float64)
        return None

    def _batches(self, columns: Sequence[str] | None, chunk_rows: int) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._file.iter_batches(
                batch_size=chunk_rows,
                columns=None if columns is None else list(columns),
                use_threads=True,
            )
        except pa.ArrowException as error:
            raise CatalogReadError(f"cannot read {self.path} as Parquet: {error}") from error

    def iter_columns(
        self, columns: Sequence[str], chunk_rows: int
    ) -> Iterator[dict[str, np.ndarray]]:
        for batch in self._batches(columns, chunk_rows):
            yield {name: _arrow_to_numpy(batch.column(name)) for name in columns}

    def iter_tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        for batch in self._batches(None, chunk_rows):
            yield pa.Table.from_batches([batch])


class _FitsBackend:
    """Reads the first table extension of a FITS file in slices of rows."""

    def __init__(self, path: Path):
        self.path = path
        with self._open() as hdus:
            hdu = self._table_hdu(hdus)
            self.names = tuple(hdu.columns.names)
            self.n_rows: int | None = int(hdu.header.get("NAXIS2", 0))
            self._dtypes = {}
            for column in hdu.columns:
                self._dtypes[column.name] = _fits_column_numeric_dtype(column)

    @contextlib.contextmanager
    def _open(self):
        from astropy.io import fits

        try:
            hdus = fits.open(self.path, memmap=True, lazy_load_hdus=True)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, TypeError, EOFError) as error:
            raise CatalogReadError(f"cannot read {self.path} as FITS: {error}") from error
        try:
            yield hdus
        finally:
            hdus.close()

    def _table_hdu(self, hdus):
        from astropy.io import fits

        try:
            for hdu in hdus:
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    return hdu
        except (OSError, ValueError, TypeError, EOFError) as error:
            raise CatalogReadError(f"cannot read {self.path} as FITS: {error}") from error
        raise CatalogReadError(f"cannot read {self.path} as FITS: it has no table extension")

    def numeric_dtype(self, column: str) -> np.dtype | None:
        return self._dtypes[column]

    def _slices(self, chunk_rows: int):
        """Yield ``(data, start, stop)`` over the table, keeping the file open meanwhile."""
        with self._open() as hdus:
            hdu = self._table_hdu(hdus)
            try:
                data = hdu.data
            except (OSError, ValueError, TypeError, EOFError) as error:
                raise CatalogReadError(f"cannot read {self.path} as FITS: {error}") from error
            n_rows = 0 if data is None else len(data)
            for start in range(0, n_rows, chunk_rows):
                yield data, start, min(start + chunk_rows, n_rows)

    def iter_columns(
        self, columns: Sequence[str], chunk_rows: int
    ) -> Iterator[dict[str, np.ndarray]]:
        for data, start, stop in self._slices(chunk_rows):
            # field() on memory-mapped data is a view; slicing it reads only these rows.
            yield {name: _native_fits_values(data.field(name)[start:stop]) for name in columns}

    def iter_tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        for data, start, stop in self._slices(chunk_rows):
            arrays = {}
            for name in self.names:
                values = _native_fits_values(data.field(name)[start:stop])
                if values.ndim == 1:
                    arrays[name] = pa.array(values)
                else:
                    # A vector column becomes a fixed-size list column; Parquet stores it, the
                    # CSV writer rejects it with Arrow's own message.
                    width = int(np.prod(values.shape[1:]))
                    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
                    arrays[name] = pa.FixedSizeListArray.from_arrays(flat, width)
            yield pa.table(arrays)


def _fits_column_numeric_dtype(column) -> np.dtype | None:
    """Float dtype a FITS column's values are read as, or None if it is not numeric."""
    try:
        dtype = np.dtype(column.dtype)
    except (TypeError, AttributeError):
        return None
    scaled = column.bscale not in (None, 1) or column.bzero not in (None, 0)
    if dtype.kind == "f" and dtype.itemsize <= 4 and not scaled:
        return np.dtype(np.float32)
    if dtype.kind in "fiub":
        return np.dtype(np.float64)
    return None


def _native_fits_values(values) -> np.ndarray:
    """Turn a FITS column slice into a plain native-endian array (strings as ``str``)."""
    array = np.asarray(values)
    if array.dtype.kind == "S":
        # FITS pads strings with blanks; readers expect them without.
        return np.char.strip(np.char.decode(array, "ascii", errors="replace")).astype(object)
    if not array.dtype.isnative:  # FITS stores big-endian numbers
        array = array.astype(array.dtype.newbyteorder("="))
    return array


class _CsvBackend:
    """Reads a (possibly gzipped) CSV file with pandas in chunks of rows."""

    def __init__(self, path: Path):
        import pandas as pd

        self.path = path
        try:
            header = pd.read_csv(path, nrows=0)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, UnicodeDecodeError, EOFError) as error:
            raise CatalogReadError(f"cannot read {path} as CSV: {error}") from error
        self.names = tuple(str(name) for name in header.columns)
        # Counting rows would cost a full read, so the count is learnt from the first pass.
        self.n_rows: int | None = None

    def numeric_dtype(self, column: str) -> np.dtype | None:
        # Text has no storage type; values that do not parse as numbers become NaN and are
        # reported by row when the probabilities are validated.
        return np.dtype(np.float64)

    def _frames(self, columns: Sequence[str] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
        import pandas as pd

        try:
            reader = pd.read_csv(
                self.path,
                usecols=None if columns is None else list(columns),
                chunksize=chunk_rows,
            )
            with reader:
                yield from reader
        except FileNotFoundError:
            raise
        except (OSError, ValueError, UnicodeDecodeError, EOFError) as error:
            raise CatalogReadError(f"cannot read {self.path} as CSV: {error}") from error

    def iter_columns(
        self, columns: Sequence[str], chunk_rows: int
    ) -> Iterator[dict[str, np.ndarray]]:
        for frame in self._frames(columns, chunk_rows):
            yield {name: frame[name].to_numpy() for name in columns}

    def iter_tables(self, chunk_rows: int) -> Iterator[pa.Table]:
        for frame in self._frames(None, chunk_rows):
            yield pa.Table.from_pandas(frame, preserve_index=False)


_BACKENDS = {"parquet": _ParquetBackend, "fits": _FitsBackend, "csv": _CsvBackend}


def _arrow_to_numpy(array: pa.Array) -> np.ndarray:
    """Convert one Arrow column to NumPy, without a copy when it has no nulls."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.null_count == 0 and (
        pa.types.is_floating(array.type) or pa.types.is_integer(array.type)
    ):
        # A view of Arrow's buffer, as to_numpy(zero_copy_only=True) gives, but DLPack (pyarrow
        # >= 15) does not import pandas as to_numpy does on its first call (a third of a second).
        values = np.from_dlpack(array)
        # The buffer may be a read-only memory map. A DLPack capsule older than version 1.0 (as
        # older pyarrow, or numpy < 2.1, exchange) cannot say so; numpy then marks it writeable.
        values.flags.writeable = False
        return values
    # Nulls become NaN in numeric columns and None in string columns.
    return array.to_numpy(zero_copy_only=False)


def _to_float(values: np.ndarray, column: str, dtype: np.dtype) -> np.ndarray:
    """Convert one column of a block to ``dtype``; text that is not a number becomes NaN."""
    if values.dtype.kind in "fiub":
        return values
    if values.dtype.kind == "O" or values.dtype.kind in "US":
        import pandas as pd

        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=dtype)
    raise ValueError(f"column {column!r} has dtype {values.dtype}, which is not numeric")


class Catalog:
    """A table on disk, read in blocks of rows as many times as asked.

    Made by :func:`open_catalog`; see there for the parameters. Every call of
    :meth:`iter_chunks` starts a new pass over the file, which is what the iterative solvers
    of :mod:`deweight.priors` need to stream a table larger than memory.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    columns : tuple of str
        Numeric columns returned by :meth:`iter_chunks`, in this order.
    file_format : str
        ``"parquet"``, ``"fits"`` or ``"csv"``.
    chunk_rows : int
        Largest number of rows in one block.
    dtype : numpy.dtype
        dtype of the blocks: float32 when every requested column is stored as float32 (so a
        float32 catalogue is never widened), float64 otherwise.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        columns: Sequence[str],
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        file_format: str | None = None,
        validate: bool = False,
        atol: float = 1e-3,
        reuse_buffer: bool = False,
    ):
        self.path = Path(path)
        self.file_format = infer_format(self.path, file_format)
        if isinstance(columns, str):
            columns = [columns]
        self.columns = tuple(str(column) for column in columns)
        if not self.columns:
            raise ValueError("at least one column must be named")
        duplicated = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if duplicated:
            raise ValueError(f"column(s) named more than once: {', '.join(duplicated)}")
        if int(chunk_rows) != chunk_rows or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        self.chunk_rows = int(chunk_rows)
        self.validate = bool(validate)
        self.atol = float(atol)
        self.reuse_buffer = bool(reuse_buffer)
        if not self.path.exists():
            raise FileNotFoundError(f"catalogue {self.path} does not exist")
        if self.path.is_dir():
            raise CatalogReadError(f"cannot read {self.path}: it is a directory")
        self._backend = _BACKENDS[self.file_format](self.path)
        self.check_columns(self.columns)
        dtypes = []
        for column in self.columns:
            dtype = self._backend.numeric_dtype(column)
            if dtype is None:
                raise ValueError(
                    f"column {column!r} of {self.path} is not numeric, so it cannot hold "
                    "probabilities"
                )
            dtypes.append(dtype)
        all_float32 = all(dtype == np.float32 for dtype in dtypes)
        self.dtype = np.dtype(np.float32 if all_float32 else np.float64)
        # Validation costs several passes over a block of memory, so it runs only until one
        # complete pass has shown every row of the (unchanging) file to be valid.
        self._validated = False
        self._buffer: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"Catalog({os.fspath(self.path)!r}, columns={list(self.columns)!r}, "
            f"file_format={self.file_format!r}, chunk_rows={self.chunk_rows})"
        )

    @property
    def columns_available(self) -> tuple[str, ...]:
        """Names of every column in the file, in file order."""
        return self._backend.names

    @property
    def n_rows(self) -> int | None:
        """Number of rows, or None for a CSV file before a first complete pass counted them."""
        return self._backend.n_rows

    def check_columns(self, names: Sequence[str]) -> None:
        """Raise ValueError naming every column of ``names`` that the file lacks.

        Parameters
        ----------
        names : sequence of str
            Column names to look for.

        Raises
        ------
        ValueError
            Listing the missing names and the columns the file does have.
        """
        available = set(self._backend.names)
        missing = [name for name in names if name not in available]
        if missing:
            raise ValueError(
                f"{self.path} has no column(s) {', '.join(map(repr, missing))}; its columns are: "
                f"{', '.join(self._backend.names)}"
            )

    def _block(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Assemble the requested columns of one block into a (k, C) float array."""
        n_block = len(arrays[self.columns[0]])
        n_columns = len(self.columns)
        if self.reuse_buffer and self._buffer is not None and self._buffer.shape[0] >= n_block:
            block = self._buffer[:n_block]
        else:
            # Row-major, the layout the numba kernels of deweight.priors read without a copy.
            block = np.empty((n_block, n_columns), dtype=self.dtype)
            if self.reuse_buffer:
                self._buffer = block
        for index, column in enumerate(self.columns):
            values = _to_float(arrays[column], column, self.dtype)
            if values.ndim != 1:
                raise ValueError(
                    f"column {column!r} of {self.path} holds arrays of shape {values.shape[1:]} "
                    "per row; probability columns must hold one number per row"
                )
            block[:, index] = values
        return block

    def iter_batches(
        self, extra_columns: Sequence[str] = (), *, chunk_rows: int | None = None
    ) -> Iterator[CatalogChunk]:
        """Iterate once over the file in blocks, with their row offsets and extra columns.

        Parameters
        ----------
        extra_columns : sequence of str, optional
            Further columns to return, unconverted, in :attr:`CatalogChunk.extra`.
        chunk_rows : int, optional
            Rows per block for this pass; :attr:`chunk_rows` by default.

        Yields
        ------
        CatalogChunk
            Consecutive blocks covering every row once. With ``reuse_buffer=True`` the
            ``values`` array of a block is overwritten by the next block.

        Raises
        ------
        ValueError
            If ``validate`` was set and a row is not a probability vector; the message gives
            the row's index within the whole file.
        CatalogReadError
            If the file cannot be decoded part way through.
        """
        extra = [name for name in dict.fromkeys(extra_columns)]
        self.check_columns(extra)
        wanted = list(dict.fromkeys([*self.columns, *extra]))
        rows = int(chunk_rows or self.chunk_rows)
        offset = 0
        for arrays in self._backend.iter_columns(wanted, rows):
            block = self._values(arrays, offset)
            yield CatalogChunk(offset, block, {name: arrays[name] for name in extra})
            offset += block.shape[0]
        self._finish_pass(offset)

    def _values(self, arrays: dict[str, np.ndarray], offset: int) -> np.ndarray:
        """Block of the requested columns, validated until a full pass has been checked."""
        block = self._block(arrays)
        if self.validate and not self._validated:
            check_probabilities(
                block,
                name=f"{self.path.name} columns {','.join(self.columns)}",
                atol=self.atol,
                row_offset=offset,
            )
        return block

    def _finish_pass(self, n_rows_seen: int) -> None:
        """Record what a pass that reached the end of the file has learnt."""
        if self._backend.n_rows is None:
            self._backend.n_rows = n_rows_seen
        self._validated = self.validate

    def iter_chunks(self) -> Iterator[np.ndarray]:
        """Iterate once over the file, yielding blocks of the requested columns.

        Returns
        -------
        iterator of ndarray of shape (k, C)
            A fresh iterator at every call; blocks of at most :attr:`chunk_rows` rows, dtype
            :attr:`dtype`, columns in the order of :attr:`columns`.
        """
        return (chunk.values for chunk in self.iter_batches())

    def iter_tables(self, *, chunk_rows: int | None = None) -> Iterator[pa.Table]:
        """Iterate once over the file, yielding every column of each block as an Arrow table.

        Parameters
        ----------
        chunk_rows : int, optional
            Rows per block for this pass; :attr:`chunk_rows` by default.

        Yields
        ------
        pyarrow.Table
            Consecutive blocks of rows with all columns in file order.
        """
        yield from self._backend.iter_tables(int(chunk_rows or self.chunk_rows))


def open_catalog(
    path: str | os.PathLike,
    columns: Sequence[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    file_format: str | None = None,
    validate: bool = False,
    atol: float = 1e-3,
    reuse_buffer: bool = False,
) -> Catalog:
    """Open a catalogue file for repeated streaming passes over some of its numeric columns.

    Parameters
    ----------
    path : str or path-like
        Parquet, FITS or CSV file (see :func:`infer_format`).
    columns : sequence of str
        Numeric columns to read, e.g. a classifier's probability for each class. Blocks hold
        them in this order.
    chunk_rows : int, default :data:`DEFAULT_CHUNK_ROWS`
        Largest number of rows read at once. Memory use is about ``chunk_rows * len(columns)``
        floats, plus the reader's own buffers.
    file_format : {"parquet", "fits", "csv"}, optional
        Format, when the file name does not tell it.
    validate : bool, default False
        Check that every row of ``columns`` is a probability vector (finite, non-negative,
        summing to one within ``atol``). The check runs during passes until one reaches the
        end of the file; an invalid row raises ValueError naming its index in the whole file.
    atol : float, default 1e-3
        Tolerance on row sums when validating.
    reuse_buffer : bool, default False
        Read every block into the same array instead of a new one, which saves the cost of
        fresh memory on each block; a block is then valid only until the next is requested.

    Returns
    -------
    Catalog
        Object with ``iter_chunks()``, ``n_rows``, ``columns_available`` and more.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CatalogReadError
        If the file cannot be read in its format.
    ValueError
        If the format is unknown, a column is missing (the message lists the columns there
        are) or not numeric, or ``chunk_rows`` is not a positive integer.

    Examples
    --------
    >>> catalog = open_catalog("scores.parquet", ["p_galaxy", "p_star", "p_qso"])
    >>> result = prediction_consistent_prior(catalog, model_prior=[1/3, 1/3, 1/3])
    """
    return Catalog(
        path,
        columns,
        chunk_rows=chunk_rows,
        file_format=file_format,
        validate=validate,
        atol=atol,
        reuse_buffer=reuse_buffer,
    )


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


class _ArrowTableWriter:
    """Writes Arrow tables block by block to one file of a given format."""

    def __init__(self, path: Path, file_format: str):
        self.path = path
        self.file_format = file_format
        self._schema: pa.Schema | None = None
        self._writer = None
        self._sink = None
        self._fits_blocks: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        if self._schema is None:
            self._schema = table.schema
            self._open(table.schema)
        elif table.schema != self._schema:
            # CSV chunks are typed one by one (a column of integers gains NaN and turns float),
            # so later blocks are cast to the first block's types.
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise ValueError(
                    f"a later block of rows has column types {table.schema.types} that "
                    f"cannot be converted to those of the first block: {error}"
                ) from error
        if self.file_format == "fits":
            self._fits_blocks.append(table)
        else:
            self._writer.write_table(table)

    def _open(self, schema: pa.Schema) -> None:
        if self.file_format == "parquet":
            self._writer = pq.ParquetWriter(self.path, schema, compression="snappy")
        elif self.file_format == "csv":
            import pyarrow.csv as pa_csv

            # Not compression="detect": that misses an upper-case ".GZ".
            compression = "gzip" if self.path.name.lower().endswith(".gz") else None
            self._sink = pa.output_stream(os.fspath(self.path), compression=compression)
            self._writer = pa_csv.CSVWriter(
                self._sink, schema, write_options=pa_csv.WriteOptions(quoting_style="needed")
            )

    def close(self, empty_schema: pa.Schema | None = None) -> None:
        if self._schema is None and empty_schema is not None:
            self.write(empty_schema.empty_table())
        if self.file_format == "fits":
            _write_fits_table(pa.concat_tables(self._fits_blocks), self.path)
            return
        if self._writer is not None:
            self._writer.close()
        if self._sink is not None:
            self._sink.close()

    def abort(self) -> None:
        """Release file handles after an error; the caller deletes the file."""
        with contextlib.suppress(Exception):
            if self._writer is not None:
                self._writer.close()
        with contextlib.suppress(Exception):
            if self._sink is not None:
                self._sink.close()


def _write_fits_table(table: pa.Table, path: Path) -> None:
    """Write an Arrow table as a FITS binary table (built in memory by astropy)."""
    from astropy.table import Table

    columns = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            columns[name] = np.array(column.fill_null("").to_pylist(), dtype=str)
        elif pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
            columns[name] = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
        else:
            columns[name] = column.to_numpy(zero_copy_only=False)
    Table(columns).write(path, format="fits", overwrite=True)


def _to_arrow(table) -> pa.Table:
    """Accept a pandas DataFrame or an Arrow table; a named index becomes a column."""
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table
        if not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()
        # Column labels may be integers (e.g. class indices); files need text names.
        frame = frame.rename(columns=str)
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")


def write_table_atomic(table, path: str | os.PathLike, *, file_format: str | None = None) -> Path:
    """Write a table to Parquet, FITS or CSV so that ``path`` is either complete or absent.

    The table is written to a temporary file in the destination's directory, which is renamed
    onto ``path`` only once it is complete; on any error the temporary file is deleted and an
    existing ``path`` is left as it was.

    Parameters
    ----------
    table : pandas.DataFrame or pyarrow.Table
        Data to write. A DataFrame's index is written as a column unless it is a plain
        ``RangeIndex``.
    path : str or path-like
        Destination; its ending chooses the format (see :func:`infer_format`). A ``.gz``
        ending compresses CSV and FITS output.
    file_format : {"parquet", "fits", "csv"}, optional
        Format, when the file name does not tell it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the format is unknown.
    TypeError
        If ``table`` is neither a DataFrame nor an Arrow table.
    """
    path = Path(path)
    fmt = infer_format(path, file_format)
    from deweight._files import atomic_path

    arrow_table = _to_arrow(table)
    with atomic_path(path, keep_suffix=True) as temporary:
        writer = _ArrowTableWriter(temporary, fmt)
        try:
            writer.write(arrow_table)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return path


def write_catalog_with_columns(
    catalog: Catalog,
    path: str | os.PathLike,
    new_columns: Sequence[str],
    compute: Callable[[np.ndarray], np.ndarray],
    *,
    file_format: str | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Copy a catalogue to ``path`` with new columns computed block by block from its values.

    Each block of rows is read with every column, ``compute`` turns the block's values (the
    catalogue's ``columns``, validated if the catalogue validates) into the new columns, and
    the widened block is appended to a temporary file, which replaces ``path`` only when
    complete. An error at any point deletes the temporary file and leaves ``path`` untouched.

    Parquet and CSV output is streamed, so memory use is one block. FITS output is built in
    memory before it is written (astropy writes a table in one go); from a FITS input the
    original column definitions (units, formats) and header keywords are kept.

    Parameters
    ----------
    catalog : Catalog
        Source, from :func:`open_catalog`.
    path : str or path-like
        Destination; must not be the source file.
    new_columns : sequence of str
        Names of the columns ``compute`` returns; none may already exist in the source.
    compute : callable
        ``compute(values) -> ndarray of shape (k, len(new_columns))`` for a block ``values`` of
        shape (k, C).
    file_format : {"parquet", "fits", "csv"}, optional
        Output format; by default from the name of ``path``.
    on_rows : callable, optional
        Called with the number of rows after each block is written (for progress bars).

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    ValueError
        If a new column name already exists, ``path`` is the source file, or ``compute``
        returns the wrong shape; or a row is not a probability vector (with its global index).
    """
    path = Path(path)
    out_format = infer_format(path, file_format)
    new_columns = [str(name) for name in new_columns]
    clashing = [name for name in new_columns if name in catalog.columns_available]
    if clashing:
        raise ValueError(
            f"{catalog.path} already has column(s) {', '.join(clashing)}; choose another suffix"
        )
    if len(set(new_columns)) != len(new_columns):
        raise ValueError(f"new column names repeat: {new_columns}")
    if path.exists() and path.resolve() == catalog.path.resolve():
        raise ValueError(f"the output {path} is the input catalogue; write to another file")

    def checked(values: np.ndarray, offset: int) -> np.ndarray:
        result = np.asarray(compute(values))
        if result.shape != (values.shape[0], len(new_columns)):
            raise ValueError(
                f"compute returned shape {result.shape} for rows {offset}.., expected "
                f"{(values.shape[0], len(new_columns))}"
            )
        return result

    if catalog.file_format == "fits" and out_format == "fits":
        return _write_fits_with_columns(catalog, path, new_columns, checked, on_rows)

    from deweight._files import atomic_path

    n_written = 0
    with atomic_path(path, keep_suffix=True) as temporary:
        writer = _ArrowTableWriter(temporary, out_format)
        try:
            offset = 0
            for table in catalog.iter_tables():
                arrays = {
                    name: _arrow_to_numpy(table.column(name).combine_chunks())
                    for name in catalog.columns
                }
                values = catalog._values(arrays, offset)
                result = checked(values, offset)
                for index, name in enumerate(new_columns):
                    table = table.append_column(name, pa.array(result[:, index]))
                writer.write(table)
                n_written += table.num_rows
                offset += table.num_rows
                if on_rows is not None:
                    on_rows(table.num_rows)
            catalog._finish_pass(offset)
            if writer._schema is None:
                # An empty catalogue still gets a header (or schema) with the new columns.
                empty = _empty_schema(catalog, new_columns)
                writer.close(empty_schema=empty)
            else:
                writer.close()
        except BaseException:
            writer.abort()
            raise
    return n_written


def _empty_schema(catalog: Catalog, new_columns: Sequence[str]) -> pa.Schema:
    """Schema of an empty output: the source's columns (as read) and the new float columns."""
    arrow_type = pa.float32() if catalog.dtype == np.float32 else pa.float64()
    fields = []
    for table in catalog.iter_tables(chunk_rows=1):
        fields = list(table.schema)
        break
    if not fields:
        fields = [pa.field(name, pa.float64()) for name in catalog.columns_available]
    return pa.schema([*fields, *(pa.field(name, arrow_type) for name in new_columns)])


def _write_fits_with_columns(
    catalog: Catalog,
    path: Path,
    new_columns: Sequence[str],
    checked: Callable[[np.ndarray, int], np.ndarray],
    on_rows: Callable[[int], None] | None,
) -> int:
    """FITS to FITS: keep every HDU and column definition, add the new columns in memory."""
    from astropy.io import fits

    from deweight._files import atomic_path

    n_rows = catalog.n_rows or 0
    results = np.empty((n_rows, len(new_columns)), dtype=catalog.dtype)
    for chunk in catalog.iter_batches():
        results[chunk.offset : chunk.offset + chunk.n_rows] = checked(chunk.values, chunk.offset)
        if on_rows is not None:
            on_rows(chunk.n_rows)
    format_code = "E" if catalog.dtype == np.float32 else "D"
    added = fits.ColDefs(
        [
            fits.Column(name=name, format=format_code, array=results[:, index])
            for index, name in enumerate(new_columns)
        ]
    )
    with (
        atomic_path(path, keep_suffix=True) as temporary,
        fits.open(catalog.path, memmap=True) as hdus,
    ):
        table_index = next(
            index
            for index, hdu in enumerate(hdus)
            if isinstance(hdu, fits.BinTableHDU | fits.TableHDU)
        )
        source = hdus[table_index]
        # An ASCII table cannot hold binary float columns; the result is a binary table.
        widened = fits.BinTableHDU.from_columns(source.columns + added, header=source.header)
        output = fits.HDUList(
            [widened if index == table_index else hdu for index, hdu in enumerate(hdus)]
        )
        output.writeto(temporary, overwrite=True)
    return n_rows
