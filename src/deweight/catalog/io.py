"""Atomic writing and reading of prepared catalogues (Parquet with task metadata, CSV)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deweight._files import atomic_path

__all__ = [
    "METADATA_KEY",
    "REQUIRED_METADATA",
    "read_prepared",
    "write_csv_atomic",
    "write_parquet_atomic",
]

#: Key of the JSON document in the Parquet schema metadata.
METADATA_KEY = b"deweight"

#: Metadata every prepared table must carry.
REQUIRED_METADATA: tuple[str, ...] = ("task", "features", "class_names", "source")


def write_parquet_atomic(
    df: pd.DataFrame, path: str | os.PathLike, metadata: Mapping[str, Any]
) -> None:
    """Write ``df`` to Parquet with ``metadata`` in the schema, all or nothing.

    The table is written to a temporary file in the destination directory and moved into place
    with :func:`os.replace`, so a reader never sees a half-written file and an interrupted run
    leaves the previous file (or none).

    Parameters
    ----------
    df : pandas.DataFrame
        The prepared table.
    path : path
        Destination file; its directory is created if needed.
    metadata : mapping
        JSON-serialisable; must contain ``task``, ``features``, ``class_names`` and ``source``
        (e.g. "bundled" or "archive"); may hold more (cut-flow, config, provenance).

    Raises
    ------
    ValueError
        If a required metadata key is missing, a listed feature is not a column of ``df``, or
        the metadata is not JSON-serialisable.
    """
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"metadata for {os.fspath(path)} is missing required key(s) {missing}")
    absent = [f for f in metadata["features"] if f not in df.columns]
    if absent:
        raise ValueError(f"features {absent} named in the metadata are not columns of the table")
    try:
        document = json.dumps(dict(metadata), sort_keys=True)
    except TypeError as error:
        raise ValueError(
            f"metadata for {os.fspath(path)} is not JSON-serialisable: {error}"
        ) from error
    table = pa.Table.from_pandas(df, preserve_index=False)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = document.encode()
    table = table.replace_schema_metadata(schema_metadata)
    _atomic_write(path, lambda temporary: pq.write_table(table, temporary), suffix=".parquet")


def read_prepared(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a table written by :func:`write_parquet_atomic`.

    Parameters
    ----------
    path : path
        The Parquet file.

    Returns
    -------
    df : pandas.DataFrame
    metadata : dict
        The metadata stored with the table.

    Raises
    ------
    ValueError
        If the file carries no deweight metadata.
    """
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError(
            f"{os.fspath(path)} has no deweight metadata; was it written by write_parquet_atomic?"
        )
    return table.to_pandas(), json.loads(raw.decode())


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike, **to_csv_kwargs: Any) -> None:
    """Write ``df`` as CSV via a temporary file and :func:`os.replace` (all or nothing).

    Parameters
    ----------
    df : pandas.DataFrame
    path : path
    **to_csv_kwargs
        Passed to :meth:`pandas.DataFrame.to_csv`; ``index`` defaults to False.
    """
    to_csv_kwargs.setdefault("index", False)
    _atomic_write(path, lambda temporary: df.to_csv(temporary, **to_csv_kwargs), suffix=".csv")


def _atomic_write(path: str | os.PathLike, write: Callable[[str], None], suffix: str) -> None:
    """Call ``write(temporary)`` and move the result onto ``path`` (see ``atomic_path``)."""
    with atomic_path(path, keep_suffix=True) as temporary:
        write(str(temporary))
