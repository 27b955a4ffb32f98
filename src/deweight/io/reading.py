"""Reading: :class:`Catalog`, a table on disk read in blocks of rows as many times as asked.

:func:`open_catalog` makes one; the format's back end (:mod:`deweight.io.backends`) reads the
blocks, this module turns them into float arrays of the requested columns and checks them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from deweight._formats import DEFAULT_CHUNK_ROWS, infer_format
from deweight._validation import check_probabilities
from deweight.io.backends import _BACKENDS, CatalogReadError

__all__ = ["Catalog", "CatalogChunk", "open_catalog"]


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
