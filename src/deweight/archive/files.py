"""Atomic output files, provenance sidecars and resumable chunk storage."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# One atomic-write mechanism for the whole package; re-exported for the archive clients.
from deweight._files import atomic_path, write_parquet_atomic

__all__ = [
    "ChunkStore",
    "Provenance",
    "atomic_path",
    "file_digest",
    "package_versions",
    "provenance_path_for",
    "write_json_atomic",
    "write_parquet_atomic",
]

log = logging.getLogger(__name__)

PROVENANCE_SUFFIX = ".provenance.json"
RECORDED_PACKAGES = (
    "deweight",
    "astroquery",
    "pyvo",
    "astropy",
    "numpy",
    "pandas",
    "pyarrow",
    "requests",
)


def write_json_atomic(document: Mapping[str, Any], destination: str | os.PathLike) -> None:
    """Write a JSON document atomically (see `atomic_path`)."""
    with atomic_path(destination) as temporary:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def provenance_path_for(output: str | os.PathLike) -> Path:
    """The sidecar path of an output: ``<output>.provenance.json``."""
    return Path(str(output) + PROVENANCE_SUFFIX)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 8 MiB blocks so large files fit in memory."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        while block := stream.read(8 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape a download."""
    versions = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


#: Docstring sections of the functions that write a fetched table beside its provenance
#: sidecar, filled in by :func:`deweight._docs.shared_docs`.
WRITER_DOCS = {
    "provenance_output": """\
provenance_output : path, optional
    Sidecar path; defaults to ``<output>.provenance.json``.
""",
    "rows_written": """\
Returns
-------
int
    Rows written.
""",
}


@dataclass
class Provenance:
    """What a raw output is and where it came from; written next to it as JSON.

    Parameters
    ----------
    service : str
        Human-readable service name, e.g. ``"SDSS SkyServer (DR16)"``.
    service_url : str
        Endpoint that answered.
    query : str or list of str
        Exact query text (or texts, one per chunk) sent to the service.
    row_count : int
        Rows in the output.
    settings : mapping
        The configuration that defined the query (columns, chunking, radius, ...).
    extra : mapping
        Anything else worth recording (per-chunk row counts, checksums, ...).
    """

    service: str
    service_url: str
    query: str | list[str]
    row_count: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    retrieved_utc: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def to_document(self, output: str | os.PathLike) -> dict[str, Any]:
        """The JSON document describing ``output`` (which must already exist)."""
        return {
            "output": Path(output).name,
            "service": self.service,
            "service_url": self.service_url,
            "query": self.query,
            "retrieved_utc": self.retrieved_utc,
            "row_count": int(self.row_count),
            "sha256": file_digest(output),
            "settings": dict(self.settings),
            "package_versions": package_versions(),
            **({"extra": dict(self.extra)} if self.extra else {}),
        }

    def write(self, output: str | os.PathLike, sidecar: str | os.PathLike | None = None) -> Path:
        """Write the sidecar for ``output`` atomically and return its path."""
        sidecar = Path(sidecar) if sidecar is not None else provenance_path_for(output)
        write_json_atomic(self.to_document(output), sidecar)
        return sidecar


