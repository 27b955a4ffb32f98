"""SDSS DR16 SpecObj, PhotoObj and TwoMass, fetched in specObjID chunks.

SkyServer's SQL search returns at most ~500,000 rows per query, and the DR16
``SpecObj`` view has several million. The queries are therefore split into ranges
of ``specObjID``, which encodes the plate number in its top bits (SDSS DR16 schema:
``specObjID = plate << 50 | fiberID << 38 | (mjd - 50000) << 24 | run2d << 10 | line``).
A range of ``P`` plates holds at most ~1,000 primary spectra per plate (the BOSS
spectrograph has 1,000 fibres), so ``P = 100`` stays far below the cap by
construction; the row count of each chunk is checked against a guard as well.

PhotoObj and TwoMass are joined to SpecObj on the server (``objID = bestObjID``)
within the same specObjID ranges, so all three tables come in the same chunks.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astroquery.sdss import SDSSClass
from astroquery.sdss import conf as sdss_conf

from deweight._docs import shared_docs

from . import tap
from .errors import ArchiveResponseError, TruncatedResultError
from .files import WRITER_DOCS, ChunkStore, Provenance, provenance_path_for
from .network import NetworkSettings, call_with_retries, probe_service, raise_for_http_status

__all__ = [
    "SPECOBJID_PLATE_SHIFT",
    "SdssTableSpec",
    "SpecObjIdRange",
    "acquire_sdss_table",
    "build_chunk_query",
    "parse_skyserver_csv",
    "plan_specobjid_ranges",
    "query_skyserver",
]

log = logging.getLogger(__name__)

SPECOBJID_PLATE_SHIFT = 50
SKYSERVER_ROW_CAP = 500_000
SKYSERVER_SERVICE = "SDSS SkyServer"
SDSS_TAP_SERVICE = "SDSS TAP service"

# SDSS identifiers are 64-bit; specObjID exceeds 2**63 for plates >= 8192, so it
# must be unsigned. Keys are lower-case column names.
ID_COLUMN_DTYPES = {
    "specobjid": "uint64",
    "bestobjid": "int64",
    "objid": "int64",
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NO_ROWS_MESSAGES = ("no objects have been found", "no rows")


@dataclass(frozen=True)
class SpecObjIdRange:
    """One chunk: the spectra of plates ``first_plate`` .. ``last_plate``.

    Attributes
    ----------
    index : int
        Position of the chunk in the plan (0-based).
    first_plate, last_plate : int
        Inclusive plate range.
    lower : int
        Inclusive lower bound on ``specObjID``.
    upper : int or None
        Exclusive upper bound on ``specObjID``; None for the last, open-ended chunk,
        so that no spectrum beyond the planned plates is ever missed.
    """

    index: int
    first_plate: int
    last_plate: int
    lower: int
    upper: int | None


@dataclass(frozen=True)
class SdssTableSpec:
    """What to fetch for one SDSS output.

    Attributes
    ----------
    name : str
        ``"specobj"``, ``"photoobj"`` or ``"twomass"``.
    table : str
        Server-side table or view, e.g. ``"SpecObj"``, ``"PhotoObj"``, ``"TwoMass"``.
    columns : tuple of str
        Columns of ``table`` to return, in output order.
    join_column : str or None
        Column of ``table`` equal to ``SpecObj.bestObjID``; None for SpecObj itself.
    """

    name: str
    table: str
    columns: tuple[str, ...]
    join_column: str | None = None

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> SdssTableSpec:
        """Build from ``archive.sdss.<name>`` (keys ``table``, ``columns``, ``join_column``)."""
        spec = cls(
            name=name,
            table=config["table"],
            columns=tuple(config["columns"]),
            join_column=config.get("join_column"),
        )
        for identifier in (spec.table, *spec.columns, spec.join_column or "x"):
            _check_identifier(identifier)
        return spec

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Columns of the output: joined tables carry ``specObjID`` first, as the key."""
        if self.join_column is None:
            return self.columns
        return ("specObjID", *self.columns)


def _check_identifier(identifier: str) -> None:
    # Column and table names go into SQL text; refuse anything but plain names.
    if not _IDENTIFIER.match(identifier):
        raise ValueError(f"Not a plain SQL identifier: {identifier!r}")


