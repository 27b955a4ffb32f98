"""Atomic file output shared by every module that writes results.

A reader (or a rerun after a crash) must never see a half-written table, figure or model:
everything is written to a temporary file in the destination's directory and then renamed
over the destination, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "METADATA_KEY",
    "atomic_path",
    "read_parquet_with_metadata",
    "read_sha256sums",
    "write_csv_atomic",
    "write_parquet_atomic",
]

#: Key of the JSON document deweight stores in a Parquet file's schema metadata.
METADATA_KEY = b"deweight"


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it onto ``destination`` on success.

    Parameters
    ----------
    destination : str or os.PathLike
        The file to create or replace. Its directory is created if needed.
    keep_suffix : bool, default False
        End the temporary name with the destination's suffix (for writers that choose the
        format from the file name, e.g. matplotlib's ``savefig``).

    Yields
    ------
    Path
        Where to write. On any exception it is deleted and ``destination`` is left as it was.

    Notes
    -----
    The finished file gets the permissions a new file would get under the user's umask,
    not the private 0600 of :func:`tempfile.mkstemp`.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp{destination.suffix}" if keep_suffix else ".tmp"
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=suffix, dir=destination.parent
    )
    os.close(handle)
    temporary = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def write_parquet_atomic(
    table: pa.Table | pd.DataFrame,
    path: str | os.PathLike,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a table to Parquet atomically, with optional JSON ``metadata`` in its schema.

    Parameters
    ----------
    table : pyarrow.Table or pandas.DataFrame
        The table; a DataFrame's index is dropped.
    path : str or os.PathLike
        Destination (see :func:`atomic_path`).
    metadata : mapping, optional
        JSON-serialisable description stored under the schema key ``deweight``; read it back
        with :func:`read_parquet_with_metadata`.
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if metadata is not None:
        schema_metadata = dict(table.schema.metadata or {})
        schema_metadata[METADATA_KEY] = json.dumps(dict(metadata), sort_keys=True).encode()
        table = table.replace_schema_metadata(schema_metadata)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary)


def read_parquet_with_metadata(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read a table and its ``deweight`` schema metadata (``{}`` when it has none)."""
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    return table.to_pandas(), json.loads(raw) if raw else {}


def write_csv_atomic(frame: pd.DataFrame, path: str | os.PathLike, **to_csv_kwargs: Any) -> None:
    """Write ``frame`` as CSV through a temporary file and a rename; no index by default."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, **to_csv_kwargs)


def read_sha256sums(directory: str | os.PathLike) -> dict[str, str]:
    """File name -> SHA-256 hex digest, from ``directory/SHA256SUMS`` (``sha256sum`` format).

    Raises
    ------
    ValueError
        If the file is missing, or a line is not ``<sha256>  <file name>`` (naming the line).
    """
    sums_path = Path(directory) / "SHA256SUMS"
    if not sums_path.is_file():
        raise ValueError(f"no SHA256SUMS in {directory}; cannot verify the bundled data")
    listed: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{sums_path}:{number}: not '<sha256>  <file name>': {line!r}")
        listed[parts[1].strip().lstrip("*")] = parts[0].lower()
    return listed
