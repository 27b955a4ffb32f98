"""4LAC with its counterpart positions: the paper's DR1, the Fermi-LAT DR3 files, or VizieR.

Lake & Tsai (2022, Sect. 3.4) match Roma-BZCAT to the position of each 4LAC source's
counterpart (their "radio companion"). That position is certain to exist in the official
Fermi-LAT FITS files (``RA_Counterpart``/``DEC_Counterpart`` in DR1 and DR3 alike). The
paper used DR1, whose download location could not be verified offline
(``shared/ARCHIVE_FACTS.md``), so the default source is ``bundled``: the official DR1 files
(v19) shipped in ``resources/bundled/``, checked against their SHA-256 in ``SHA256SUMS``.
``fermi`` downloads the DR3 files from the FSSC like the Clarke et al. file (streamed,
resumable, checksummed when a checksum is known, provenance sidecar). The VizieR table is a configurable alternative whose labels are mapped
explicitly in the config, because VizieR uses its own labels (``4FGL``, ``RAJ2000``,
``Class``, ...) and whether its 4LAC tables carry the counterpart position, under which
label, is not verified (``shared/ARCHIVE_FACTS.md``).

Whatever the source, the table goes through one explicit column map
(:func:`deweight.lac_columns.lac_column_map`); a table lacking a mapped column stops
the rule with a message naming the service, the table and the columns it has, and
nothing is written. The output always has the Fermi-LAT DR3 column names
(:data:`LAC_OUTPUT_COLUMNS`), so :func:`deweight.catalog.read_4lac` reads it unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pandas as pd
from astropy.table import Table

from deweight._docs import shared_docs
from deweight._files import read_sha256sums
from deweight.lac_columns import LAC_FITS_COLUMNS, lac_column_map

from .downloads import _reuse_download, download_with_resume
from .errors import ArchiveResponseError, ChecksumMismatchError, RowCountMismatchError
from .files import WRITER_DOCS, Provenance, file_digest, provenance_path_for, write_parquet_atomic
from .network import NetworkSettings, probe_service
from .vizier import (
    VIZIER_SERVICE,
    VizierTableSpec,
    fetch_vizier_table,
    resolve_4lac_spec,
    table_to_frame,
)

__all__ = ["FERMI_SERVICE", "LAC_OUTPUT_COLUMNS", "acquire_4lac", "fermi_file_urls"]

log = logging.getLogger(__name__)

FERMI_SERVICE = "Fermi-LAT FSSC"
BUNDLED_4LAC = "bundled Fermi-LAT 4LAC DR1 (official v19 files)"

#: Role -> column name of the 4LAC output (the DR3 FITS names), plus ``source_table``.
LAC_OUTPUT_COLUMNS = LAC_FITS_COLUMNS["dr3"]


def fermi_file_urls(settings: Mapping[str, Any]) -> list[str]:
    """URLs of the configured Fermi-LAT 4LAC FITS files: ``files`` resolved against ``page_url``."""
    page = settings["page_url"]
    if not page.endswith("/"):
        page += "/"
    return [urljoin(page, name) for name in settings["files"]]


def _mapped_frame(
    frame: pd.DataFrame, columns: Mapping[str, str], service: str, table: str
) -> pd.DataFrame:
    """The 4LAC rows under the output names; stops naming service, table and columns found."""
    label = f"{service} table {table}"
    try:
        mapped = lac_column_map(frame, columns, label)
    except ValueError as error:
        raise ArchiveResponseError(str(error)) from error
    result = pd.DataFrame(
        {LAC_OUTPUT_COLUMNS[role]: frame[column].to_numpy() for role, column in mapped.items()}
    )
    if LAC_OUTPUT_COLUMNS["assoc"] not in result:
        result[LAC_OUTPUT_COLUMNS["assoc"]] = ""
    positions = result[[LAC_OUTPUT_COLUMNS["ra"], LAC_OUTPUT_COLUMNS["dec"]]]
    if len(result) and positions.apply(pd.to_numeric, errors="coerce").isna().all(axis=None):
        raise ArchiveResponseError(
            f"{label}: the counterpart position columns {mapped['ra']!r}/{mapped['dec']!r} hold "
            "no number; the paper matches BZCAT to the counterpart position (Sect. 3.4)"
        )
    result["source_table"] = table
    return result


def _fits_frame(path: Path) -> pd.DataFrame:
    """The first binary table of a FITS file, one-dimensional columns only, bytes decoded."""
    table = Table.read(path, format="fits")
    flat = [name for name in table.colnames if table[name].ndim <= 1]
    return table_to_frame(table[flat])


def _acquire_fermi(settings: Mapping[str, Any], network: NetworkSettings):
    urls = fermi_file_urls(settings)
    probe_service(FERMI_SERVICE, urls[0], network.probe_timeout_s)
    checksums = dict(settings.get("checksums") or {})
    download_dir = Path(settings["download_dir"])
    parts, downloads = [], []
    for url, name in zip(urls, settings["files"], strict=True):
        download = download_dir / Path(name).name
        checksum = checksums.get(name)
        info = _reuse_download(download, checksum) or download_with_resume(
            url, download, settings=network, checksum=checksum, service=FERMI_SERVICE
        )
        try:
            frame = _fits_frame(download)
        except (OSError, ValueError) as error:
            raise ArchiveResponseError(
                f"{FERMI_SERVICE} file {url} is not a readable FITS table: {error}"
            ) from error
        parts.append(_mapped_frame(frame, settings["columns"], FERMI_SERVICE, name))
        log.info("%s: %s (%d bytes) -> %d rows", FERMI_SERVICE, name, info["bytes"], len(frame))
        downloads.append({"url": url, "file_name": name, **info})
    return (
        pd.concat(parts, ignore_index=True),
        FERMI_SERVICE,
        settings["page_url"],
        [f"GET {url}" for url in urls],
        {"downloads": downloads},
    )


def _bundled_sha256(path: Path) -> str:
    """The SHA-256 the ``SHA256SUMS`` file beside ``path`` lists for it."""
    try:
        listed = read_sha256sums(path.parent)
    except ValueError as error:
        raise ArchiveResponseError(f"{path}: {error}; refusing an unverified 4LAC") from None
    if path.name not in listed:
        raise ArchiveResponseError(
            f"{path} has no checksum in {path.parent / 'SHA256SUMS'}; refusing an unverified 4LAC"
        )
    return listed[path.name]


def _acquire_bundled(settings: Mapping[str, Any]):
    """The paper's 4LAC DR1 from its bundled copy of the official Fermi-LAT files, verified."""
    parts, files = [], []
    for name in settings["files"]:
        path = Path(name)
        expected, actual = _bundled_sha256(path), file_digest(path, "sha256")
        if actual != expected:
            raise ChecksumMismatchError(
                f"{path} has SHA-256 {actual}, not the {expected} of SHA256SUMS: the bundled 4LAC "
                "was changed; restore it from git"
            )
        parts.append(_mapped_frame(_fits_frame(path), settings["columns"], BUNDLED_4LAC, path.name))
        files.append({"file_name": str(path), "sha256": actual})
        log.info("%s: %s (SHA-256 verified) -> %d rows", BUNDLED_4LAC, path, len(parts[-1]))
    query = [f"read {entry['file_name']}" for entry in files]
    return (
        pd.concat(parts, ignore_index=True),
        BUNDLED_4LAC,
        "resources/bundled",
        query,
        {"files": files},
    )


