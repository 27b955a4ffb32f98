"""The Clarke et al. (2020) classification catalogue from Zenodo, by the record's own file list.

Clarke et al. (2020, A&A 639, A84) published class probabilities for 111,293,033
SDSS sources (Zenodo record 10.5281/zenodo.3459293). Lake & Tsai (2022, Sect. 3.5)
use only the identifiers and the galaxy/star/QSO probabilities.

What is known and what is not (``shared/ARCHIVE_FACTS.md``): the authors' code writes
one CSV per predicted class (``SDSS-ML-galaxies``, ``-quasars``, ``-stars``; 50.4 +
2.1 + 58.8 million rows) with the columns ``objid ... class_prob_galaxy,
class_prob_quasar, class_prob_star`` and, as saved by pandas, a leading unnamed index
column. The record's actual file list, and whether 3459293 is a version or the concept
id of all versions, are not known offline. So the file names are never assumed: the
record API (``/api/records/<id>``, ``files[].key`` with ``checksum: "md5:<hex>"``) is
asked for its files, following a concept id to the latest version, and every file
matching the first configured pattern set that the record holds is downloaded
(resumable, verified against the API's MD5) and streamed into one Parquet file of
float32 probabilities, columns selected by name.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import requests

from .errors import ArchiveResponseError, ChecksumMismatchError, RowCountMismatchError
from .files import Provenance, atomic_path, file_digest, provenance_path_for
from .network import (
    NetworkSettings,
    TimeoutSession,
    call_with_retries,
    probe_service,
    raise_for_http_status,
)

__all__ = [
    "ZENODO_SERVICE",
    "acquire_clarke2020",
    "convert_catalogue_to_parquet",
    "download_with_resume",
    "fetch_zenodo_record",
    "select_record_files",
]

log = logging.getLogger(__name__)

ZENODO_SERVICE = "Zenodo"
# Bytes written per read; at most this much is lost (and fetched again) when the
# connection drops.
DOWNLOAD_BLOCK_BYTES = 64 * 1024


def _parse_checksum(checksum: str) -> tuple[str, str]:
    match = re.fullmatch(r"(md5|sha1|sha256|sha512):([0-9a-fA-F]+)", checksum.strip())
    if not match:
        raise ValueError(f"Checksum must look like 'md5:<hex>' or 'sha256:<hex>', not {checksum!r}")
    return match.group(1), match.group(2).lower()


def _record_files(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``key``, ``checksum``, ``size`` and download ``url`` of each file of a record document."""
    files = document.get("files", [])
    if isinstance(files, Mapping):  # InvenioRDM nests the list under "entries"
        entries = files.get("entries", {})
        files = list(entries.values()) if isinstance(entries, Mapping) else list(entries)
    html = (document.get("links") or {}).get("html")
    result = []
    for entry in files:
        key = entry.get("key") or entry.get("filename")
        links = entry.get("links") or {}
        url = links.get("content") or links.get("self") or links.get("download")
        if url is None and html:
            url = f"{html.rstrip('/')}/files/{key}?download=1"
        result.append(
            {"key": key, "checksum": entry.get("checksum"), "size": entry.get("size"), "url": url}
        )
    return result


