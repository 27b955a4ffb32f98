"""Atomic writes of tables and catalogues in Parquet, FITS and CSV.

Results go back on disk without ever leaving a half-written file behind: each writer writes a
temporary file beside the target and moves it into place in one step
(:func:`write_table_atomic`); :func:`write_catalog_with_columns` streams a catalogue read by
:mod:`deweight.io.reading` into a copy with new columns (corrected probabilities), block by
block, in the input's own format.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from deweight._formats import infer_format
from deweight.io.reading import Catalog, _arrow_to_numpy

__all__ = ["write_catalog_with_columns", "write_table_atomic"]


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
