"""Catalogues on disk: streaming reads and atomic writes, in Parquet, FITS and CSV.

* :mod:`~deweight.io.reading` -- :func:`open_catalog` and :class:`Catalog`, whose
  ``iter_chunks()`` streams blocks of rows of any size of file;
* :mod:`~deweight.io.writing` -- :func:`write_table_atomic` and
  :func:`write_catalog_with_columns`, which never leave a half-written file;
* the format registry (file endings, default chunk size) is :mod:`deweight._formats`.
"""

from deweight._formats import DEFAULT_CHUNK_ROWS, FORMATS, infer_format
from deweight.io.reading import Catalog, CatalogChunk, CatalogReadError, open_catalog
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
