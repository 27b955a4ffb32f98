"""Format back ends: read blocks of named columns of a Parquet, FITS or CSV file.

Each back end reads blocks of named columns as 1-D NumPy arrays, and blocks of every column as
Arrow tables (for writing a catalogue back out with new columns). :class:`deweight.io.Catalog`
chooses one by the file's format and turns its blocks into probability arrays.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CatalogReadError"]


class CatalogReadError(OSError):
    """A catalogue file exists but cannot be read in the expected format.

    The message names the file and the format it was read as, followed by the reader's own
    explanation.
    """


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
