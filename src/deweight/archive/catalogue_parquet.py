"""Stream a downloaded catalogue (CSV, compressed CSV, Parquet or FITS) into Parquet.

Columns are selected by name (identifiers as they are, probabilities as float32), batch by
batch, so a catalogue of 10^8 rows never sits in memory whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from deweight._docs import shared_docs

from .errors import ArchiveResponseError, RowCountMismatchError
from .files import WRITER_DOCS, atomic_path

__all__ = ["convert_catalogue_to_parquet"]

log = logging.getLogger(__name__)


def _detect_format(path: Path, declared: str | None) -> str:
    if declared and declared != "auto":
        return declared
    name = path.name.lower()
    for suffix, fmt in (
        (".csv.gz", "csv"),
        (".csv.bz2", "csv"),
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".fits", "fits"),
        (".fit", "fits"),
        (".fits.gz", "fits"),
    ):
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"Cannot tell the format of {path.name}; set archive.clarke2020.format")


def _iter_batches(
    source: Path,
    fmt: str,
    columns: Sequence[str],
    float_columns: Sequence[str],
    chunk_rows: int,
    csv_block_bytes: int,
) -> Iterator[pa.RecordBatch | pa.Table]:
    if fmt == "csv":
        # pyarrow decompresses .gz/.bz2 by extension and reads block by block.
        read_options = pa_csv.ReadOptions(block_size=csv_block_bytes)
        try:
            reader = pa_csv.open_csv(
                source,
                read_options=read_options,
                convert_options=pa_csv.ConvertOptions(
                    include_columns=list(columns),
                    column_types={column: pa.float32() for column in float_columns},
                ),
            )
        except pa.ArrowKeyError as error:
            available = pa_csv.open_csv(source, read_options=read_options).schema.names
            raise _missing_columns_error(source, columns, available) from error
        yield from reader
    elif fmt == "parquet":
        yield from pq.ParquetFile(source).iter_batches(batch_size=chunk_rows, columns=list(columns))
    elif fmt == "fits":
        from astropy.io import fits

        with fits.open(source, memmap=True) as hdus:
            data = next(hdu for hdu in hdus if isinstance(hdu, fits.BinTableHDU)).data
            for start in range(0, len(data), chunk_rows):
                rows = data[start : start + chunk_rows]
                yield pa.table(
                    {
                        column: np.asarray(rows[column]).astype(
                            rows[column].dtype.newbyteorder("=")
                        )
                        for column in columns
                    }
                )
    else:
        raise ValueError(f"Unsupported catalogue format {fmt!r}: use csv, parquet or fits")


def _missing_columns_error(
    source: Path, columns: Sequence[str], available: Sequence[str]
) -> ArchiveResponseError:
    missing = [column for column in columns if column not in available]
    return ArchiveResponseError(
        f"{source.name} lacks columns {missing}; it has {list(available)}. "
        "Set archive.clarke2020.id_columns / probability_columns."
    )


@shared_docs(WRITER_DOCS)
def convert_catalogue_to_parquet(
    source: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    id_columns: Sequence[str],
    probability_columns: Sequence[str],
    fmt: str | None = None,
    chunk_rows: int = 1_000_000,
    expected_rows: int | None = None,
    origin: str | None = None,
    csv_block_bytes: int = 64 * 1024 * 1024,
) -> int:
    """Stream a large catalogue (one file or several) into one Parquet file.

    The 111-million-row catalogue does not fit in memory comfortably, so it is read
    and written batch by batch; probabilities are stored as float32 (ample for
    values in [0, 1] and half the size). Columns are selected by name, never by
    position, so a leading unnamed index column (as pandas writes one) is ignored.

    Parameters
    ----------
    source : path or sequence of paths
        Downloaded catalogue file(s) (CSV, optionally gzip/bzip2-compressed; Parquet;
        FITS), concatenated in the order given (e.g. the per-class files).
    output : path
        Parquet file to write (atomically).
    id_columns : sequence of str
        Identifier columns to keep as they are.
    probability_columns : sequence of str
        Class-probability columns, stored as float32.
    fmt : {"csv", "parquet", "fits", "auto"}, optional
        Source format; by default inferred from each file name.
    chunk_rows : int
        Rows per batch for Parquet and FITS sources.
    expected_rows : int, optional
        Known size of the catalogue; a different count raises before the output
        is put in place.
    origin : str, optional
        Where the file came from, for error messages.
    csv_block_bytes : int
        Bytes of CSV read per batch (memory use scales with it, not with the file).

    %(rows_written)s

    Raises
    ------
    ArchiveResponseError
        A file lacks a named column (the message lists the columns it has) or all are empty.
    RowCountMismatchError
        The catalogue does not have ``expected_rows`` rows (no output is written).
    """
    sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    columns = [*id_columns, *probability_columns]
    schema = None
    rows = 0
    with atomic_path(output) as temporary:
        writer = None
        try:
            for path in sources:
                for batch in _iter_batches(
                    path,
                    _detect_format(path, fmt),
                    columns,
                    probability_columns,
                    chunk_rows,
                    csv_block_bytes,
                ):
                    table = (
                        pa.Table.from_batches([batch])
                        if isinstance(batch, pa.RecordBatch)
                        else batch
                    )
                    if not set(columns) <= set(table.column_names):
                        raise _missing_columns_error(path, columns, table.column_names)
                    table = table.select(columns)
                    table = table.cast(
                        pa.schema(
                            [
                                pa.field(
                                    name,
                                    pa.float32()
                                    if name in probability_columns
                                    else table.schema.field(name).type,
                                )
                                for name in columns
                            ]
                        )
                    )
                    if writer is None:
                        schema = table.schema
                        writer = pq.ParquetWriter(temporary, schema)
                    writer.write_table(table.cast(schema))
                    rows += table.num_rows
            if writer is None:
                raise ArchiveResponseError(
                    f"{', '.join(path.name for path in sources)} contain(s) no rows"
                )
            if expected_rows is not None and rows != int(expected_rows):
                raise RowCountMismatchError(
                    f"{origin or ', '.join(path.name for path in sources)} has {rows} rows; "
                    f"Clarke et al. (2020) list {int(expected_rows)}. No output was written."
                )
        finally:
            if writer is not None:
                writer.close()
    return rows
