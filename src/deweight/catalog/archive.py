"""Preparation of the paper's two real-data tasks from archive tables (Sections 3.3 and 3.4).

The inputs are DataFrames as the acquisition step delivers them:

``spec`` (SDSS DR16 ``SpecObj``)
    ``specObjID``, ``bestObjID``, ``ra``, ``dec`` (deg), ``class`` (GALAXY / STAR / QSO),
    ``zWarning``; ``subClass`` and ``z`` are carried by the archive but not used.
``wise`` (AllWISE sources within the match radius of each SpecObj position, IRSA)
    ``specObjID`` (the key of the uploaded SpecObj row), the separation in arcsec as
    ``wise_separation_arcsec`` (IRSA's ``dist_x`` and ``separation_arcsec`` are accepted too),
    and for each band ``?`` used: ``w?flux``, ``w?sigflux`` (DN), ``w?magp`` (Vega mag),
    ``w?sigp2`` (mag), ``w?cc_map``; task A also ``j_m_2mass``, ``j_msig_2mass`` (Vega mag).
    Several rows per ``specObjID`` are allowed; the nearest within the radius is used.
``twomass`` (SDSS DR16 ``TwoMass``, optional, task A)
    ``objID`` (= ``SpecObj.bestObjID``), ``j`` (Vega mag) and ``jIvar`` (mag**-2), the names of
    the SDSS table. Where it has an entry it supplies J; AllWISE's 2MASS columns are used
    otherwise, as in Section 3.3.
``photo`` (SDSS DR16 ``PhotoObj``, task B)
    ``objID`` (= ``SpecObj.bestObjID``), ``type``, ``psfFlux_?``, ``psfFluxIvar_?``,
    ``modelFlux_?``, ``modelFluxIvar_?`` (nanomaggies, nanomaggies**-2), ``flags_?`` (64-bit
    integers) and ``extinction_?`` (mag) for ``?`` in g, r, i; ``mode`` is used if present
    (``clean`` and the combined ``flags`` are not used: they encode the all-band recipe that
    the paper relaxes).

Every row that enters is either in the output or counted in the returned :class:`CutFlow`
under exactly one reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from deweight._docs import shared_docs
from deweight.catalog._output import finish_table
from deweight.catalog._steps import class_and_position_cuts, relabel_blazars
from deweight.catalog._tables import (
    as_float,
    find_column,
    require_columns,
    valid_integer_code,
    valid_magnitude,
)
from deweight.catalog.config import PREPARER_DOCS, resolve_prepare_config
from deweight.catalog.cutflow import CutFlow
from deweight.catalog.photometry import (
    WISE_ZERO_POINT_MAG,
    magnitude_error_snr,
    nanomaggies_to_ab_mag,
    sdss_clean_photometry,
    wise_dn_to_vega_mag,
    wise_flux_uncertainty_fix,
)
from deweight.registry import TaskSpec

__all__ = ["ARCHIVE_SAMPLE", "prepare_blazar_task", "prepare_star_galaxy_agn"]

#: Value of the ``sample`` column for rows prepared from the archive.
ARCHIVE_SAMPLE = "sdss_dr16"

_SPEC_COLUMNS = ("specObjID", "bestObjID", "ra", "dec", "class", "zWarning")
_SEPARATION_COLUMNS = ("wise_separation_arcsec", "separation_arcsec", "dist_x")
_SDSS_BANDS = ("g", "r", "i")
#: WISE bands whose ``w?sigflux`` Eq. 20 may replace: task A only W1 ("For the minority of
#: sources with bad W1 flux uncertainties", Sect. 3.3); task B W1-W3 ("w?sigflux ... where
#: '?' takes each of 1, 2, and 3", Sect. 3.4).
TASK_A_EQ20_BANDS = ("W1",)
TASK_B_EQ20_BANDS = ("W1", "W2", "W3")
#: PhotoObj ``type`` values (SDSS ``PhotoType``): 0 UNKNOWN ... 6 STAR ... 8 GHOST.
_PHOTO_TYPES = range(9)
_PHOTO_TYPE_STAR = 6


@shared_docs(PREPARER_DOCS)
def prepare_star_galaxy_agn(
    spec: pd.DataFrame,
    wise: pd.DataFrame,
    twomass: pd.DataFrame | None = None,
    *,
    task: TaskSpec,
    config: Mapping[str, Any],
) -> tuple[pd.DataFrame, CutFlow]:
    """Star / galaxy / AGN table of Section 3.3 of Lake & Tsai (2022) (their Table 3).

    Cuts, in order, each counted in the cut-flow: SDSS class not one the task keeps
    (``task.sdss_classes``: GALAXY, STAR, QSO); non-finite
    position; ``zWarning`` not a non-negative integer; ``zWarning`` not in
    ``zwarning_allowed`` ({0, 16}); no AllWISE source within ``wise_match_radius_arcsec``
    (3''); non-finite W1/W2 flux or uncertainty; ``w1cc_map``/``w2cc_map`` not a non-negative
    integer; either non-zero; non-positive W1/W2 flux; non-positive W1/W2 uncertainty; after
    Eq. 20 (applied to W1 only, as Sect. 3.3 says), SNR <= ``snr_min`` (5) in W1, in W2; J
    magnitude or its error missing or unusable; J SNR <= ``snr_min``.

    Features (Vega magnitudes): ``J-W1`` and ``W1-W2``, W1 and W2 from ``w?flux`` with the
    AllWISE zero points (:data:`~deweight.catalog.photometry.WISE_ZERO_POINT_MAG`), J from 2MASS.
    Classes (the paper's entry): galaxy, star, agn (SDSS GALAXY, STAR, QSO) with labels 0, 1, 2.
    The split is a plain (unstratified) random 80/10/10 split seeded with ``split_seed``, as in
    Table 3.

    Parameters
    ----------
    spec, wise, twomass : pandas.DataFrame
        See the module documentation for the columns; ``twomass`` is optional.
    %(task_config)s

    Returns
    -------
    table : pandas.DataFrame
        Columns ``ra``, ``dec``, ``J-W1``, ``W1-W2``, ``label``, ``class_name``, ``split``,
        ``sample`` ("sdss_dr16"). ``attrs["diagnostics"]`` counts Eq. 20 replacements and where
        J came from.
    %(cutflow_raises)s
    """
    cfg = resolve_prepare_config(config)
    bands = ("W1", "W2")
    spec = require_columns(spec, _SPEC_COLUMNS, "SpecObj table")
    wise_columns = [
        "specObjID",
        *_wise_band_columns(bands),
        "j_m_2mass",
        "j_msig_2mass",
    ]
    wise = require_columns(wise, wise_columns, "AllWISE table")
    if twomass is not None:
        twomass = require_columns(twomass, ("objID", "j", "jIvar"), "SDSS TwoMass table")

    cutflow = CutFlow(len(spec), name=f"{task.source}/{task.task}")
    table = _spec_cuts(spec, cutflow, cfg, task.sdss_classes)
    table = _join_wise(table, wise, cutflow, cfg)
    table, diagnostics = _wise_cuts(table, bands, cutflow, cfg, TASK_A_EQ20_BANDS)

    j_magnitude, j_error, from_twomass = _j_photometry(table, twomass)
    usable_j = valid_magnitude(j_magnitude) & np.isfinite(j_error) & (j_error > 0)
    table = cutflow.apply(
        table,
        usable_j,
        "j_invalid",
        "J magnitude or its uncertainty missing, non-finite, a sentinel or non-positive",
    )
    j_magnitude, j_error = j_magnitude[usable_j], j_error[usable_j]
    from_twomass = from_twomass[usable_j]
    passes_j = magnitude_error_snr(j_error) > cfg["snr_min"]
    table = cutflow.apply(table, passes_j, "snr_j", f"J SNR <= {cfg['snr_min']:g}")
    j_magnitude, from_twomass = j_magnitude[passes_j], from_twomass[passes_j]
    diagnostics["j_from_sdss_twomass"] = int(from_twomass.sum())
    diagnostics["j_from_allwise"] = int((~from_twomass).sum())

    w1 = wise_dn_to_vega_mag(table["w1flux"], "W1")
    w2 = wise_dn_to_vega_mag(table["w2flux"], "W2")
    features = pd.DataFrame({"J-W1": j_magnitude - w1, "W1-W2": w1 - w2}, index=table.index)
    class_names = table["class"].map(dict(task.sdss_classes))
    result = finish_table(table, features, class_names, task, ARCHIVE_SAMPLE, cfg)
    result.attrs["diagnostics"] = diagnostics
    return result, cutflow


@shared_docs(PREPARER_DOCS)
def prepare_blazar_task(
    spec: pd.DataFrame,
    wise: pd.DataFrame,
    photo: pd.DataFrame,
    blazars: pd.DataFrame,
    *,
    task: TaskSpec,
    config: Mapping[str, Any],
) -> tuple[pd.DataFrame, CutFlow]:
    """Galaxy / star / AGN / BL Lac / FSRQ table of Section 3.4 of Lake & Tsai (2022) (Table 4).

    Cuts, in order, each counted in the cut-flow: the SpecObj and AllWISE cuts of
    :func:`prepare_star_galaxy_agn` for W1, W2 and W3 (``w?cc_map`` = 0, Eq. 20 for each of
    W1-W3 as Sect. 3.4 says, SNR > 5); no
    PhotoObj row for ``bestObjID``; ``type`` not an SDSS PhotoType (0-8); ``mode`` not 1
    (primary), if given; non-finite g/r/i flux or inverse variance, where the flux is
    ``psfFlux_?`` for ``type`` = 6 (star) and ``modelFlux_?`` otherwise; non-positive inverse
    variance; unusable flag values; the SDSS clean-photometry flag tests in g, r and i
    individually, with DEBLEND_NOPEAK ignored and BINNED1 needed in one band only
    (:func:`~deweight.catalog.photometry.sdss_clean_photometry`), counted as deblending,
    interpolation, suspicious-detection and BINNED1 failures; SNR <= ``snr_min`` in g, r, i;
    unusable ``extinction_?``.

    Magnitudes: SDSS fluxes -> AB (``22.5 - 2.5 log10 f``), dereddened by ``extinction_?``; WISE
    ``w?flux`` -> Vega with the AllWISE zero points. Features ``W1-W2``, ``W2-W3``, ``r-W1``
    (dereddened AB r minus Vega W1, mixing systems exactly as the paper's features do), ``r-i``,
    ``g-r``. A source within ``blazar_label_radius_arcsec`` (5'') of a merged blazar takes the
    blazar's class whatever its SDSS class. Classes (the paper's entry) galaxy, star, agn, bll,
    fsrq (labels 0-4). The split is stratified by class, which reproduces Table 4's per-class
    counts.

    Parameters
    ----------
    spec, wise, photo : pandas.DataFrame
        See the module documentation.
    %(blazars_task_config)s

    Returns
    -------
    table : pandas.DataFrame
        Columns ``ra``, ``dec``, the five features, ``label``, ``class_name``, ``split``,
        ``sample``; ``attrs["diagnostics"]`` counts Eq. 20 replacements and blazar relabelling.
    %(cutflow_raises)s
    """
    cfg = resolve_prepare_config(config)
    bands = ("W1", "W2", "W3")
    spec = require_columns(spec, _SPEC_COLUMNS, "SpecObj table")
    wise = require_columns(wise, ["specObjID", *_wise_band_columns(bands)], "AllWISE table")
    photo_columns = ["objID", "type"]
    for band in _SDSS_BANDS:
        photo_columns += [
            f"psfFlux_{band}",
            f"psfFluxIvar_{band}",
            f"modelFlux_{band}",
            f"modelFluxIvar_{band}",
            f"flags_{band}",
            f"extinction_{band}",
        ]
    photo = require_columns(photo, photo_columns, "PhotoObj table")
    blazars = require_columns(blazars, ("blazar_class",), "merged blazar table")

    cutflow = CutFlow(len(spec), name=f"{task.source}/{task.task}")
    table = _spec_cuts(spec, cutflow, cfg, task.sdss_classes)
    table = _join_wise(table, wise, cutflow, cfg)
    table, diagnostics = _wise_cuts(table, bands, cutflow, cfg, TASK_B_EQ20_BANDS)

    # PhotoObj by object ID; one row per objID (the archive key is unique).
    photo_keep = [c for c in photo.columns if c in photo_columns or c == "mode"]
    photo = photo[photo_keep].drop_duplicates("objID").rename(columns={"objID": "bestObjID"})
    joined = table.reset_index().merge(photo, on="bestObjID", how="left", indicator=True)
    joined = joined.set_index("index")
    joined.index.name = None
    table = cutflow.apply(
        joined,
        joined["_merge"].to_numpy() == "both",
        "photo_match",
        "no PhotoObj row for bestObjID",
    ).drop(columns="_merge")

    table = cutflow.apply(
        table,
        valid_integer_code(table["type"], _PHOTO_TYPES),
        "photo_type_invalid",
        "PhotoObj type not an SDSS PhotoType (0-8)",
    )
    if "mode" in table.columns:
        table = cutflow.apply(
            table,
            valid_integer_code(table["mode"], [1]),
            "photo_not_primary",
            "PhotoObj mode != 1 (not the primary detection)",
        )

    is_point = as_float(table["type"]) == _PHOTO_TYPE_STAR
    flux, ivar = {}, {}
    for band in _SDSS_BANDS:
        flux[band] = np.where(
            is_point, as_float(table[f"psfFlux_{band}"]), as_float(table[f"modelFlux_{band}"])
        )
        ivar[band] = np.where(
            is_point,
            as_float(table[f"psfFluxIvar_{band}"]),
            as_float(table[f"modelFluxIvar_{band}"]),
        )
    keep = np.all([np.isfinite(flux[b]) & np.isfinite(ivar[b]) for b in _SDSS_BANDS], axis=0)
    table = cutflow.apply(
        table,
        keep,
        "sdss_flux_nonfinite",
        "non-finite g/r/i flux or inverse variance (psf for type 6, else model)",
    )
    flux, ivar = _subset(flux, keep), _subset(ivar, keep)
    keep = np.all([ivar[b] > 0 for b in _SDSS_BANDS], axis=0)
    table = cutflow.apply(
        table, keep, "sdss_ivar_nonpositive", "non-positive g/r/i flux inverse variance"
    )
    flux, ivar = _subset(flux, keep), _subset(ivar, keep)

    clean = sdss_clean_photometry({b: table[f"flags_{b}"] for b in _SDSS_BANDS})
    flag_steps = [
        ("valid_flags", "photo_flags_invalid", "flags_g/r/i missing, negative or not integer"),
        ("deblend_ok", "photo_deblend", "PEAKCENTER or NOTCHECKED set in g, r or i"),
        (
            "interpolation_ok",
            "photo_interpolation",
            "PSF_FLUX_INTERP, BAD_COUNTS_ERROR, or INTERP_CENTER with COSMIC_RAY, set in g, r or i",
        ),
        ("detection_ok", "photo_detection", "EDGE, NOPROFILE or SATURATED set in g, r or i"),
        ("binned1_any", "photo_binned1", "BINNED1 not set in any of g, r, i"),
    ]
    passed = np.ones(len(table), dtype=bool)
    for key, step, reason in flag_steps:
        keep = clean[key][passed]
        table = cutflow.apply(table, keep, step, reason)
        flux, ivar = _subset(flux, keep), _subset(ivar, keep)
        passed[np.flatnonzero(passed)[~keep]] = False

    for band in _SDSS_BANDS:
        # SNR = f * sqrt(ivar); it also removes non-positive fluxes.
        keep = flux[band] * np.sqrt(ivar[band]) > cfg["snr_min"]
        table = cutflow.apply(table, keep, f"snr_{band}", f"{band} SNR <= {cfg['snr_min']:g}")
        flux, ivar = _subset(flux, keep), _subset(ivar, keep)

    extinction = {b: as_float(table[f"extinction_{b}"]) for b in _SDSS_BANDS}
    keep = np.all([np.isfinite(extinction[b]) & (extinction[b] >= 0) for b in _SDSS_BANDS], axis=0)
    table = cutflow.apply(
        table, keep, "extinction_invalid", "extinction_g/r/i missing, non-finite or negative"
    )
    flux, extinction = _subset(flux, keep), _subset(extinction, keep)

    # Dereddening after the quality cuts, as in Section 3.4.
    sdss_mag = {b: nanomaggies_to_ab_mag(flux[b]) - extinction[b] for b in _SDSS_BANDS}
    wise_mag = {b: wise_dn_to_vega_mag(table[f"{b.lower()}flux"], b) for b in bands}
    features = pd.DataFrame(
        {
            "W1-W2": wise_mag["W1"] - wise_mag["W2"],
            "W2-W3": wise_mag["W2"] - wise_mag["W3"],
            "r-W1": sdss_mag["r"] - wise_mag["W1"],
            "r-i": sdss_mag["r"] - sdss_mag["i"],
            "g-r": sdss_mag["g"] - sdss_mag["r"],
        },
        index=table.index,
    )
    class_names, _, diagnostics["blazar_relabelled_from"] = relabel_blazars(
        table, task.sdss_classes, blazars, cfg["blazar_label_radius_arcsec"]
    )
    result = finish_table(table, features, class_names, task, ARCHIVE_SAMPLE, cfg)
    result.attrs["diagnostics"] = diagnostics
    return result, cutflow


# --------------------------------------------------------------------------------------------
# shared steps


def _wise_band_columns(bands) -> list[str]:
    """AllWISE columns required for ``bands`` (the archive query always fetches all five)."""
    columns = []
    for band in bands:
        prefix = band.lower()
        columns += [
            f"{prefix}flux",
            f"{prefix}sigflux",
            f"{prefix}magp",
            f"{prefix}sigp2",
            f"{prefix}cc_map",
        ]
    return columns


def _spec_cuts(
    spec: pd.DataFrame,
    cutflow: CutFlow,
    cfg: Mapping[str, Any],
    sdss_classes: Mapping[str, str],
) -> pd.DataFrame:
    """SpecObj cuts shared by both tasks: class, position, zWarning."""
    table = class_and_position_cuts(spec, cutflow, sdss_classes)
    table = cutflow.apply(
        table,
        valid_integer_code(table["zWarning"]),
        "zwarning_invalid",
        "zWarning missing, negative or not an integer",
    )
    allowed = cfg["zwarning_allowed"]
    return cutflow.apply(
        table,
        valid_integer_code(table["zWarning"], allowed),
        "zwarning",
        f"zWarning not in {{{', '.join(str(v) for v in allowed)}}}",
    )


def _join_wise(
    table: pd.DataFrame, wise: pd.DataFrame, cutflow: CutFlow, cfg: Mapping[str, Any]
) -> pd.DataFrame:
    """Attach the nearest AllWISE source within the radius; count SpecObj rows without one."""
    radius = float(cfg["wise_match_radius_arcsec"])
    wise = wise.copy()
    separation_column = find_column(wise, _SEPARATION_COLUMNS)
    wise_columns = list(wise.columns)
    if separation_column is not None:
        wise["_separation"] = as_float(wise[separation_column])
    elif {"ra", "dec"} <= set(wise_columns):
        # No separation delivered: compute it from the two positions (after the key join).
        wise["_separation"] = np.nan
    else:
        raise ValueError(
            f"AllWISE table is missing required column {_SEPARATION_COLUMNS[0]!r} (or 'ra' and "
            "'dec' to compute it)"
        )
    wise = wise.rename(columns={c: f"{c}_wise" for c in ("ra", "dec") if c in wise_columns})
    spec_positions = table[["specObjID", "ra", "dec"]]
    if separation_column is None:
        located = wise.merge(spec_positions, on="specObjID", how="inner")
        spec_coords = SkyCoord(as_float(located["ra"]) * u.deg, as_float(located["dec"]) * u.deg)
        wise_coords = SkyCoord(
            as_float(located["ra_wise"]) * u.deg, as_float(located["dec_wise"]) * u.deg
        )
        located["_separation"] = spec_coords.separation(wise_coords).arcsec
        wise = located.drop(columns=["ra", "dec"])
    separation = wise["_separation"].to_numpy(dtype=float)
    within = np.isfinite(separation) & (separation <= radius)
    nearest = (
        wise.loc[within]
        .sort_values("_separation", kind="stable")
        .drop_duplicates("specObjID", keep="first")
    )
    overlap = [c for c in nearest.columns if c in table.columns and c != "specObjID"]
    nearest = nearest.drop(columns=overlap)
    joined = table.reset_index().merge(nearest, on="specObjID", how="left")
    joined = joined.set_index("index")
    joined.index.name = None
    has_match = joined["_separation"].notna().to_numpy()
    return cutflow.apply(
        joined, has_match, "wise_match", f"no AllWISE source within {radius:g} arcsec"
    )


def _wise_cuts(
    table: pd.DataFrame, bands, cutflow: CutFlow, cfg: Mapping[str, Any], eq20_bands
) -> tuple[pd.DataFrame, dict]:
    """AllWISE quality cuts, Eq. 20 for ``eq20_bands`` and SNR for ``bands``.

    Eq. 20 replaces ``w?sigflux`` only in ``eq20_bands`` (task A: W1, Sect. 3.3; task B:
    W1-W3, Sect. 3.4); the other bands keep the catalogue's uncertainty. The diagnostics
    count replacements per band (0 where Eq. 20 does not apply) and list ``eq20_bands``.
    """
    band_list = "/".join(bands)
    prefixes = [band.lower() for band in bands]
    finite = np.all(
        [
            np.isfinite(as_float(table[f"{p}flux"])) & np.isfinite(as_float(table[f"{p}sigflux"]))
            for p in prefixes
        ],
        axis=0,
    )
    table = cutflow.apply(
        table, finite, "wise_nonfinite", f"non-finite {band_list} flux or flux uncertainty"
    )
    valid_cc = np.all([valid_integer_code(table[f"{p}cc_map"]) for p in prefixes], axis=0)
    table = cutflow.apply(
        table,
        valid_cc,
        "wise_cc_map_invalid",
        f"{band_list} cc_map missing, negative or not an integer",
    )
    clean_cc = np.all([as_float(table[f"{p}cc_map"]) == 0 for p in prefixes], axis=0)
    table = cutflow.apply(
        table,
        clean_cc,
        "wise_cc_map",
        f"{band_list} cc_map != 0 (contamination or confusion flagged)",
    )
    positive = np.all([as_float(table[f"{p}flux"]) > 0 for p in prefixes], axis=0)
    table = cutflow.apply(
        table, positive, "wise_flux_nonpositive", f"non-positive {band_list} flux"
    )
    positive = np.all([as_float(table[f"{p}sigflux"]) > 0 for p in prefixes], axis=0)
    table = cutflow.apply(
        table, positive, "wise_sigflux_nonpositive", f"non-positive {band_list} flux uncertainty"
    )
    table = table.copy()
    diagnostics: dict[str, Any] = {
        "eq20_replaced": {band: 0 for band in bands},
        "eq20_bands": list(eq20_bands),
    }
    for band, prefix in zip(bands, prefixes, strict=True):
        if band not in eq20_bands:
            continue
        fixed, replaced = wise_flux_uncertainty_fix(
            as_float(table[f"{prefix}flux"]),
            as_float(table[f"{prefix}sigflux"]),
            as_float(table[f"{prefix}magp"]),
            as_float(table[f"{prefix}sigp2"]),
            factor=cfg["eq20_factor"],
            fractional_floor=cfg["eq20_floor"],
            zero_point_mag=WISE_ZERO_POINT_MAG[band],
        )
        table[f"{prefix}sigflux"] = fixed
        diagnostics["eq20_replaced"][band] = int(replaced.sum())
    for band, prefix in zip(bands, prefixes, strict=True):
        snr = as_float(table[f"{prefix}flux"]) / as_float(table[f"{prefix}sigflux"])
        table = cutflow.apply(
            table,
            snr > cfg["snr_min"],
            f"snr_{prefix}",
            f"{band} SNR <= {cfg['snr_min']:g} (after Eq. 20)",
        )
    return table, diagnostics


def _j_photometry(
    table: pd.DataFrame, twomass: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """J magnitude, its error and whether it came from the SDSS TwoMass table, per row."""
    j_magnitude = as_float(table["j_m_2mass"])
    j_error = as_float(table["j_msig_2mass"])
    from_twomass = np.zeros(len(table), dtype=bool)
    if twomass is not None and len(twomass):
        sdss_j = twomass[["objID", "j", "jIvar"]].drop_duplicates("objID")
        sdss_j = sdss_j.set_index("objID")
        located = sdss_j.reindex(table["bestObjID"].to_numpy())
        from_twomass = located["j"].notna().to_numpy() | located["jIvar"].notna().to_numpy()
        jivar = as_float(located["jIvar"])
        with np.errstate(divide="ignore", invalid="ignore"):
            sdss_error = np.where(jivar > 0, 1.0 / np.sqrt(jivar), np.nan)
        j_magnitude = np.where(from_twomass, as_float(located["j"]), j_magnitude)
        j_error = np.where(from_twomass, sdss_error, j_error)
    return j_magnitude, j_error, from_twomass


def _subset(arrays: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[keep] for key, value in arrays.items()}