def plan_specobjid_ranges(
    plate_min: int, plate_max: int, plates_per_chunk: int
) -> list[SpecObjIdRange]:
    """Split plates ``plate_min`` .. ``plate_max`` into specObjID ranges.

    The first range starts at specObjID 0 and the last is open-ended, so the union
    of the ranges covers every specObjID whatever the plate limits.

    Parameters
    ----------
    plate_min, plate_max : int
        Inclusive plate range to plan for.
    plates_per_chunk : int
        Plates per chunk.

    Returns
    -------
    list of SpecObjIdRange
    """
    if plates_per_chunk < 1 or plate_max < plate_min or plate_min < 0:
        raise ValueError(
            f"Invalid plate plan: plates {plate_min}..{plate_max}, {plates_per_chunk} per chunk"
        )
    ranges = []
    for index, first_plate in enumerate(range(plate_min, plate_max + 1, plates_per_chunk)):
        last_plate = min(first_plate + plates_per_chunk - 1, plate_max)
        lower = 0 if index == 0 else first_plate << SPECOBJID_PLATE_SHIFT
        upper = None if last_plate == plate_max else (last_plate + 1) << SPECOBJID_PLATE_SHIFT
        ranges.append(SpecObjIdRange(index, first_plate, last_plate, lower, upper))
    return ranges


def build_chunk_query(
    spec: SdssTableSpec, chunk: SpecObjIdRange, specobj_table: str = "SpecObj"
) -> str:
    """SQL (also valid ADQL) selecting ``spec``'s columns for one specObjID range.

    Examples
    --------
    >>> spec = SdssTableSpec("specobj", "SpecObj", ("specObjID", "z"))
    >>> print(build_chunk_query(spec, SpecObjIdRange(1, 100, 199, 100 << 50, 200 << 50)))
    SELECT specObjID, z
    FROM SpecObj
    WHERE specObjID >= 112589990684262400 AND specObjID < 225179981368524800
    ORDER BY specObjID
    """
    _check_identifier(specobj_table)
    if spec.join_column is None:
        select = ", ".join(spec.columns)
        source = spec.table
        key = "specObjID"
    else:
        select = ", ".join(["s.specObjID", *(f"t.{column}" for column in spec.columns)])
        source = (
            f"{specobj_table} AS s\nJOIN {spec.table} AS t ON t.{spec.join_column} = s.bestObjID"
        )
        key = "s.specObjID"
    condition = f"{key} >= {chunk.lower}"
    if chunk.upper is not None:
        condition += f" AND {key} < {chunk.upper}"
    return f"SELECT {select}\nFROM {source}\nWHERE {condition}\nORDER BY {key}"


def parse_skyserver_csv(
    text: str, expected_columns: Sequence[str], *, url: str, content_type: str = ""
) -> pd.DataFrame:
    """Parse SkyServer's CSV answer, refusing anything that is not the asked-for table.

    SkyServer answers ``format=csv`` with a ``#Table1`` line, a header line and the
    rows. When something goes wrong it may instead answer with HTTP 200 and an HTML
    page or an error message, which a lenient CSV reader would happily turn into a
    one-column "table"; that is detected here.

    Parameters
    ----------
    text : str
        Response body.
    expected_columns : sequence of str
        Columns the query asked for, in order.
    url : str
        Request URL, for error messages.
    content_type : str
        Response Content-Type header.

    Returns
    -------
    pandas.DataFrame
        Columns named exactly as in ``expected_columns``; SDSS identifiers as 64-bit
        integers (``specObjID`` unsigned).

    Raises
    ------
    ArchiveResponseError
        For an HTML page, an error message, several tables or unexpected columns.
    """
    stripped = text.lstrip()
    if stripped.startswith("<") or "html" in content_type.lower():
        title = re.search(r"<title[^>]*>(.*?)</title>", stripped, re.IGNORECASE | re.DOTALL)
        summary = title.group(1).strip() if title else " ".join(stripped.split())[:200]
        raise ArchiveResponseError(
            f"{SKYSERVER_SERVICE} returned an HTML page instead of CSV for {url}: {summary!r}"
        )
    if "error_message" in text.lower():
        raise ArchiveResponseError(
            f"{SKYSERVER_SERVICE} reported an error for {url}: {' '.join(text.split())[:500]}"
        )
    lines = text.splitlines()
    table_markers = [line for line in lines if line.startswith("#Table")]
    if len(table_markers) > 1:
        raise ArchiveResponseError(
            f"{SKYSERVER_SERVICE} returned {len(table_markers)} tables for {url}; expected one"
        )
    body_lines = [line for line in lines if line.strip() and not line.startswith("#")]
    if not body_lines or any(
        body_lines[0].strip().lower().startswith(message) for message in _NO_ROWS_MESSAGES
    ):
        return _empty_frame(expected_columns)
    header = [name.strip() for name in body_lines[0].split(",")]
    if [name.lower() for name in header] != [name.lower() for name in expected_columns]:
        raise ArchiveResponseError(
            f"{SKYSERVER_SERVICE} answered {url} with columns {header[:12]} instead of "
            f"{list(expected_columns)}; the response is not the requested table "
            f"(first line: {body_lines[0][:200]!r})"
        )
    dtypes = {
        name: ID_COLUMN_DTYPES[name.lower()] for name in header if name.lower() in ID_COLUMN_DTYPES
    }
    try:
        frame = pd.read_csv(io.StringIO("\n".join(body_lines)), dtype=dtypes)
    except (ValueError, pd.errors.ParserError) as error:
        raise ArchiveResponseError(
            f"{SKYSERVER_SERVICE} CSV from {url} could not be parsed: {error}"
        ) from error
    frame.columns = list(expected_columns)
    return frame


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype="object") for column in columns})
    for column in columns:
        if column.lower() in ID_COLUMN_DTYPES:
            frame[column] = frame[column].astype(ID_COLUMN_DTYPES[column.lower()])
    return frame