class ChunkStore:
    """Resumable storage of a download made of numbered chunks.

    Chunks are kept in ``<output>.parts/`` as ``chunk-00000.parquet`` etc., each
    written atomically, together with a manifest naming the query plan they belong
    to. A rerun with the same plan skips the chunks already present; a changed plan
    (a query change) discards them. Once every chunk is present, `assemble` writes
    the output atomically and removes the directory.

    Parameters
    ----------
    output : path
        The final output file.
    plan_fingerprint : str
        Identifies the full plan (service, query texts); see `fingerprint`.
    """

    MANIFEST = "manifest.json"

    def __init__(self, output: str | os.PathLike, plan_fingerprint: str):
        self.output = Path(output)
        self.directory = Path(str(self.output) + ".parts")
        self.plan_fingerprint = plan_fingerprint
        self._open()

    @staticmethod
    def fingerprint(*parts: Any) -> str:
        """A stable hash of JSON-serialisable plan parts."""
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _open(self) -> None:
        manifest_path = self.directory / self.MANIFEST
        if manifest_path.exists():
            try:
                recorded = json.loads(manifest_path.read_text()).get("plan_fingerprint")
            except (json.JSONDecodeError, OSError):
                recorded = None
            if recorded == self.plan_fingerprint:
                present = len(self.completed())
                if present:
                    log.info("Resuming %s: %d chunk(s) already fetched", self.output, present)
                return
            log.info("Query plan of %s changed; discarding stored chunks", self.output)
            shutil.rmtree(self.directory)
        elif self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic({"plan_fingerprint": self.plan_fingerprint}, manifest_path)

    def chunk_path(self, index: int) -> Path:
        """Path of chunk number ``index``."""
        return self.directory / f"chunk-{index:05d}.parquet"

    def has(self, index: int) -> bool:
        """Whether chunk ``index`` was completed by this or an earlier run."""
        return self.chunk_path(index).exists()

    def completed(self) -> list[int]:
        """Indices of the chunks already stored."""
        return sorted(
            int(path.stem.split("-")[1]) for path in self.directory.glob("chunk-*.parquet")
        )

    def save(self, index: int, table: pa.Table | pd.DataFrame) -> None:
        """Store chunk ``index`` atomically."""
        write_parquet_atomic(table, self.chunk_path(index))

    def row_counts(self, indices: Sequence[int]) -> list[int]:
        """Row counts of the stored chunks, read from Parquet metadata only."""
        return [pq.ParquetFile(self.chunk_path(index)).metadata.num_rows for index in indices]

    def assemble(self, indices: Sequence[int]) -> int:
        """Concatenate chunks ``indices`` in order into the output, atomically.

        Chunk schemas can differ where a chunk had no rows or only missing values
        in a column (a CSV reader then guesses ``double`` for what is text
        elsewhere). A column's type is therefore taken from the chunks where it
        holds values; all-missing columns are cast to it.

        Returns
        -------
        int
            Number of rows written.
        """
        paths = [self.chunk_path(index) for index in indices]
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise FileNotFoundError(f"Cannot assemble {self.output}: missing chunks {missing}")
        schema = _schema_from_values(paths)
        rows = 0
        with atomic_path(self.output) as temporary:
            with pq.ParquetWriter(temporary, schema) as writer:
                for path in paths:
                    table = pq.read_table(path).replace_schema_metadata(None)
                    table = _conform(table, schema)
                    writer.write_table(table)
                    rows += table.num_rows
        return rows

    def discard(self) -> None:
        """Remove the chunk directory (after a successful assembly)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _schema_from_values(paths: Sequence[Path]) -> pa.Schema:
    """Unified schema of the chunk files, ignoring columns that are entirely missing."""
    order: list[str] = []
    typed: dict[str, list[pa.Schema]] = {}
    for path in paths:
        table = pq.read_table(path)
        for name in table.column_names:
            if name not in typed:
                order.append(name)
                typed[name] = []
            column = table.column(name)
            if column.null_count < len(column):
                typed[name].append(pa.schema([pa.field(name, column.type)]))
    fields = []
    for name in order:
        if typed[name]:
            fields.append(pa.unify_schemas(typed[name], promote_options="permissive").field(name))
        else:
            fields.append(pa.field(name, pa.null()))
    return pa.schema(fields)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/cast ``table`` to ``schema``, adding all-null columns it lacks."""
    columns = []
    for schema_field in schema:
        if schema_field.name in table.column_names:
            column = table.column(schema_field.name)
            if column.null_count == len(column):
                column = pa.nulls(len(column), type=schema_field.type)
            columns.append(column.cast(schema_field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=schema_field.type))
    return pa.Table.from_arrays(columns, schema=schema)