def fetch_zenodo_record(
    record_api_url: str, *, settings: NetworkSettings, follow_latest: bool = True
) -> dict[str, Any]:
    """A Zenodo record's identity and file list, from its record API document.

    A concept id is redirected by Zenodo to the latest version (HTTP redirects are
    followed); with ``follow_latest`` the document's ``links.latest`` is followed too,
    so a version id also resolves to the newest version. Which version was used is
    returned for the provenance.

    Parameters
    ----------
    record_api_url : str
        ``https://zenodo.org/api/records/<id>`` (a record or concept id).
    settings : NetworkSettings
        Timeouts and retries.
    follow_latest : bool
        Follow ``links.latest`` to the newest version.

    Returns
    -------
    dict
        ``requested`` (the URL asked), ``url`` (the document's final URL), ``record_id``,
        ``concept_id``, ``version``, ``doi``, ``resolved_by`` ("record", "redirect" or
        "links.latest") and ``files`` (``key``, ``checksum``, ``size``, ``url`` each).

    Raises
    ------
    ArchiveResponseError
        The answer is not a JSON record document.
    """
    session = TimeoutSession(settings.request_timeout)

    def get(url: str) -> tuple[dict, str]:
        def request() -> tuple[dict, str]:
            response = session.get(url, headers={"Accept": "application/json"})
            raise_for_http_status(response, ZENODO_SERVICE)
            try:
                document = response.json()
            except ValueError as error:
                raise ArchiveResponseError(
                    f"{ZENODO_SERVICE} record API at {url} did not return JSON"
                ) from error
            if not isinstance(document, Mapping) or "files" not in document:
                keys = list(document) if isinstance(document, Mapping) else type(document)
                raise ArchiveResponseError(
                    f"{ZENODO_SERVICE} record API at {url} returned no 'files' list; it has {keys}"
                )
            return document, response.url

        return call_with_retries(
            request, description=f"{ZENODO_SERVICE} record API {url}", settings=settings
        )

    document, final_url = get(record_api_url)
    resolved_by = "record" if final_url.rstrip("/") == record_api_url.rstrip("/") else "redirect"
    latest = (document.get("links") or {}).get("latest")
    if follow_latest and latest:
        newest, newest_url = get(latest)
        if str(newest.get("id")) != str(document.get("id")):
            log.info(
                "%s record %s has a newer version %s; using it",
                ZENODO_SERVICE,
                document.get("id"),
                newest.get("id"),
            )
            document, final_url, resolved_by = newest, newest_url, "links.latest"
    metadata = document.get("metadata") or {}
    return {
        "requested": record_api_url,
        "url": final_url,
        "record_id": str(document.get("id")),
        "concept_id": str(document.get("conceptrecid")) if document.get("conceptrecid") else None,
        "version": metadata.get("version"),
        "doi": document.get("doi") or metadata.get("doi"),
        "resolved_by": resolved_by,
        "files": _record_files(document),
    }


def select_record_files(
    files: Sequence[Mapping[str, Any]], file_sets: Sequence[Sequence[str]], record: str
) -> list[Mapping[str, Any]]:
    """The files of the first pattern set of which every pattern matches exactly one file.

    Parameters
    ----------
    files : sequence of mapping
        The record's files (``key`` each), as from :func:`fetch_zenodo_record`.
    file_sets : sequence of sequence of str
        Alternatives, in order of preference; each a list of shell-style patterns
        (``fnmatch``, case-sensitive), e.g. the three per-class CSVs, then an ``-all`` file.
    record : str
        Record name for messages.

    Raises
    ------
    ArchiveResponseError
        No set matches; the message lists the record's files and the patterns.
    """
    keys = [entry["key"] for entry in files]
    for patterns in file_sets:
        chosen = []
        for pattern in patterns:
            matches = [entry for entry in files if fnmatch.fnmatchcase(entry["key"], pattern)]
            if len(matches) != 1:
                break
            chosen.append(matches[0])
        else:
            if len({entry["key"] for entry in chosen}) == len(chosen):
                return chosen
    raise ArchiveResponseError(
        f"{ZENODO_SERVICE} record {record} holds no file set matching "
        f"archive.clarke2020.file_sets {[list(p) for p in file_sets]} (each pattern must match "
        f"exactly one file); the record's files are {keys}"
    )


