"""The Clarke et al. (2020) classification catalogue from Zenodo.

Clarke et al. (2020, A&A 639, A84) published class probabilities for 111,293,033
SDSS sources (Zenodo record 10.5281/zenodo.3459293). Lake & Tsai (2022, §3.5) use
only the identifiers and the galaxy/star/QSO probabilities.

Assumption, stated because it could not be checked offline: the exact file name
and format of the record's catalogue are unknown here. The authors' code
(github.com/informationcake/SDSS-ML, ``SDSS_ML_classifynew.py``) names the columns
``objid``, ``class_prob_galaxy``, ``class_prob_quasar`` and ``class_prob_star``,
so those are the defaults; URL, file name, columns, format and checksum are all
configuration (``archive.clarke2020``). If no checksum is configured, the one
Zenodo publishes in its record API is used when that is reachable; otherwise the
file's MD5 and SHA-256 are recorded in the provenance for pinning.
"""

from __future__ import annotations

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
    "fetch_zenodo_checksum",
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


def fetch_zenodo_checksum(
    record_api_url: str, file_name: str, *, settings: NetworkSettings
) -> str | None:
    """The checksum Zenodo publishes for ``file_name`` in a record's API document.

    Zenodo's record API (``https://zenodo.org/api/records/<id>``) lists the files as
    ``{"files": [{"key": name, "checksum": "md5:<hex>", ...}]}``.

    Returns
    -------
    str or None
        ``"md5:<hex>"``, or None if the record does not list the file.
    """
    session = TimeoutSession(settings.request_timeout)

    def request() -> dict:
        response = session.get(record_api_url, headers={"Accept": "application/json"})
        raise_for_http_status(response, ZENODO_SERVICE)
        try:
            return response.json()
        except ValueError as error:
            raise ArchiveResponseError(
                f"{ZENODO_SERVICE} record API at {record_api_url} did not return JSON"
            ) from error

    document = call_with_retries(
        request, description=f"{ZENODO_SERVICE} record API {record_api_url}", settings=settings
    )
    files = document.get("files", [])
    if isinstance(files, Mapping):  # some API versions nest entries under "entries"
        files = list(files.get("entries", {}).values())
    for entry in files:
        if entry.get("key") == file_name or entry.get("filename") == file_name:
            return entry.get("checksum")
    return None


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
    source: str | Path,
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
    """Stream a large catalogue into Parquet, keeping only the needed columns.

    The 111-million-row catalogue does not fit in memory comfortably, so it is read
    and written batch by batch; probabilities are stored as float32 (ample for
    values in [0, 1] and half the size).

    Parameters
    ----------
    source : path
        Downloaded catalogue (CSV, optionally gzip/bzip2-compressed; Parquet; FITS).
    output : path
        Parquet file to write (atomically).
    id_columns : sequence of str
        Identifier columns to keep as they are.
    probability_columns : sequence of str
        Class-probability columns, stored as float32.
    fmt : {"csv", "parquet", "fits", "auto"}, optional
        Source format; by default inferred from the file name.
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
    RowCountMismatchError
        The catalogue does not have ``expected_rows`` rows (no output is written).
    """
    source = Path(source)
    fmt = _detect_format(source, fmt)
    columns = [*id_columns, *probability_columns]
    schema = None
    rows = 0
    with atomic_path(output) as temporary:
        writer = None
        try:
            for batch in _iter_batches(
                source, fmt, columns, probability_columns, chunk_rows, csv_block_bytes
            ):
                table = (
                    pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
                )
                if not set(columns) <= set(table.column_names):
                    raise _missing_columns_error(source, columns, table.column_names)
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
                raise ArchiveResponseError(f"{source.name} contains no rows")
            if expected_rows is not None and rows != int(expected_rows):
                raise RowCountMismatchError(
                    f"{origin or source.name} has {rows} rows; Clarke et al. (2020) list "
                    f"{int(expected_rows)}. No output was written (set "
                    "archive.clarke2020.expected_rows to null to accept a different file)."
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
    """Download the Clarke et al. (2020) catalogue and convert it to Parquet.

    The download is kept in ``settings["download_dir"]`` (resumable; reused by a
    rerun that only changes the columns) unless ``keep_download`` is false.

    Parameters
    ----------
    settings : mapping
        The ``archive.clarke2020`` config: ``url``, ``file_name``, ``checksum``,
        ``record_api_url``, ``download_dir``, ``keep_download``, ``format``,
        ``id_columns``, ``probability_columns``, ``expected_rows``, ``chunk_rows``.
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
    """
    url = settings["url"]
    file_name = settings["file_name"]
    download = Path(settings["download_dir"]) / file_name
    probe_service(ZENODO_SERVICE, url, network.probe_timeout_s)

    checksum = settings.get("checksum")
    checksum_origin = "config" if checksum else None
    if not checksum and settings.get("record_api_url"):
        try:
            checksum = fetch_zenodo_checksum(
                settings["record_api_url"], file_name, settings=network
            )
        except ArchiveResponseError as error:
            # The file itself may still be downloadable; its hashes get recorded.
            log.warning("Could not read the checksum from the Zenodo record API: %s", error)
        checksum_origin = "Zenodo record API" if checksum else None
    if not checksum:
        log.warning(
            "No checksum configured or published for %s; its MD5/SHA-256 are recorded in the "
            "provenance so archive.clarke2020.checksum can pin it",
            file_name,
        )

    download_info = _reuse_download(download, checksum)
    if download_info is None:
        download_info = download_with_resume(url, download, settings=network, checksum=checksum)

    id_columns = list(settings["id_columns"])
    probability_columns = list(settings["probability_columns"])
    rows = convert_catalogue_to_parquet(
        download,
        output,
        id_columns=id_columns,
        probability_columns=probability_columns,
        fmt=settings.get("format"),
        chunk_rows=int(settings.get("chunk_rows", 1_000_000)),
        expected_rows=settings.get("expected_rows"),
        origin=url,
    )
    Provenance(
        service=ZENODO_SERVICE,
        service_url=url,
        query=f"GET {url}",
        row_count=rows,
        settings=dict(settings),
        extra={
            "download": {**download_info, "file_name": file_name},
            "checksum_origin": checksum_origin,
            "probabilities_dtype": "float32",
        },
    ).write(output, provenance_output or provenance_path_for(output))
    if not settings.get("keep_download", True):
        download.unlink(missing_ok=True)
    log.info("Wrote %s (%d rows)", output, rows)
    return rows