def _acquire_vizier(settings: Mapping[str, Any], server: str | None, network: NetworkSettings):
    if not server:
        raise ValueError(
            "archive.4lac.source 'vizier' needs the VizieR server (archive.vizier.server)"
        )
    spec: VizierTableSpec = resolve_4lac_spec(settings)
    probe_service(VIZIER_SERVICE, server, network.probe_timeout_s)
    table, name, query = fetch_vizier_table(
        VizierTableSpec(spec.catalog, spec.table, None), server=server, settings=network
    )
    frame = _mapped_frame(table_to_frame(table), settings["columns"], VIZIER_SERVICE, name)
    return frame, VIZIER_SERVICE, f"https://{server}/viz-bin/votable", query, {"vizier_table": name}


@shared_docs(WRITER_DOCS)
def acquire_4lac(
    settings: Mapping[str, Any],
    output: str | Path,
    *,
    network: NetworkSettings,
    vizier_server: str | None = None,
    provenance_output: str | Path | None = None,
) -> int:
    """Fetch 4LAC with counterpart positions and write it under the DR3 FITS column names.

    Parameters
    ----------
    settings : mapping
        The ``archive.4lac`` config: ``source`` (``bundled``, ``fermi`` or ``vizier``) and that
        source's block. ``bundled``: ``files`` (paths, each listed in the ``SHA256SUMS`` beside
        it), ``columns``, ``expected_rows``. ``fermi``: ``page_url``, ``files``, ``checksums`` (file name ->
        ``md5:``/``sha256:``; optional), ``columns``, ``expected_rows``, ``download_dir``.
        ``vizier``: ``release``, ``catalog``, ``table``, ``columns``, ``expected_rows``.
    output : path
        Parquet file to write.
    network : NetworkSettings
        Timeouts and retries.
    vizier_server : str, optional
        VizieR host (``archive.vizier.server``); needed for ``source: vizier``.
    %(provenance_output)s

    %(rows_written)s

    Raises
    ------
    ArchiveResponseError
        A table lacks a column of the column map (the message lists the columns it has) or
        has no counterpart position; nothing is written.
    RowCountMismatchError
        The rows do not add up to ``expected_rows``; nothing is written.
    """
    source = settings["source"]
    if source not in ("bundled", "fermi", "vizier"):
        raise ValueError(
            f"archive.4lac.source must be 'bundled', 'fermi' or 'vizier', not {source!r}"
        )
    chosen = settings[source]
    if source == "bundled":
        frame, service, service_url, query, extra = _acquire_bundled(chosen)
    elif source == "fermi":
        frame, service, service_url, query, extra = _acquire_fermi(chosen, network)
    else:
        frame, service, service_url, query, extra = _acquire_vizier(chosen, vizier_server, network)
    expected = chosen.get("expected_rows")
    if expected is not None and len(frame) != int(expected):
        raise RowCountMismatchError(
            f"4LAC from {service} ({sorted(set(frame['source_table']))}) has {len(frame)} rows; "
            f"archive.4lac.{source}.expected_rows is {int(expected)}. Nothing was written."
        )
    if expected is None:
        log.warning(
            "No expected row count for 4LAC from %s; %d rows not checked", service, len(frame)
        )
    write_parquet_atomic(frame, output)
    Provenance(
        service=service,
        service_url=service_url,
        query=query,
        row_count=len(frame),
        settings={"source": source, source: dict(chosen)},
        extra={**extra, "column_map": dict(chosen["columns"]), "output_columns": list(frame)},
    ).write(output, provenance_output or provenance_path_for(output))
    log.info("Wrote %s: 4LAC from %s, %d rows", output, service, len(frame))
    return len(frame)
