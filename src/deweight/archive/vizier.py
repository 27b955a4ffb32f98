"""Roma-BZCAT 5 and 4LAC from VizieR, complete and checked against their known size."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning
from astropy.table import Table
from astroquery import cache_conf
from astroquery.vizier import Vizier

from deweight._docs import shared_docs

from .errors import (
    ArchiveResponseError,
    RowCountMismatchError,
    TransientServiceError,
    TruncatedResultError,
)
from .files import WRITER_DOCS, Provenance, provenance_path_for, write_parquet_atomic
from .network import NetworkSettings, call_with_retries, probe_service, raise_for_http_status
from .tap import votable_reports_overflow

__all__ = [
    "FOUR_LAC_RELEASES",
    "VIZIER_SERVICE",
    "VizierTableSpec",
    "acquire_vizier_table",
    "fetch_vizier_table",
    "resolve_4lac_spec",
]

log = logging.getLogger(__name__)

VIZIER_SERVICE = "CDS VizieR"


@dataclass(frozen=True)
class VizierTableSpec:
    """One VizieR table and the number of rows it is known to have.

    Attributes
    ----------
    catalog : str
        VizieR catalogue, e.g. ``"VII/274"``.
    table : str or None
        Table name within it (``"bzcat5"`` for ``VII/274/bzcat5``); None accepts a
        catalogue holding exactly one table.
    expected_rows : int or None
        Known size; None skips the check (with a warning).
    """

    catalog: str
    table: str | None
    expected_rows: int | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> VizierTableSpec:
        """Build from a mapping with ``catalog``, ``table``, ``expected_rows``."""
        expected = config.get("expected_rows")
        return cls(
            config["catalog"], config.get("table"), None if expected is None else int(expected)
        )

    @property
    def full_name(self) -> str:
        return self.catalog if self.table is None else f"{self.catalog}/{self.table}"


# 4LAC as in the paper (DR1, Ajello et al. 2020): VizieR J/ApJ/892/105, whose
# high-latitude file is highlat.dat (2,863 sources; the bundled cbdc/fermi4lac copy
# has the same count). DR3 (Ajello et al. 2022) is J/ApJS/263/24 with 3,407
# high-latitude sources; its VizieR table name could not be checked offline, so it
# is left open: with table None, the error lists the catalogue's tables and sizes.
FOUR_LAC_RELEASES = {
    "dr1": VizierTableSpec("J/ApJ/892/105", "highlat", 2863),
    "dr3": VizierTableSpec("J/ApJS/263/24", None, 3407),
}


def resolve_4lac_spec(config: Mapping[str, Any]) -> VizierTableSpec:
    """4LAC table spec: the ``release`` preset, overridden by any key given in ``config``."""
    release = config.get("release", "dr1")
    if release not in FOUR_LAC_RELEASES:
        raise ValueError(f"archive.vizier.4lac.release must be one of {sorted(FOUR_LAC_RELEASES)}")
    preset = FOUR_LAC_RELEASES[release]
    return VizierTableSpec(
        catalog=config.get("catalog") or preset.catalog,
        table=config.get("table") or preset.table,
        expected_rows=(
            int(config["expected_rows"])
            if config.get("expected_rows") is not None
            else preset.expected_rows
        ),
    )


def fetch_vizier_table(
    spec: VizierTableSpec, *, server: str, settings: NetworkSettings
) -> tuple[Table, str, str]:
    """Download a whole VizieR table with all columns and check it is complete.

    Uses ``astroquery.vizier`` with ``row_limit=-1`` (no limit) and ``columns=["**"]``
    (all columns). The asynchronous call exposes the HTTP response, so 5xx answers
    are retried and HTML pages are refused before parsing.

    Parameters
    ----------
    spec : VizierTableSpec
        What to fetch.
    server : str
        VizieR mirror host (``vizier.cds.unistra.fr``), optionally with ``:port``.
    settings : NetworkSettings
        Timeouts and retries.

    Returns
    -------
    table : astropy.table.Table
    table_name : str
        Full VizieR name of the table returned.
    query : str
        The exact request body sent to VizieR.

    Raises
    ------
    RowCountMismatchError
        The table does not have ``spec.expected_rows`` rows.
    TruncatedResultError
        VizieR reports an overflow.
    ArchiveResponseError
        HTML instead of VOTable, no such table, or an unparsable answer.
    """
    vizier = Vizier(
        columns=["**"], row_limit=-1, vizier_server=server, timeout=settings.request_timeout
    )
    query = vizier.get_catalogs_async(spec.catalog, get_query_payload=True)
    url = f"https://{server}/viz-bin/votable"

    def request():
        # astroquery caches responses by default; a stale cached catalogue would
        # defeat the provenance record, so the cache is off.
        with cache_conf.set_temp("cache_active", False):
            response = vizier.get_catalogs_async(spec.catalog)
        raise_for_http_status(response, VIZIER_SERVICE)
        parsed = parse_vizier_votable(response.content, what=spec.catalog, url=url)
        return parsed

    parsed = call_with_retries(
        request,
        description=f"{VIZIER_SERVICE} request for {spec.catalog} at {url}",
        settings=settings,
    )
    if votable_reports_overflow(parsed):
        raise TruncatedResultError(
            f"{VIZIER_SERVICE} reports an overflow for {spec.catalog} at {url}"
        )
    tables = {table.name or table.ID or "": table for table in parsed.iter_tables()}
    chosen = _choose_table(spec, tables, parsed, url)
    table = tables[chosen].to_table(use_names_over_ids=True)
    if spec.expected_rows is None:
        log.warning(
            "No expected row count configured for %s; %d rows not checked", chosen, len(table)
        )
    elif len(table) != spec.expected_rows:
        raise RowCountMismatchError(
            f"{VIZIER_SERVICE} table {chosen} from {url} has {len(table)} rows; the catalogue is "
            f"known to have {spec.expected_rows}. Refusing an incomplete or different table "
            "(set expected_rows if the catalogue was legitimately revised)."
        )
    return table, chosen, query


#: How VizieR says, in a VOTable answered with HTTP 200, that its database is down for now
#: (astroquery's recorded ``no_server_error.xml``): worth retrying like a 5xx.
_UNREACHABLE = re.compile(
    r"not currently reachable|no connection|no server is available|couldn't connect", re.I
)


def parse_vizier_votable(content: bytes, *, what: str, url: str):
    """Parse a VizieR VOTable answer, refusing the answers that carry no table.

    Raises
    ------
    TransientServiceError
        The VOTable's ``Error`` INFOs say the database is not reachable (retried).
    ArchiveResponseError
        Not a VOTable (an HTML page), an unparsable one, or other ``Error`` INFOs (named).
    """
    if not content.lstrip().startswith(b"<?xml") and b"VOTABLE" not in content[:2000]:
        snippet = " ".join(content[:300].decode(errors="replace").split())
        raise ArchiveResponseError(
            f"{VIZIER_SERVICE} at {url} returned something other than a VOTable for "
            f"{what}: {snippet!r}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)  # VizieR's VOTables are chatty
            parsed = votable.parse(io.BytesIO(content), verify="ignore")
    except Exception as error:  # any parse failure means an unusable answer
        raise ArchiveResponseError(
            f"{VIZIER_SERVICE} VOTable for {what} from {url} could not be parsed: {error}"
        ) from error
    infos = [*parsed.infos, *(info for resource in parsed.resources for info in resource.infos)]
    errors = [str(i.value).strip() for i in infos if i.name == "Error" and str(i.value).strip()]
    if errors:
        message = f"{VIZIER_SERVICE} at {url} answered {what} with errors: {'; '.join(errors[:6])}"
        if any(_UNREACHABLE.search(error) for error in errors):
            raise TransientServiceError(message)
        raise ArchiveResponseError(message)
    return parsed


def _choose_table(spec: VizierTableSpec, tables: Mapping[str, Any], parsed, url: str) -> str:
    sizes = ", ".join(
        f"{name} ({table.nrows if table.nrows is not None else len(table.array)} rows)"
        for name, table in tables.items()
    )
    if not tables:
        messages = [
            f"{info.name}: {info.value} {info.content or ''}".strip() for info in parsed.infos
        ]
        for resource in parsed.resources:
            messages += [
                f"{info.name}: {info.value} {info.content or ''}".strip() for info in resource.infos
            ]
        raise ArchiveResponseError(
            f"{VIZIER_SERVICE} at {url} returned no table for {spec.catalog}; "
            f"messages: {messages[:5]}"
        )
    if spec.table is None:
        if len(tables) == 1:
            return next(iter(tables))
        raise ArchiveResponseError(
            f"{VIZIER_SERVICE} catalogue {spec.catalog} has several tables: {sizes}. "
            "Set the table name in the config."
        )
    for name in tables:
        if name == spec.full_name or name.rsplit("/", 1)[-1] == spec.table:
            return name
    raise ArchiveResponseError(
        f"{VIZIER_SERVICE} catalogue {spec.catalog} at {url} has no table {spec.table!r}; "
        f"it has: {sizes}"
    )


def table_to_frame(table: Table) -> pd.DataFrame:
    """Convert an astropy table to pandas: masked values become missing, bytes become str."""
    frame = table.to_pandas()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda value: value.decode() if isinstance(value, bytes) else value
            )
    return frame


@shared_docs(WRITER_DOCS)
def acquire_vizier_table(
    label: str,
    spec: VizierTableSpec,
    output: str | Path,
    *,
    server: str,
    network: NetworkSettings,
    settings_record: Mapping[str, Any] | None = None,
    provenance_output: str | Path | None = None,
) -> int:
    """Fetch a VizieR table, check its size and write it with its provenance.

    Parameters
    ----------
    label : str
        Short name for messages, e.g. ``"Roma-BZCAT 5"``.
    spec : VizierTableSpec
        What to fetch and its expected size.
    output : path
        Parquet file to write.
    server : str
        VizieR mirror host.
    network : NetworkSettings
        Timeouts and retries.
    settings_record : mapping, optional
        Config recorded in the provenance.
    %(provenance_output)s

    %(rows_written)s
    """
    probe_service(VIZIER_SERVICE, server, network.probe_timeout_s)
    table, name, query = fetch_vizier_table(spec, server=server, settings=network)
    frame = table_to_frame(table)
    write_parquet_atomic(frame, output)
    Provenance(
        service=VIZIER_SERVICE,
        service_url=f"https://{server}/viz-bin/votable",
        query=query,
        row_count=len(frame),
        settings=dict(settings_record or {}),
        extra={"catalogue": label, "vizier_table": name, "expected_rows": spec.expected_rows},
    ).write(output, provenance_output or provenance_path_for(output))
    log.info("Wrote %s: %s, %d rows", output, name, len(frame))
    return len(frame)
