"""Atomic writing and reading of prepared catalogues (Parquet with task metadata, CSV)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from deweight._files import METADATA_KEY, read_parquet_with_metadata, write_csv_atomic
from deweight._files import write_parquet_atomic as _write_parquet_atomic

__all__ = [
    "METADATA_KEY",
    "REQUIRED_METADATA",
    "read_prepared",
    "write_csv_atomic",
    "write_parquet_atomic",
]

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
        json.dumps(dict(metadata))
    except TypeError as error:
        raise ValueError(
            f"metadata for {os.fspath(path)} is not JSON-serialisable: {error}"
        ) from error
    _write_parquet_atomic(df, path, metadata)


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
    df, metadata = read_parquet_with_metadata(path)
    if not metadata:
        raise ValueError(
            f"{os.fspath(path)} has no deweight metadata; was it written by write_parquet_atomic?"
        )
    return df, metadata
