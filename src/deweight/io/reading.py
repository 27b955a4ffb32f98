"""Streaming reads and atomic writes of catalogues in Parquet, FITS and CSV.

A classifier's output catalogue can be far larger than memory (the catalogue of Clarke et al.
2020 that Lake & Tsai 2022 use in §4.4 has 1.1e8 rows), so the statistics of this package accept
any object whose ``iter_chunks()`` method returns a fresh iterator over blocks of rows. This
module provides that object for files on disk, :class:`Catalog` (made by :func:`open_catalog`),
and the writers of :mod:`deweight.io.writing` put results back on disk.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from deweight._formats import DEFAULT_CHUNK_ROWS, infer_format

if TYPE_CHECKING:
    import pandas as pd
from deweight._validation import check_probabilities

__all__ = ["Catalog", "CatalogChunk", "CatalogReadError", "open_catalog"]


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
