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

Layout
------
* :mod:`deweight.io.backends` -- one reader per format (Parquet, FITS, CSV) and
  :class:`CatalogReadError`.
* :mod:`deweight.io.reading` -- :class:`Catalog`, :class:`CatalogChunk` and :func:`open_catalog`.
* :mod:`deweight.io.writing` -- :func:`write_table_atomic` and :func:`write_catalog_with_columns`.
* The format registry (:data:`FORMATS`, :func:`infer_format`, :data:`DEFAULT_CHUNK_ROWS`) lives in
  :mod:`deweight._formats`, standard library only, so that the command line can check a file
  ending without importing NumPy or Arrow; it is re-exported here.
"""

from deweight._formats import DEFAULT_CHUNK_ROWS, FORMATS, infer_format
from deweight.io.backends import CatalogReadError
from deweight.io.reading import Catalog, CatalogChunk, open_catalog
from deweight.io.writing import write_catalog_with_columns, write_table_atomic

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