def query_skyserver(
    sql: str,
    expected_columns: Sequence[str],
    *,
    base_url: str,
    data_release: int,
    settings: NetworkSettings,
) -> pd.DataFrame:
    """Send one SQL query to SkyServer through astroquery and parse the answer.

    ``astroquery.sdss.SDSS.query_sql`` would parse whatever comes back, so the
    asynchronous variant is used to inspect the HTTP status and body first.

    Raises
    ------
    TransientServiceError
        HTTP 5xx/429 (requests' own timeout and connection errors pass through);
        the caller retries both.
    ArchiveResponseError
        Any other unusable answer.
    """
    client = SDSSClass()
    with sdss_conf.set_temp("skyserver_baseurl", base_url.rstrip("/")):
        response = client.query_sql_async(
            sql, timeout=settings.request_timeout, data_release=data_release, cache=False
        )
    _raise_for_sql_error(response, sql)
    raise_for_http_status(response, SKYSERVER_SERVICE)
    return parse_skyserver_csv(
        response.text,
        expected_columns,
        url=response.url,
        content_type=response.headers.get("Content-Type", ""),
    )


def _raise_for_sql_error(response, sql: str) -> None:
    """SkyServer answers an SQL error with HTTP 500 and a JSON body: a permanent error.

    Retrying it for minutes as if the server were busy would only repeat the same error, so
    the message the body carries is raised at once. The body's keys are unverified
    (``shared/ARCHIVE_FACTS.md``): any key with "message" in its name is read, else the body.
    """
    if response.status_code < 500 or "json" not in response.headers.get("Content-Type", ""):
        return
    try:
        body = response.json()
    except ValueError:
        return
    messages = [
        str(value).strip()
        for key, value in (body.items() if isinstance(body, dict) else [])
        if "message" in str(key).lower() and str(value).strip()
    ]
    found = "; ".join(messages) or json.dumps(body)[:500]
    raise ArchiveResponseError(
        f"{SKYSERVER_SERVICE} rejected the SQL query (HTTP {response.status_code}): {found}. "
        f"Query: {' '.join(sql.split())[:300]}"
    )


def query_sdss_tap(
    adql: str,
    expected_columns: Sequence[str],
    *,
    tap_url: str,
    settings: NetworkSettings,
    maxrec: int,
) -> pd.DataFrame:
    """Run one chunk query against a TAP service serving SDSS DR16."""
    table = tap.run_async_query(
        tap_url, adql, service_name=SDSS_TAP_SERVICE, settings=settings, maxrec=maxrec
    )
    by_lower = {name.lower(): name for name in table.colnames}
    missing = [column for column in expected_columns if column.lower() not in by_lower]
    if missing:
        raise ArchiveResponseError(
            f"{SDSS_TAP_SERVICE} at {tap_url} returned columns {table.colnames}, missing {missing}"
        )
    frame = table[[by_lower[column.lower()] for column in expected_columns]].to_pandas()
    frame.columns = list(expected_columns)
    for column in expected_columns:
        if column.lower() in ID_COLUMN_DTYPES:
            frame[column] = _as_sdss_id(frame[column], ID_COLUMN_DTYPES[column.lower()])
    return frame


def _as_sdss_id(values: pd.Series, dtype: str) -> np.ndarray:
    """SDSS identifiers from a VOTable column, as exact 64-bit integers.

    VOTable has no unsigned 64-bit type, so a TAP service delivers specObjID either
    as a signed ``long`` (values above 2**63 wrapped to negative numbers, which the
    bit-for-bit view below restores) or as text.
    """
    if np.issubdtype(values.dtype, np.integer):
        return values.to_numpy().astype(np.int64).view(np.uint64).astype(dtype)
    return np.array([int(value) for value in values], dtype=dtype)


def _query_runner(
    service: str,
    common: Mapping[str, Any],
    columns: Sequence[str],
    network: NetworkSettings,
    data_release: int,
    max_rows: int,
) -> tuple[str, str, Callable[[str], pd.DataFrame]]:
    """The chosen service's name for messages, its URL and a function running one query."""
    if service == "skyserver":
        service_url = common["skyserver_url"]
        label, query = SKYSERVER_SERVICE, query_skyserver
        options = {"base_url": service_url, "data_release": data_release}
    elif service == "tap":
        service_url = common["tap_url"]
        label, query = SDSS_TAP_SERVICE, query_sdss_tap
        options = {"tap_url": service_url, "maxrec": max_rows}
    else:
        raise ValueError(f"archive.sdss.service must be 'skyserver' or 'tap', not {service!r}")
    run_query = partial(query, expected_columns=columns, settings=network, **options)
    return f"{label} (DR{data_release})", service_url, run_query


