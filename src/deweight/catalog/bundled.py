"""Offline stand-ins for the paper's real-data tasks, built from the files in resources/bundled/.

The archives the paper queries cannot be reached offline, and no bundled file has WISE or 2MASS
photometry for ordinary galaxies, stars and QSOs. So the stand-ins use SDSS optical colours
(``u-g``, ``g-r``, ``r-i``, ``i-z``) of real, spectroscopically classified objects:

* ``sga`` -- galaxy / star / QSO from the 10,000-object SDSS DR14 sample; QSOs
  (about 8.5 %) are the rare class. Stands in for Section 3.3.
* ``blazar`` -- the same sample plus BL Lacs and FSRQs of the merged BZCAT + 4LAC
  catalogue that have SDSS magnitudes in the bundled BZCAT compilation, subsampled to rare
  fractions. Stands in for Section 3.4.

Magnitudes: the DR14 sample's ``u g r i z`` are the ``PhotoObj`` shorthand magnitudes (model
magnitudes), not dereddened. The BZCAT compilation's ``u g r i z`` were scraped from the SDSS
DR17 SkyServer Explore summary page at each BZCAT position (the object nearest that position),
which shows the same ``PhotoObj`` model magnitudes, also not dereddened (``extinction_r`` is a
separate column). The ten objects in both files (within 5'') have identical u g r i z in the
two (differences below 0.0005 mag), so the two pages report the same measurements. Hence no
dereddening is applied to either sample: the two are treated consistently, and colours of
low-latitude blazars carry Galactic reddening just as those of the DR14 objects do. The two
samples are still two different selections, and the blazar rows' magnitudes come from a
different SDSS release page; the ``sample`` column keeps each row's provenance ("sdss_dr14" or
"bzcat5").

Outputs made from these tables must say "SDSS DR14 optical sample" and must not present
themselves as the paper's WISE results (resources/bundled/PROVENANCE.md).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from deweight._docs import shared_docs
from deweight._files import read_sha256sums
from deweight.catalog._output import finish_table
from deweight.catalog._steps import class_and_position_cuts, relabel_blazars
from deweight.catalog._tables import SENTINEL_ABS, as_float, require_columns
from deweight.catalog.blazars import BLAZAR_CLASSES, read_bzcat
from deweight.catalog.config import PREPARER_DOCS, resolve_prepare_config
from deweight.catalog.cutflow import CutFlow
from deweight.registry import TaskSpec

__all__ = [
    "BUNDLED_FILES",
    "BundledDataError",
    "OPTICAL_BANDS",
    "prepare_bundled_blazar_task",
    "prepare_bundled_star_galaxy_qso",
    "verify_bundled",
]

#: The bundled data files and what each is.
BUNDLED_FILES: Mapping[str, str] = {
    "sdss_dr14_specphoto_sample_10k.csv": "SDSS DR14 spectroscopic objects with class and ugriz",
    "bzcat5_with_photometry.csv": "Roma-BZCAT 5 with SDSS/WISE/2MASS photometry (compilation)",
    "4lac_dr1_highlat.fits": "Fermi-LAT 4LAC DR1 (official v19), high latitude (the paper's 4LAC)",
    "4lac_dr1_lowlat.fits": "Fermi-LAT 4LAC DR1 (official v19), low latitude",
    "4lac_dr3_highlat.fits": "Fermi-LAT 4LAC-DR3, high latitude",
    "4lac_dr3_lowlat.fits": "Fermi-LAT 4LAC-DR3, low latitude",
}

#: SDSS optical bands of the stand-in features.
OPTICAL_BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")

_DR14_SAMPLE = "sdss_dr14"
_BZCAT_SAMPLE = "bzcat5"
#: Radius within which a BZCAT row is the same source as a merged-catalogue blazar when the
#: merged table carries no BZCAT names, arcsec.
_BZCAT_POSITION_MATCH_ARCSEC = 1.0


class BundledDataError(ValueError):
    """A bundled data file is missing or differs from its recorded SHA-256."""


def verify_bundled(directory: str | os.PathLike) -> dict[str, str]:
    """Check every file listed in ``directory/SHA256SUMS`` against its recorded SHA-256.

    Parameters
    ----------
    directory : path
        Directory holding the files and ``SHA256SUMS`` (``sha256sum`` format:
        ``<hex digest>  <file name>``): the workflow's ``resources/bundled/``, which the
        caller names (the installed package does not know where a checkout is).

    Returns
    -------
    dict of str to str
        File name -> verified SHA-256 hex digest.

    Raises
    ------
    BundledDataError
        If ``SHA256SUMS`` is missing or malformed, or any listed file is missing or has a
        different digest; the message lists every problem.
    """
    directory = Path(directory)
    try:
        expected = read_sha256sums(directory)
    except ValueError as error:
        raise BundledDataError(str(error)) from None
    problems, verified = [], {}
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        actual = _sha256(path)
        if actual != digest:
            problems.append(f"{name}: SHA-256 is {actual}, SHA256SUMS records {digest}")
        else:
            verified[name] = actual
    if problems:
        raise BundledDataError(
            f"bundled data in {directory} does not match SHA256SUMS (restore the files from the "
            "sources in PROVENANCE.md):\n  " + "\n  ".join(problems)
        )
    return verified


@shared_docs(PREPARER_DOCS)
def prepare_bundled_star_galaxy_qso(
    sdss_csv: str | os.PathLike | pd.DataFrame, *, task: TaskSpec, config: Mapping[str, Any]
) -> tuple[pd.DataFrame, CutFlow]:
    """Galaxy / star / QSO table in SDSS optical colours from the bundled DR14 sample.

    Quality cuts, each counted: SDSS class not one the task keeps (``task.sdss_classes``:
    GALAXY, STAR, QSO); non-finite position; any of
    ``u g r i z`` missing or non-finite; any a sentinel (``|m| >= 999``, e.g. -9999, the SDSS
    "no measurement" value); any outside the open interval ``bundled_magnitude_range``
    (10, 30) mag. The range is a sanity bound, not a completeness cut: SDSS imaging saturates
    near 14 mag and reaches about 22-23 mag, so a value below 10 or above 30 is a failed
    measurement rather than a source. On the bundled file every cut removes 0 rows (all 10,000
    objects are kept); the cuts are there so that a different export is cleaned the same way.

    Features ``u-g``, ``g-r``, ``r-i``, ``i-z``; classes (the bundled entry's) galaxy, star, qso
    (labels 0, 1, 2); unstratified random split as for Table 3; ``sample`` = "sdss_dr14".

    Parameters
    ----------
    sdss_csv : path or pandas.DataFrame
        The bundled ``sdss_dr14_specphoto_sample_10k.csv`` (or its contents).
    %(task_config)s

    Returns
    -------
    table : pandas.DataFrame
        Columns ``ra``, ``dec``, ``u-g``, ``g-r``, ``r-i``, ``i-z``, ``label``, ``class_name``,
        ``split``, ``sample``.
    %(cutflow_raises)s
    """
    cfg = resolve_prepare_config(config)
    frame, label = _read_frame(sdss_csv)
    cutflow = CutFlow(len(frame), name=f"{task.source}/{task.task}")
    table = _dr14_optical_cuts(frame, label, cutflow, cfg, task.sdss_classes, step_prefix="")
    class_names = table["class"].map(dict(task.sdss_classes))
    result = finish_table(table, _optical_colours(table), class_names, task, _DR14_SAMPLE, cfg)
    return result, cutflow


@shared_docs(PREPARER_DOCS)
def prepare_bundled_blazar_task(
    sdss_csv: str | os.PathLike | pd.DataFrame,
    bzcat_csv: str | os.PathLike | pd.DataFrame,
    blazars: pd.DataFrame,
    *,
    task: TaskSpec,
    config: Mapping[str, Any],
) -> tuple[pd.DataFrame, CutFlow]:
    """Galaxy / star / QSO / BL Lac / FSRQ table in SDSS optical colours (offline stand-in).

    1. The DR14 sample is cleaned as in :func:`prepare_bundled_star_galaxy_qso`; its sources
       within ``blazar_label_radius_arcsec`` (5'') of a merged blazar take the blazar's class
       (Section 3.4's rule; about ten do).
    2. BZCAT rows that are merged-catalogue blazars are found by BZCAT name (or, if the merged
       table has no ``bzcat_name`` column, by position within 1''); they take the merged class
       (so 4LAC's class wins where the merge says so). Rows without usable ``u g r i z`` are
       cut as for the DR14 sample, and rows within the label radius of a kept DR14 source are
       cut because that source is already in the table.
    3. BL Lacs and FSRQs are drawn at random (seeded by ``split_seed``, stream 1) so that each
       makes up ``bundled_blazar_fractions`` of the final table (defaults 0.005 and 0.01),
       counting the relabelled DR14 sources; the rest of the pool is cut as "subsampled away".

    Every input row of both files is in the output or counted in the cut-flow, whose
    ``rows_in`` is the sum of the two files' rows; steps are prefixed "sdss_dr14:" or
    "bzcat5:". Features ``u-g``, ``g-r``, ``r-i``, ``i-z`` (no dereddening, see the module
    documentation); classes (the bundled entry's) galaxy, star, qso, bll, fsrq (labels 0-4); split
    stratified by class, as for Table 4, so that both rare classes are in dev and test.

    Parameters
    ----------
    sdss_csv : path or pandas.DataFrame
        The bundled DR14 sample.
    bzcat_csv : path or pandas.DataFrame
        The bundled ``bzcat5_with_photometry.csv``.
    %(blazars_task_config)s

    Returns
    -------
    table : pandas.DataFrame
        Columns ``ra``, ``dec``, the four colours, ``label``, ``class_name``, ``split``,
        ``sample``; ``attrs["diagnostics"]`` holds the relabelling counts, pool sizes and
        targets.
    %(cutflow_raises)s
        Also if the pool has too few BL Lacs or FSRQs for the requested fractions.
    """
    cfg = resolve_prepare_config(config)
    frame, sdss_label = _read_frame(sdss_csv)
    bzcat_frame, bzcat_label = _read_frame(bzcat_csv)
    blazars = require_columns(blazars, ("ra", "dec", "blazar_class"), "merged blazar table")
    cutflow = CutFlow(len(frame) + len(bzcat_frame), name=f"{task.source}/{task.task}")
    # The BZCAT rows are not processed until the DR14 cuts are done, so account for them as a
    # block that the DR14 steps do not touch.
    sdss_flow = CutFlow(len(frame))
    sdss = _dr14_optical_cuts(
        frame, sdss_label, sdss_flow, cfg, task.sdss_classes, step_prefix="sdss_dr14: "
    )
    for entry in sdss_flow.steps:
        cutflow.record(entry.step, entry.reason, entry.removed)

    radius = cfg["blazar_label_radius_arcsec"]
    sdss_classes, blazar_labels, relabelled_from = relabel_blazars(
        sdss, task.sdss_classes, blazars, radius
    )
    diagnostics: dict[str, Any] = {
        "dr14_relabelled_from": relabelled_from,
        "dr14_relabelled_to": {c: int(np.sum(blazar_labels == c)) for c in BLAZAR_CLASSES},
    }

    bzcat_flow = CutFlow(len(bzcat_frame))
    pool = read_bzcat(
        bzcat_frame, keep_columns=OPTICAL_BANDS, cutflow=bzcat_flow, table_name=bzcat_label
    )
    pool_class = _merged_class_of_bzcat_rows(pool, blazars)
    pool = bzcat_flow.apply(
        pool,
        pool_class != "",
        "bzcat5: not_in_merged_catalogue",
        "not a BL Lac or FSRQ of the merged BZCAT+4LAC catalogue",
    )
    pool = pool.assign(class_name=pool_class[pool_class != ""])
    pool = _magnitude_cuts(pool, bzcat_flow, cfg, step_prefix="bzcat5: ")
    already_in_sample = _within(pool, sdss, radius)
    pool = bzcat_flow.apply(
        pool,
        ~already_in_sample,
        "bzcat5: in_dr14_sample",
        f"within {radius:g} arcsec of a DR14 sample source already kept",
    )

    targets = _blazar_targets(
        len(sdss), diagnostics["dr14_relabelled_to"], cfg["bundled_blazar_fractions"]
    )
    rng = np.random.default_rng([cfg["split_seed"], 1])
    chosen = np.zeros(len(pool), dtype=bool)
    diagnostics["bzcat5_pool"] = {}
    diagnostics["target_counts"] = targets["total"]
    for blazar_class in BLAZAR_CLASSES:
        members = np.flatnonzero(pool["class_name"].to_numpy() == blazar_class)
        wanted = targets["added"][blazar_class]
        diagnostics["bzcat5_pool"][blazar_class] = int(members.size)
        if wanted > members.size:
            raise ValueError(
                f"{bzcat_label}: only {members.size} usable {blazar_class} rows for the "
                f"{wanted} needed to make {blazar_class} "
                f"{cfg['bundled_blazar_fractions'][blazar_class]} of the table"
            )
        chosen[rng.choice(members, size=wanted, replace=False)] = True
    for blazar_class in BLAZAR_CLASSES:
        in_class = pool["class_name"].to_numpy() == blazar_class
        keep = chosen | ~in_class
        pool = bzcat_flow.apply(
            pool,
            keep,
            f"bzcat5: subsampled_{blazar_class}",
            f"{blazar_class} subsampled away to make {blazar_class} "
            f"{cfg['bundled_blazar_fractions'][blazar_class]:g} of the table",
        )
        chosen = chosen[keep]
    for entry in bzcat_flow.steps:
        step = entry.step if entry.step.startswith("bzcat5: ") else f"bzcat5: {entry.step}"
        cutflow.record(step, entry.reason, entry.removed)

    combined = pd.concat(
        [
            sdss[["ra", "dec", *OPTICAL_BANDS]].assign(
                class_name=sdss_classes.to_numpy(), sample=_DR14_SAMPLE
            ),
            pool[["ra", "dec", *OPTICAL_BANDS, "class_name"]].assign(sample=_BZCAT_SAMPLE),
        ],
        ignore_index=True,
    )
    for band in OPTICAL_BANDS:
        combined[band] = as_float(combined[band])
    result = finish_table(
        combined,
        _optical_colours(combined),
        combined["class_name"],
        task,
        combined["sample"].to_numpy(),
        cfg,
    )
    result.attrs["diagnostics"] = diagnostics
    return result, cutflow


# --------------------------------------------------------------------------------------------
# helpers


def _read_frame(source) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), "table"
    return pd.read_csv(source), os.fspath(source)


def _dr14_optical_cuts(
    frame: pd.DataFrame,
    label: str,
    cutflow: CutFlow,
    cfg: Mapping[str, Any],
    sdss_classes: Mapping[str, str],
    step_prefix: str,
) -> pd.DataFrame:
    table = require_columns(frame, ("ra", "dec", *OPTICAL_BANDS, "class"), label)
    table = class_and_position_cuts(table, cutflow, sdss_classes, step_prefix)
    return _magnitude_cuts(table, cutflow, cfg, step_prefix)


def _magnitude_cuts(
    table: pd.DataFrame, cutflow: CutFlow, cfg: Mapping[str, Any], step_prefix: str
) -> pd.DataFrame:
    """Drop rows whose u g r i z are non-finite, sentinels, or outside the plausible range."""
    magnitudes = np.column_stack([as_float(table[band]) for band in OPTICAL_BANDS])
    finite = np.isfinite(magnitudes).all(axis=1)
    table = cutflow.apply(
        table, finite, f"{step_prefix}magnitude_nonfinite", "u, g, r, i or z missing or non-finite"
    )
    magnitudes = magnitudes[finite]
    not_sentinel = (np.abs(magnitudes) < SENTINEL_ABS).all(axis=1)
    table = cutflow.apply(
        table,
        not_sentinel,
        f"{step_prefix}magnitude_sentinel",
        "u, g, r, i or z is a no-measurement sentinel such as -9999",
    )
    magnitudes = magnitudes[not_sentinel]
    low, high = cfg["bundled_magnitude_range"]
    in_range = ((magnitudes > low) & (magnitudes < high)).all(axis=1)
    return cutflow.apply(
        table,
        in_range,
        f"{step_prefix}magnitude_range",
        f"u, g, r, i or z outside ({low:g}, {high:g}) mag",
    )


def _optical_colours(table: pd.DataFrame) -> pd.DataFrame:
    magnitude = {band: as_float(table[band]) for band in OPTICAL_BANDS}
    return pd.DataFrame(
        {
            "u-g": magnitude["u"] - magnitude["g"],
            "g-r": magnitude["g"] - magnitude["r"],
            "r-i": magnitude["r"] - magnitude["i"],
            "i-z": magnitude["i"] - magnitude["z"],
        },
        index=table.index,
    )


def _merged_class_of_bzcat_rows(pool: pd.DataFrame, blazars: pd.DataFrame) -> np.ndarray:
    """Merged-catalogue class of each BZCAT row ("" if it is not a kept blazar)."""
    if "bzcat_name" in blazars.columns:
        named = blazars[blazars["bzcat_name"].astype(str).str.len() > 0]
        by_name = dict(zip(named["bzcat_name"].astype(str), named["blazar_class"], strict=True))
        return np.asarray([by_name.get(str(name), "") for name in pool["name"]], dtype=object)
    classes = np.full(len(pool), "", dtype=object)
    if len(pool) == 0 or len(blazars) == 0:
        return classes
    pool_coords = SkyCoord(as_float(pool["ra"]) * u.deg, as_float(pool["dec"]) * u.deg)
    blazar_coords = SkyCoord(as_float(blazars["ra"]) * u.deg, as_float(blazars["dec"]) * u.deg)
    nearest, separation, _ = pool_coords.match_to_catalog_sky(blazar_coords)
    matched = separation <= _BZCAT_POSITION_MATCH_ARCSEC * u.arcsec
    classes[matched] = blazars["blazar_class"].to_numpy(dtype=object)[nearest[matched]]
    return classes


def _within(pool: pd.DataFrame, sample: pd.DataFrame, radius_arcsec: float) -> np.ndarray:
    """True for pool rows within ``radius_arcsec`` of any row of ``sample``."""
    if len(pool) == 0 or len(sample) == 0:
        return np.zeros(len(pool), dtype=bool)
    pool_coords = SkyCoord(as_float(pool["ra"]) * u.deg, as_float(pool["dec"]) * u.deg)
    sample_coords = SkyCoord(as_float(sample["ra"]) * u.deg, as_float(sample["dec"]) * u.deg)
    _, separation, _ = pool_coords.match_to_catalog_sky(sample_coords)
    return np.asarray(separation <= radius_arcsec * u.arcsec)


def _blazar_targets(
    n_sample: int, already: Mapping[str, int], fractions: Mapping[str, float]
) -> dict[str, dict[str, int]]:
    """How many BL Lacs and FSRQs the final table needs, and how many to add from BZCAT.

    With ``n_other`` the non-blazar rows of the DR14 sample, the final size ``N`` satisfies
    ``N = n_other + sum_c f_c N``, so ``N = n_other / (1 - sum_c f_c)`` and class ``c`` needs
    ``round(f_c N)`` rows, of which ``already[c]`` are relabelled DR14 sources.
    """
    n_other = n_sample - sum(already.values())
    n_final = n_other / (1.0 - sum(fractions.values()))
    total = {c: int(np.floor(fractions[c] * n_final + 0.5)) for c in BLAZAR_CLASSES}
    added = {c: max(total[c] - int(already.get(c, 0)), 0) for c in BLAZAR_CLASSES}
    return {"total": total, "added": added}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
