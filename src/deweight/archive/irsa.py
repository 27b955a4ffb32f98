"""AllWISE photometry for the SDSS spectra, through IRSA's TAP service with table upload.

The SDSS positions are uploaded in chunks of at most 50,000 (one asynchronous TAP
job each); every AllWISE source within the match radius (3 arcsec, Lake & Tsai 2022
§3.3) comes back, and the nearest one is kept, with its separation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table

from deweight._docs import shared_docs

from . import tap
from .errors import ArchiveResponseError
from .files import WRITER_DOCS, ChunkStore, Provenance, file_digest, provenance_path_for
from .network import NetworkSettings, probe_service
from .sdss import _check_identifier

__all__ = [
    "ALLWISE_SERVICE",
    "AllwiseSpec",
    "acquire_allwise",
    "build_allwise_adql",
    "nearest_matches",
]

log = logging.getLogger(__name__)

ALLWISE_SERVICE = "IRSA TAP (AllWISE)"
UPLOAD_TABLE = "sdss_positions"
SEPARATION_COLUMN = "separation_arcsec"


@dataclass(frozen=True)
class AllwiseSpec:
    """The AllWISE cross-match to run.

    Attributes
    ----------
    tap_url : str
        IRSA TAP base URL.
    table : str
        ``allwise_p3as_psd``.
    columns : tuple of str
        AllWISE columns to return; ``ra`` and ``dec`` are needed for the separation.
    radius_arcsec : float
        Match radius.
    positions_per_job : int
        Uploaded positions per TAP job (IRSA handles up to ~50,000 comfortably).
    maxrec : int
        Row limit per job; reaching it is treated as truncation.
    key_column : str
        Identifier carried from the positions file into the output.
    """

    tap_url: str
    table: str
    columns: tuple[str, ...]
    radius_arcsec: float
    positions_per_job: int
    maxrec: int
    key_column: str = "specObjID"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AllwiseSpec:
        """Build from the ``archive.allwise`` config mapping."""
        spec = cls(
            tap_url=config["tap_url"],
            table=config["table"],
            columns=tuple(config["columns"]),
            radius_arcsec=float(config["radius_arcsec"]),
            positions_per_job=int(config["positions_per_job"]),
            maxrec=int(config["maxrec"]),
            key_column=config.get("key_column", "specObjID"),
        )
        for identifier in (spec.table, *spec.columns, spec.key_column):
            _check_identifier(identifier)
        missing = {"ra", "dec"} - {column.lower() for column in spec.columns}
        if missing:
            raise ValueError(f"archive.allwise.columns must include {sorted(missing)}")
        if not 0 < spec.positions_per_job <= 50_000:
            raise ValueError("archive.allwise.positions_per_job must be in 1..50000")
        return spec


def build_allwise_adql(spec: AllwiseSpec) -> str:
    """ADQL matching the uploaded positions to AllWISE within ``spec.radius_arcsec``.

    Examples
    --------
    >>> spec = AllwiseSpec("https://irsa.ipac.caltech.edu/TAP", "allwise_p3as_psd",
    ...                    ("ra", "dec", "w1flux"), 3.0, 50000, 500000)
    >>> print(build_allwise_adql(spec))
    SELECT u.source_index, w.ra, w.dec, w.w1flux
    FROM TAP_UPLOAD.sdss_positions AS u, allwise_p3as_psd AS w
    WHERE CONTAINS(POINT('ICRS', w.ra, w.dec), CIRCLE('ICRS', u.ra, u.dec, 0.000833333333)) = 1
    """
    select = ", ".join(["u.source_index", *(f"w.{column}" for column in spec.columns)])
    radius_deg = f"{spec.radius_arcsec / 3600.0:.12g}"
    return (
        f"SELECT {select}\n"
        f"FROM TAP_UPLOAD.{UPLOAD_TABLE} AS u, {spec.table} AS w\n"
        f"WHERE CONTAINS(POINT('ICRS', w.ra, w.dec), "
        f"CIRCLE('ICRS', u.ra, u.dec, {radius_deg})) = 1"
    )


def nearest_matches(
    positions: pd.DataFrame, matches: pd.DataFrame, *, key_column: str
) -> pd.DataFrame:
    """Keep, for each uploaded position, the nearest AllWISE source and its separation.

    Parameters
    ----------
    positions : pandas.DataFrame
        Uploaded positions with columns ``source_index``, ``ra``, ``dec`` (degrees)
        and ``key_column``.
    matches : pandas.DataFrame
        TAP result: ``source_index`` plus AllWISE columns including ``ra``, ``dec``.
    key_column : str
        Identifier to carry over (``specObjID``).

    Returns
    -------
    pandas.DataFrame
        One row per matched position: ``key_column``, the AllWISE columns and
        ``separation_arcsec``, ordered by ``source_index``.
    """
    if matches.empty:
        columns = [key_column, *[c for c in matches.columns if c != "source_index"]]
        return pd.DataFrame(columns=[*columns, SEPARATION_COLUMN])
    by_index = positions.set_index("source_index")
    unknown = ~matches["source_index"].isin(by_index.index)
    if unknown.any():
        raise ArchiveResponseError(
            f"{ALLWISE_SERVICE} returned source_index values that were not uploaded: "
            f"{matches.loc[unknown, 'source_index'].unique()[:5].tolist()}"
        )
    uploaded = by_index.loc[matches["source_index"].to_numpy()]
    sdss_coords = SkyCoord(uploaded["ra"].to_numpy() * u.deg, uploaded["dec"].to_numpy() * u.deg)
    wise_coords = SkyCoord(
        np.asarray(matches["ra"], dtype=float) * u.deg,
        np.asarray(matches["dec"], dtype=float) * u.deg,
    )
    with_separation = matches.assign(
        **{SEPARATION_COLUMN: sdss_coords.separation(wise_coords).to_value(u.arcsec)}
    )
    nearest_rows = with_separation.groupby("source_index")[SEPARATION_COLUMN].idxmin()
    nearest = with_separation.loc[nearest_rows.to_numpy()].sort_values("source_index")
    nearest.insert(0, key_column, by_index.loc[nearest["source_index"], key_column].to_numpy())
    return nearest.drop(columns="source_index").reset_index(drop=True)


@shared_docs(WRITER_DOCS)
def acquire_allwise(
    positions_path: str | Path,
    allwise_settings: Mapping[str, Any],
    output: str | Path,
    *,
    network: NetworkSettings,
    provenance_output: str | Path | None = None,
    on_chunk_done: Callable[[int, int], None] | None = None,
) -> int:
    """Cross-match the SDSS positions to AllWISE and write the nearest matches.

    Parameters
    ----------
    positions_path : path
        Parquet file with the key column (``specObjID``), ``ra`` and ``dec``
        (``resources/archive/sdss_specobj.parquet``).
    allwise_settings : mapping
        The ``archive.allwise`` config (see `AllwiseSpec`).
    output : path
        Parquet file to write.
    network : NetworkSettings
        Timeouts, retries, TAP polling and job time limit.
    %(provenance_output)s
    on_chunk_done : callable, optional
        Called with the chunk index and its number of matches (progress hook).

    Returns
    -------
    int
        Number of SDSS sources with an AllWISE match.
    """
    spec = AllwiseSpec.from_config(allwise_settings)
    adql = build_allwise_adql(spec)
    positions = pd.read_parquet(positions_path, columns=[spec.key_column, "ra", "dec"])
    positions.insert(0, "source_index", np.arange(len(positions), dtype=np.int64))
    starts = list(range(0, len(positions), spec.positions_per_job))

    positions_sha256 = file_digest(positions_path)

    probe_service(ALLWISE_SERVICE, spec.tap_url, network.probe_timeout_s)
    # The positions file is part of the plan: new SDSS positions invalidate old chunks.
    store = ChunkStore(
        output,
        ChunkStore.fingerprint(
            spec.tap_url, adql, spec.positions_per_job, spec.maxrec, positions_sha256
        ),
    )
    for index, start in enumerate(starts):
        if store.has(index):
            continue
        chunk = positions.iloc[start : start + spec.positions_per_job]
        upload = Table(
            {
                "source_index": chunk["source_index"].to_numpy(),
                "ra": chunk["ra"].to_numpy(dtype=float),
                "dec": chunk["dec"].to_numpy(dtype=float),
            }
        )
        result = tap.run_async_query(
            spec.tap_url,
            adql,
            service_name=ALLWISE_SERVICE,
            settings=network,
            maxrec=spec.maxrec,
            uploads={UPLOAD_TABLE: upload},
        )
        matches = _result_frame(result, spec)
        nearest = nearest_matches(chunk, matches, key_column=spec.key_column)
        store.save(index, nearest)
        log.info(
            "AllWISE chunk %d/%d: %d positions, %d AllWISE rows, %d matched",
            index + 1,
            len(starts),
            len(chunk),
            len(matches),
            len(nearest),
        )
        if on_chunk_done is not None:
            on_chunk_done(index, len(nearest))

    indices = list(range(len(starts)))
    if not indices:
        raise ArchiveResponseError(f"No positions in {positions_path} to match to AllWISE")
    rows = store.assemble(indices)
    Provenance(
        service=ALLWISE_SERVICE,
        service_url=spec.tap_url,
        query=adql,
        row_count=rows,
        settings=dict(allwise_settings),
        extra={
            "positions_file": Path(positions_path).name,
            "positions_sha256": positions_sha256,
            "positions": len(positions),
            "jobs": len(starts),
            "chunk_row_counts": store.row_counts(indices),
            "match": "nearest AllWISE source within radius_arcsec; separation_arcsec from "
            "astropy SkyCoord.separation",
        },
    ).write(output, provenance_output or provenance_path_for(output))
    store.discard()
    log.info("Wrote %s (%d matched sources)", output, rows)
    return rows


def _result_frame(result: Table, spec: AllwiseSpec) -> pd.DataFrame:
    by_lower = {name.lower(): name for name in result.colnames}
    wanted: Sequence[str] = ("source_index", *spec.columns)
    missing = [column for column in wanted if column.lower() not in by_lower]
    if missing:
        raise ArchiveResponseError(
            f"{ALLWISE_SERVICE} at {spec.tap_url} returned columns {result.colnames}, "
            f"missing {missing}"
        )
    frame = result[[by_lower[column.lower()] for column in wanted]].to_pandas()
    frame.columns = list(wanted)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(
                lambda value: value.decode() if isinstance(value, bytes) else value
            )
    return frame