@shared_docs(WRITER_DOCS)
def acquire_sdss_table(
    name: str,
    common: Mapping[str, Any],
    table_settings: Mapping[str, Any],
    output: str | Path,
    *,
    network: NetworkSettings,
    specobj_table: str = "SpecObj",
    provenance_output: str | Path | None = None,
    on_chunk_done: Callable[[SpecObjIdRange, int], None] | None = None,
) -> int:
    """Fetch one SDSS DR16 table (SpecObj, or PhotoObj/TwoMass joined by bestObjID).

    Each chunk is written atomically to ``<output>.parts/`` before the next one is
    requested, so an interrupted run resumes after the last completed chunk. The
    output and its provenance sidecar appear only when every chunk is in.

    Parameters
    ----------
    name : {"specobj", "photoobj", "twomass"}
        Which output this is (used in messages and provenance).
    common : mapping
        The ``archive.sdss.common`` config shared by the three tables: ``service``
        (``"skyserver"`` or ``"tap"``), ``skyserver_url``, ``tap_url``,
        ``data_release``, ``plate_min``, ``plate_max``, ``plates_per_chunk``,
        ``max_rows_per_chunk``.
    table_settings : mapping
        The ``archive.sdss.<name>`` config: ``table``, ``columns`` and, for tables
        joined to SpecObj, ``join_column`` (see `SdssTableSpec`).
    output : path
        Parquet file to write.
    network : NetworkSettings
        Timeouts and retries.
    specobj_table : str
        Name of the SpecObj view the joined tables are matched through.
    %(provenance_output)s
    on_chunk_done : callable, optional
        Called with each chunk and its row count after it is stored (progress hook).

    %(rows_written)s
    """
    spec = SdssTableSpec.from_config(name, table_settings)
    service = common.get("service", "skyserver")
    data_release = int(common.get("data_release", 16))
    max_rows = int(common.get("max_rows_per_chunk", 400_000))
    plan = plan_specobjid_ranges(
        int(common["plate_min"]),
        int(common["plate_max"]),
        int(common["plates_per_chunk"]),
    )
    queries = [build_chunk_query(spec, chunk, specobj_table) for chunk in plan]
    service_name, service_url, run_query = _query_runner(
        service, common, spec.output_columns, network, data_release, max_rows
    )
    probe_service(service_name, service_url, network.probe_timeout_s)
    store = ChunkStore(output, ChunkStore.fingerprint(service, service_url, data_release, queries))
    for chunk, sql in zip(plan, queries, strict=True):
        if store.has(chunk.index):
            continue
        frame = call_with_retries(
            lambda sql=sql: run_query(sql),
            description=(
                f"{service_name} query for {spec.table} chunk {chunk.index + 1}/{len(plan)} "
                f"(plates {chunk.first_plate}-{chunk.last_plate}) at {service_url}"
            ),
            settings=network,
        )
        if len(frame) >= min(max_rows, SKYSERVER_ROW_CAP):
            raise TruncatedResultError(
                f"{service_name} returned {len(frame)} rows for {spec.table} chunk "
                f"{chunk.index + 1} (plates {chunk.first_plate}-{chunk.last_plate}), at or above "
                f"the guard of {min(max_rows, SKYSERVER_ROW_CAP)} rows below SkyServer's "
                f"{SKYSERVER_ROW_CAP:,}-row cap; rows may be missing. Lower "
                "archive.sdss.plates_per_chunk."
            )
        store.save(chunk.index, frame)
        log.info(
            "%s: chunk %d/%d (plates %d-%d) -> %d rows",
            spec.table,
            chunk.index + 1,
            len(plan),
            chunk.first_plate,
            chunk.last_plate,
            len(frame),
        )
        if on_chunk_done is not None:
            on_chunk_done(chunk, len(frame))

    indices = [chunk.index for chunk in plan]
    chunk_rows = store.row_counts(indices)
    rows = store.assemble(indices)
    Provenance(
        service=service_name,
        service_url=service_url,
        query=queries,
        row_count=rows,
        settings={
            "common": dict(common),
            name: dict(table_settings),
            "specobj_table": specobj_table,
        },
        extra={"chunk_row_counts": chunk_rows, "table": spec.table},
    ).write(output, provenance_output or provenance_path_for(output))
    store.discard()
    log.info("Wrote %s (%d rows)", output, rows)
    return rows
