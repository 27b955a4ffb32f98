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
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deweight._docs import shared_docs

from .catalogue_parquet import _detect_format, convert_catalogue_to_parquet
from .downloads import _reuse_download, download_with_resume
from .errors import ArchiveResponseError, RowCountMismatchError
from .files import WRITER_DOCS, Provenance, provenance_path_for
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

    ``record_api_url`` may name a version or a concept (all versions). The record API answers
    404 for a concept id (``shared/ARCHIVE_FACTS.md``), so on a 404 the id is looked up as a
    concept through the search API (``/api/records?q=conceptrecid:<id>&all_versions=true``)
    and its newest version taken. With ``follow_latest`` the version's ``links.latest`` is
    followed too, so a version id also resolves to the newest version (a server that
    redirects a concept id is followed as well). Both ids are returned for the provenance.

    Parameters
    ----------
    record_api_url : str
        ``https://zenodo.org/api/records/<id>`` (a version or concept id).
    settings : NetworkSettings
        Timeouts and retries.
    follow_latest : bool
        Follow ``links.latest`` to the newest version.

    Returns
    -------
    dict
        ``requested`` (the URL asked), ``requested_id``, ``url`` (the document's final URL),
        ``record_id`` (the version used), ``concept_id``, ``version``, ``doi``,
        ``resolved_by`` ("record", "redirect", "concept search" or "links.latest") and
        ``files`` (``key``, ``checksum``, ``size``, ``url`` each).

    Raises
    ------
    ArchiveResponseError
        The answer is not a JSON record document, or the id is neither a version nor a
        concept (the message names both URLs asked).
    """
    session = TimeoutSession(settings.request_timeout)
    document, final_url = _get_record(session, record_api_url, settings, allow_missing=True)
    resolved_by = "record" if final_url.rstrip("/") == record_api_url.rstrip("/") else "redirect"
    if document is None:
        document, final_url = _newest_version_of_concept(session, record_api_url, settings)
        resolved_by = "concept search"
    latest = (document.get("links") or {}).get("latest")
    if follow_latest and latest:
        newest, newest_url = _get_record(session, latest, settings)
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
        "requested_id": _record_id_of(record_api_url),
        "url": final_url,
        "record_id": str(document.get("id")),
        "concept_id": str(document.get("conceptrecid")) if document.get("conceptrecid") else None,
        "version": metadata.get("version"),
        "doi": document.get("doi") or metadata.get("doi"),
        "resolved_by": resolved_by,
        "files": _record_files(document),
    }


def _record_id_of(record_api_url: str) -> str:
    """The id at the end of ``.../api/records/<id>``."""
    match = re.search(r"/api/records/(\d+)/?$", record_api_url)
    if match is None:
        raise ValueError(
            f"archive.clarke2020.record_api_url must end in /api/records/<id>, got {record_api_url!r}"
        )
    return match.group(1)


def _get_json(session, url: str, settings: NetworkSettings, *, params=None, allow_missing=False):
    """GET a JSON document with retries: (document, final URL), or (None, url) for a 404."""

    def request():
        response = session.get(url, params=params, headers={"Accept": "application/json"})
        if allow_missing and response.status_code == 404:
            return None, response.url
        raise_for_http_status(response, ZENODO_SERVICE)
        try:
            return response.json(), response.url
        except ValueError as error:
            raise ArchiveResponseError(
                f"{ZENODO_SERVICE} at {response.url} did not return JSON"
            ) from error

    return call_with_retries(request, description=f"{ZENODO_SERVICE} {url}", settings=settings)


def _get_record(session, url: str, settings: NetworkSettings, *, allow_missing=False):
    """A record API document (with its ``files``) and its final URL; None for a 404 if allowed."""
    document, final_url = _get_json(session, url, settings, allow_missing=allow_missing)
    if document is None:
        return None, final_url
    if not isinstance(document, Mapping) or "files" not in document:
        keys = list(document) if isinstance(document, Mapping) else type(document)
        raise ArchiveResponseError(
            f"{ZENODO_SERVICE} record API at {url} returned no 'files' list; it has {keys}"
        )
    return document, final_url


def _newest_version_of_concept(session, record_api_url: str, settings: NetworkSettings):
    """The newest version's record document of the concept id ``record_api_url`` names."""
    concept = _record_id_of(record_api_url)
    search_url = re.sub(r"/\d+/?$", "", record_api_url)
    params = {"q": f"conceptrecid:{concept}", "all_versions": "true", "size": "100"}
    found, _ = _get_json(session, search_url, settings, params=params)
    hits = ((found or {}).get("hits") or {}).get("hits") if isinstance(found, Mapping) else None
    ids = sorted(
        (int(hit["id"]) for hit in hits or [] if str(hit.get("conceptrecid")) == concept),
        reverse=True,
    )
    if not ids:
        raise ArchiveResponseError(
            f"{ZENODO_SERVICE} record API answered 404 for {record_api_url}, and its search API "
            f"({search_url}?q=conceptrecid:{concept}&all_versions=true) lists no version of a "
            f"concept {concept}: the id is neither a version nor a concept; check "
            "archive.clarke2020.record_api_url"
        )
    log.info(
        "%s id %s is a concept id; its versions are %s; using the newest, %s",
        ZENODO_SERVICE,
        concept,
        ids,
        ids[0],
    )
    return _get_record(session, f"{search_url}/{ids[0]}", settings)


def select_record_files(
    files: Sequence[Mapping[str, Any]],
    file_sets: Sequence[Sequence[str]],
    record: str,
    *,
    unreadable: Sequence[str] = (),
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
    unreadable : sequence of str
        Files of the record left out of ``files`` for their format, named in the error.

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
        f"exactly one file); the record's files are {[*keys, *unreadable]}"
        + (
            f", of which {list(unreadable)} are in a format deweight cannot read"
            if unreadable
            else ""
        )
    )


def _readable_files(files, declared: str | None, record: str) -> list[Mapping[str, Any]]:
    """The record's files whose format is known from the name, before anything is downloaded.

    A pattern such as ``*.csv*`` also matches ``.csv.zip``, which could not be read after a
    download of gigabytes; such a file is left out here, with a warning naming it.
    """
    readable = []
    for entry in files:
        try:
            _detect_format(Path(entry["key"]), declared)
        except ValueError:
            log.warning(
                "%s record %s: %s is in a format deweight cannot read; not a candidate",
                ZENODO_SERVICE,
                record,
                entry["key"],
            )
            continue
        readable.append(entry)
    return readable


@shared_docs(WRITER_DOCS)
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
    %(provenance_output)s

    %(rows_written)s

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
    readable = _readable_files(record["files"], settings.get("format"), label)
    unreadable = [entry["key"] for entry in record["files"] if entry not in readable]
    chosen = select_record_files(readable, settings["file_sets"], label, unreadable=unreadable)
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
            entry["url"], download, settings=network, checksum=checksum, service=ZENODO_SERVICE
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