def download_with_resume(
    url: str,
    destination: str | Path,
    *,
    settings: NetworkSettings,
    checksum: str | None = None,
    service: str = ZENODO_SERVICE,
) -> dict[str, Any]:
    """Stream ``url`` to ``destination``, resuming an interrupted download.

    Bytes go to ``<destination>.part``. A rerun (or a retry after a dropped
    connection) asks for the remainder with an HTTP ``Range`` header; a server that
    ignores it (HTTP 200) is answered by starting over. Only a complete file whose
    checksum matches is moved to ``destination``.

    Parameters
    ----------
    url : str
        File URL.
    destination : path
        Where the complete file goes.
    settings : NetworkSettings
        Timeouts and retries.
    checksum : str, optional
        ``"<algorithm>:<hex>"`` (md5, sha1, sha256 or sha512).
    service : str
        Service name for messages.

    Returns
    -------
    dict
        ``bytes``, ``md5``, ``sha256`` and the verified ``checksum`` (or None).

    Raises
    ------
    ChecksumMismatchError
        The complete file does not match ``checksum``; the partial file is deleted
        so that the next run starts afresh.
    TransientServiceError
        The download kept failing after every retry (the ``.part`` file is kept for
        the next run to resume).
    """
    destination = Path(destination)
    partial = Path(str(destination) + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    session = TimeoutSession(settings.request_timeout)

    def attempt() -> None:
        offset = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with session.get(url, headers=headers, stream=True) as response:
            if response.status_code == 416 and offset:
                total = _total_from_content_range(response.headers.get("Content-Range", ""))
                if total == offset:
                    log.info("%s: %s already complete (%d bytes)", service, partial, offset)
                    return
                log.warning("%s refused the resume range for %s; starting over", service, url)
                partial.unlink()
                raise requests.exceptions.ConnectionError("range not satisfiable; restarting")
            raise_for_http_status(response, service)
            if response.status_code == 206:
                start = _start_from_content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    partial.unlink(missing_ok=True)
                    raise ArchiveResponseError(
                        f"{service} at {url} resumed at byte {start}, not {offset}"
                    )
                expected_total = _total_from_content_range(
                    response.headers.get("Content-Range", "")
                )
                mode = "ab"
                log.info("%s: resuming %s at byte %d", service, destination.name, offset)
            else:
                if offset:
                    log.warning("%s ignored the Range request for %s; starting over", service, url)
                offset = 0
                length = response.headers.get("Content-Length")
                expected_total = int(length) if length is not None else None
                mode = "wb"
            with open(partial, mode) as stream:
                for block in response.iter_content(DOWNLOAD_BLOCK_BYTES):
                    stream.write(block)
        size = partial.stat().st_size
        if expected_total is not None and size < expected_total:
            # urllib3 normally raises on a short body; this guards the remaining cases.
            raise requests.exceptions.ConnectionError(
                f"download of {url} stopped at {size} of {expected_total} bytes"
            )
        if expected_total is not None and size > expected_total:
            partial.unlink()
            raise ArchiveResponseError(
                f"{service} at {url}: received {size} bytes, more than the announced "
                f"{expected_total}"
            )

    call_with_retries(attempt, description=f"Download of {url} from {service}", settings=settings)

    digests = _digests(partial, ("md5", "sha256"))
    verified = None
    if checksum:
        algorithm, expected = _parse_checksum(checksum)
        actual = digests.get(algorithm) or file_digest(partial, algorithm)
        if actual != expected:
            partial.unlink()
            raise ChecksumMismatchError(
                f"{service} file {url}: {algorithm} {actual} does not match the expected "
                f"{expected}; the download was deleted"
            )
        verified = f"{algorithm}:{expected}"
    os.replace(partial, destination)
    return {"bytes": destination.stat().st_size, **digests, "checksum": verified}


def _reuse_download(download: Path, checksum: str | None) -> dict[str, Any] | None:
    """Details of an earlier complete download, or None if there is none to reuse.

    A file only reaches its final name once complete (and verified when a checksum
    was known), so it is reused; with a checksum now known it is verified again and
    deleted on mismatch.
    """
    if not download.exists():
        return None
    if checksum:
        algorithm, expected = _parse_checksum(checksum)
        if file_digest(download, algorithm) != expected:
            log.warning("Earlier download %s fails its checksum; downloading again", download)
            download.unlink()
            return None
    log.info("Reusing the complete download %s", download)
    return {"bytes": download.stat().st_size, "checksum": checksum or None, "reused": True}


def _start_from_content_range(header: str) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", header)
    return int(match.group(1)) if match else None


def _total_from_content_range(header: str) -> int | None:
    match = re.search(r"/(\d+)$", header.strip())
    return int(match.group(1)) if match else None


def _digests(path: Path, algorithms: Sequence[str]) -> dict[str, str]:
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as stream:
        while block := stream.read(8 * 1024 * 1024):
            for hasher in hashers.values():
                hasher.update(block)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


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

    Returns
    -------
    int
        Rows written.

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


def acquire_clarke2020(
    settings: Mapping[str, Any],
    output: str | Path,
    *,
    network: NetworkSettings,
    provenance_output: str | Path | None = None,
) -> int:
    """Download the Clarke et al. (2020) catalogue named by its Zenodo record; write Parquet.

    The record API is asked for the files (a concept id resolves to the latest
    version); the first of ``file_sets`` that the record holds is downloaded, each file
    resumable and verified against the MD5 the API lists (or a configured checksum).
    Downloads are kept under ``<download_dir>/<record id>/`` (reused by a rerun that
    only changes the columns) unless ``keep_download`` is false. The total row count is
    compared with ``expected_rows``: a difference is a warning recorded in the
    provenance (``row_count_check``), or an error with ``on_row_count_mismatch: error``.

    Parameters
    ----------
    settings : mapping
        The ``archive.clarke2020`` config: ``record_api_url``, ``follow_latest``,
        ``file_sets``, ``checksums``, ``download_dir``, ``keep_download``, ``format``,
        ``id_columns``, ``probability_columns``, ``expected_rows``,
        ``on_row_count_mismatch``, ``chunk_rows``.
    output : path
        Parquet file to write.
    network : NetworkSettings
        Timeouts and retries.
    provenance_output : path, optional
        Sidecar path; defaults to ``<output>.provenance.json``.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    ArchiveResponseError
        The record holds no matching file set, or a file lacks a named column.
    ChecksumMismatchError
        A download does not match its checksum (it is deleted).
    RowCountMismatchError
        The row count differs and ``on_row_count_mismatch`` is ``error``.
    """
    api_url = settings["record_api_url"]
    probe_service(ZENODO_SERVICE, api_url, network.probe_timeout_s)
    record = fetch_zenodo_record(
        api_url, settings=network, follow_latest=bool(settings.get("follow_latest", True))
    )
    label = f"{record['record_id']} (asked: {api_url})"
    chosen = select_record_files(record["files"], settings["file_sets"], label)
    log.info(
        "%s record %s (version %s, via %s): downloading %s",
        ZENODO_SERVICE,
        record["record_id"],
        record["version"],
        record["resolved_by"],
        [entry["key"] for entry in chosen],
    )
    configured = dict(settings.get("checksums") or {})
    download_dir = Path(settings["download_dir"]) / record["record_id"]
    downloads, paths = [], []
    for entry in chosen:
        key = entry["key"]
        if not entry["url"]:
            raise ArchiveResponseError(
                f"{ZENODO_SERVICE} record {label} lists {key} without a download link"
            )
        checksum = configured.get(key) or entry["checksum"]
        if not checksum:
            log.warning(
                "No checksum configured or published for %s; its MD5/SHA-256 are recorded in "
                "the provenance so archive.clarke2020.checksums can pin it",
                key,
            )
        download = download_dir / Path(key).name
        info = _reuse_download(download, checksum) or download_with_resume(
            entry["url"], download, settings=network, checksum=checksum
        )
        downloads.append(
            {
                "file_name": key,
                "url": entry["url"],
                "checksum_origin": "config" if key in configured else "Zenodo record API",
                **info,
            }
        )
        paths.append(download)

    rows = convert_catalogue_to_parquet(
        paths,
        output,
        id_columns=list(settings["id_columns"]),
        probability_columns=list(settings["probability_columns"]),
        fmt=settings.get("format"),
        chunk_rows=int(settings.get("chunk_rows", 1_000_000)),
        origin=f"{ZENODO_SERVICE} record {label}",
    )
    expected = settings.get("expected_rows")
    row_count_check: dict[str, Any] = {"expected": expected, "found": rows}
    if expected is None:
        row_count_check["result"] = "not checked"
    elif rows == int(expected):
        row_count_check["result"] = "ok"
    else:
        message = (
            f"{ZENODO_SERVICE} record {label} files {[entry['key'] for entry in chosen]} hold "
            f"{rows} rows; Clarke et al. (2020) list {int(expected)}"
        )
        if settings.get("on_row_count_mismatch", "warn") == "error":
            Path(output).unlink(missing_ok=True)
            raise RowCountMismatchError(message + ". No output was kept.")
        log.warning("%s (recorded in the provenance)", message)
        row_count_check.update(result="mismatch", warning=message)
    Provenance(
        service=ZENODO_SERVICE,
        service_url=record["url"],
        query=[f"GET {api_url}", *(f"GET {entry['url']}" for entry in chosen)],
        row_count=rows,
        settings=dict(settings),
        extra={
            "record": {key: value for key, value in record.items() if key != "files"},
            "record_files": [entry["key"] for entry in record["files"]],
            "downloads": downloads,
            "row_count_check": row_count_check,
            "probabilities_dtype": "float32",
        },
    ).write(output, provenance_output or provenance_path_for(output))
    if not settings.get("keep_download", True):
        for path in paths:
            path.unlink(missing_ok=True)
    log.info("Wrote %s (%d rows)", output, rows)
    return rows
