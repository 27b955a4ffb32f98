"""Tests of deweight.catalog: cuts, Eq. 20, the blazar merge, splits, bundled stand-ins, I/O."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shutil
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
import pyarrow.parquet
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from hypothesis import given
from hypothesis import strategies as st
from workflow_settings import workflow_prepare_settings

import deweight.catalog as catalog
from deweight import registry
from deweight._files import read_parquet_with_metadata, write_parquet_atomic
from deweight.catalog import (
    BundledDataError,
    CutFlow,
    assign_splits,
    class_split_table,
    label_blazars,
    merge_blazar_catalogs,
    prepare_blazar_task,
    prepare_bundled_blazar_task,
    prepare_bundled_star_galaxy_qso,
    prepare_star_galaxy_agn,
    read_4lac,
    read_bzcat,
    resolve_prepare_config,
    sdss_clean_photometry,
    split_sizes,
    verify_bundled,
    wise_flux_uncertainty_fix,
)
from deweight.catalog.photometry import (
    SDSS_CLEAN_BAND_REJECT_BITS,
    SDSS_PHOTO_FLAGS,
    magnitude_error_snr,
    nanomaggies_to_ab_mag,
    wise_dn_to_vega_mag,
)

BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "bundled"
SDSS_CSV = BUNDLED / "sdss_dr14_specphoto_sample_10k.csv"
BZCAT_CSV = BUNDLED / "bzcat5_with_photometry.csv"
LAC_DR1 = BUNDLED / "4lac_dr1_highlat.fits"


#: The settings every preparation below runs with (the workflow's defaults).
PREPARE = workflow_prepare_settings()
#: The registry entries the preparers are called with.
ARCHIVE_SGA = registry.spec("archive", "sga")
ARCHIVE_BLAZAR = registry.spec("archive", "blazar")
BUNDLED_SGA = registry.spec("bundled", "sga")
BUNDLED_BLAZAR = registry.spec("bundled", "blazar")


def offset(ra_deg: float, dec_deg: float, arcsec: float, position_angle_deg: float = 90.0):
    """A position ``arcsec`` away from (ra, dec) along ``position_angle_deg``, via SkyCoord."""
    moved = SkyCoord(ra_deg * u.deg, dec_deg * u.deg).directional_offset_by(
        position_angle_deg * u.deg, arcsec * u.arcsec
    )
    return float(moved.ra.deg), float(moved.dec.deg)


def bit(name: str) -> int:
    return 1 << SDSS_PHOTO_FLAGS[name]


def removed(cutflow: CutFlow) -> dict[str, int]:
    """Non-zero removals per step."""
    return {step: n for step, n in cutflow.removed_by_step().items() if n}


# ---------------------------------------------------------------------------------------------
# Eq. 20 and photometric conversions


def test_eq20_against_hand_worked_values():
    # F0 = 10**(0.4*20.5) = 10**8.2 DN; with magp = 15.5, F0 * 10**(-0.4*15.5) = 10**2 = 100 DN.
    # sigma_p2 = 0.4 * ln(10) * 0.01 * 100 = 0.921034 DN.
    # Threshold = 2 * sqrt((0.02*100)**2 + 0.921034**2) = 2 * sqrt(4 + 0.848304) = 4.403774 DN.
    flux = np.array([100.0, 100.0, 100.0, 100.0])
    sigflux = np.array([5.0, 4.40, 4.41, 5.0])
    magp = np.array([15.5, 15.5, 15.5, np.nan])
    sigp2 = np.array([0.01, 0.01, 0.01, 0.01])
    fixed, replaced = wise_flux_uncertainty_fix(flux, sigflux, magp, sigp2)
    assert replaced.tolist() == [True, False, True, False]
    assert fixed[0] == pytest.approx(0.4 * math.log(10) * 0.01 * 100, rel=1e-12)
    assert fixed[0] == pytest.approx(0.9210340372, rel=1e-9)
    assert fixed[1] == 4.40  # below the threshold: kept
    assert fixed[3] == 5.0  # sigma_p2 not computable (magp missing): kept


def test_eq20_zero_point_and_parameters():
    # W2: zero point 19.5, magp 14.5 -> 10**(0.4*(19.5-14.5)) = 100 DN, the same sigma_p2.
    fixed, replaced = wise_flux_uncertainty_fix([100.0], [5.0], [14.5], [0.01], zero_point_mag=19.5)
    assert replaced[0] and fixed[0] == pytest.approx(0.9210340372, rel=1e-9)
    # With a 5% floor the threshold is 2*sqrt(25 + 0.848) = 10.17 DN, so 5 DN is kept.
    fixed, replaced = wise_flux_uncertainty_fix(
        [100.0], [5.0], [15.5], [0.01], fractional_floor=0.05
    )
    assert not replaced[0] and fixed[0] == 5.0


def test_magnitude_conversions():
    np.testing.assert_allclose(wise_dn_to_vega_mag([100.0, 1.0], "W1"), [15.5, 20.5])
    assert wise_dn_to_vega_mag([100.0], "W2")[0] == pytest.approx(14.5)
    assert wise_dn_to_vega_mag([100.0], "W3")[0] == pytest.approx(13.0)
    assert np.isnan(wise_dn_to_vega_mag([0.0], "W1")[0])
    np.testing.assert_allclose(nanomaggies_to_ab_mag([1.0, 100.0]), [22.5, 17.5])
    assert np.isnan(nanomaggies_to_ab_mag([-1.0])[0])
    # SNR 5 <=> sigma_m = 1 / (0.4 ln10 * 5) = 0.217147 mag
    assert magnitude_error_snr([0.2171472])[0] == pytest.approx(5.0, rel=1e-6)


def test_photo_flag_bits_match_skyserver_values():
    assert bit("BINNED1") == 0x10000000
    assert bit("DEBLEND_NOPEAK") == 0x400000000000
    assert bit("PSF_FLUX_INTERP") == 0x800000000000
    assert bit("INTERP_CENTER") == 0x100000000000
    assert bit("BAD_COUNTS_ERROR") == 0x10000000000
    assert bit("COSMIC_RAY") == 0x1000
    # SkyServer's clean-photometry sample query rejects (flags & 0x8100000c00a4) != 0.
    combined = 0
    for name in SDSS_CLEAN_BAND_REJECT_BITS:
        combined |= bit(name)
    assert combined == 0x8100000C00A4


def test_sdss_clean_photometry_with_the_papers_exceptions():
    b1 = bit("BINNED1")
    rows = {  # name: (flags_g, flags_r, flags_i), expected failing test or "clean"
        "all_binned1": ((b1, b1, b1), "clean"),
        "binned1_only_r": ((0, b1, 0), "clean"),
        "no_binned1": ((0, 0, 0), "binned1_any"),
        "deblend_nopeak_ignored": ((b1 | bit("DEBLEND_NOPEAK"), b1, b1), "clean"),
        "edge_in_i_only": ((b1, b1, b1 | bit("EDGE")), "detection_ok"),
        "saturated_g": ((b1 | bit("SATURATED"), b1, b1), "detection_ok"),
        "interp_center_alone": ((b1 | bit("INTERP_CENTER"), b1, b1), "clean"),
        "interp_center_cr": (
            (b1, b1 | bit("INTERP_CENTER") | bit("COSMIC_RAY"), b1),
            "interpolation_ok",
        ),
        "psf_flux_interp": ((b1, b1 | bit("PSF_FLUX_INTERP"), b1), "interpolation_ok"),
        "peakcenter": ((b1 | bit("PEAKCENTER"), b1, b1), "deblend_ok"),
        "negative_flags": ((-1, b1, b1), "valid_flags"),
    }
    flags = {
        band: pd.Series([v[0][k] for v in rows.values()], dtype="int64")
        for k, band in enumerate("gri")
    }
    result = sdss_clean_photometry(flags)
    for index, (name, (_, expected)) in enumerate(rows.items()):
        if expected == "clean":
            assert result["clean"][index], name
        else:
            assert not result[expected][index], name
            assert not result["clean"][index], name


# ---------------------------------------------------------------------------------------------
# CutFlow


def test_cutflow_records_rows_in_removed_and_out():
    flow = CutFlow(5, name="demo")
    table = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0]})
    table = flow.apply(table, table["x"].notna(), "finite", "x is NaN")
    table = flow.apply(table, table["x"] > 3, "big", "x <= 3")
    frame = flow.to_frame()
    assert list(frame.columns) == ["step", "reason", "removed", "remaining"]
    assert frame["step"].tolist() == ["input", "finite", "big"]
    assert frame["removed"].tolist() == [0, 1, 2]
    assert frame["remaining"].tolist() == [5, 4, 2]
    assert flow.rows_out == 2 == len(table)
    with pytest.raises(ValueError, match="cannot remove"):
        flow.record("too_many", "", 3)
    with pytest.raises(ValueError, match="rows"):
        flow.apply(pd.DataFrame({"x": [1.0]}), [True], "wrong_length", "")


# ---------------------------------------------------------------------------------------------
# archive task A (Section 3.3)


def _spec_row(index: int, spec_class: str = "GALAXY", z_warning=0) -> dict:
    return {
        "specObjID": 1000 + index,
        "bestObjID": 5000 + index,
        "ra": 150.0,
        "dec": 0.5 * index,
        "class": spec_class,
        "subClass": "",
        "z": 0.1,
        "zWarning": z_warning,
    }


def _wise_row(index: int, separation: float = 0.4, **changes) -> dict:
    row = {"specObjID": 1000 + index, "wise_separation_arcsec": separation}
    for band, magp in (("w1", 15.5), ("w2", 14.5), ("w3", 13.0)):
        row.update(
            {
                f"{band}flux": 100.0,
                f"{band}sigflux": 2.0,
                f"{band}magp": magp,
                f"{band}sigp2": 0.01,
                f"{band}cc_map": 0,
                f"{band}mpro": magp,
                f"{band}sigmpro": 0.02,
            }
        )
    row.update({"cc_flags": "0000", "j_m_2mass": 16.0, "j_msig_2mass": 0.05})
    row.update(changes)
    return row


def _task_a_tables():
    classes = {1: "STAR", 2: "QSO", 3: "SKY"}
    spec = pd.DataFrame([_spec_row(i, classes.get(i, "GALAXY")) for i in range(20)])
    spec.loc[1, "zWarning"] = 16
    spec.loc[4, "ra"] = np.nan
    spec.loc[5, "zWarning"] = np.nan
    spec.loc[6, "zWarning"] = 4
    changes = {
        8: {"w2flux": np.nan},
        9: {"w1cc_map": -1},
        10: {"w2cc_map": 2},
        11: {"w1flux": -5.0},
        12: {"w2sigflux": 0.0},
        13: {"w1sigflux": 30.0},  # SNR 3.3, rescued by Eq. 20 (sigma_p2 = 0.92 DN)
        14: {"w1sigflux": 30.0, "w1sigp2": np.nan},  # not rescued
        15: {"w2sigflux": 25.0, "w2magp": np.nan},
        16: {"j_m_2mass": np.nan},
        17: {"j_msig_2mass": 0.3},  # J SNR = 1 / (0.921 * 0.3) = 3.6
        18: {"j_msig_2mass": 0.3},  # rescued: SDSS TwoMass entry takes precedence
    }
    wise_rows = [_wise_row(i, **changes.get(i, {})) for i in range(20) if i != 7]
    wise_rows.append(_wise_row(7, separation=3.5))  # outside the 3'' radius
    wise_rows.append(_wise_row(2, separation=2.0, w1cc_map=1))  # farther, bad: must be ignored
    wise = pd.DataFrame(wise_rows)
    twomass = pd.DataFrame({"objID": [5018, 5019], "j": [15.0, -9999.0], "jIvar": [400.0, 0.0]})
    return spec, wise, twomass


def test_star_galaxy_agn_each_cut_removes_exactly_its_row():
    spec, wise, twomass = _task_a_tables()
    table, flow = prepare_star_galaxy_agn(spec, wise, twomass, task=ARCHIVE_SGA, config=PREPARE)
    assert removed(flow) == {
        "spec_class": 1,
        "position": 1,
        "zwarning_invalid": 1,
        "zwarning": 1,
        "wise_match": 1,
        "wise_nonfinite": 1,
        "wise_cc_map_invalid": 1,
        "wise_cc_map": 1,
        "wise_flux_nonpositive": 1,
        "wise_sigflux_nonpositive": 1,
        "snr_w1": 1,
        "snr_w2": 1,
        "j_invalid": 2,
        "snr_j": 1,
    }
    assert flow.rows_in == 20 and flow.rows_out == len(table) == 5
    kept_rows = sorted(np.round(table["dec"] / 0.5).astype(int).tolist())
    assert kept_rows == [0, 1, 2, 13, 18]
    assert table.attrs["diagnostics"]["eq20_replaced"] == {"W1": 1, "W2": 0}
    assert table.attrs["diagnostics"]["j_from_sdss_twomass"] == 1
    by_row = table.set_index(np.round(table["dec"] / 0.5).astype(int))
    # W1 = 20.5 - 2.5 log10(100) = 15.5, W2 = 19.5 - 5 = 14.5, J = 16.0 (AllWISE) or 15.0 (SDSS).
    assert by_row.loc[0, "J-W1"] == pytest.approx(0.5)
    assert by_row.loc[0, "W1-W2"] == pytest.approx(1.0)
    assert by_row.loc[18, "J-W1"] == pytest.approx(-0.5)
    assert by_row.loc[2, "class_name"] == "agn" and by_row.loc[2, "label"] == 2
    assert by_row.loc[1, "class_name"] == "star" and by_row.loc[1, "label"] == 1
    assert list(table.columns) == [
        "ra",
        "dec",
        "J-W1",
        "W1-W2",
        "label",
        "class_name",
        "split",
        "sample",
    ]
    assert set(table["sample"]) == {"sdss_dr16"}


def test_star_galaxy_agn_computes_separation_from_positions_with_skycoord():
    spec = pd.DataFrame([_spec_row(0), _spec_row(1)])
    near = offset(150.0, 0.0, 2.9)
    far = offset(150.0, 0.5, 3.1)
    wise = pd.DataFrame([_wise_row(0), _wise_row(1)]).drop(columns="wise_separation_arcsec")
    wise["ra"] = [near[0], far[0]]
    wise["dec"] = [near[1], far[1]]
    table, flow = prepare_star_galaxy_agn(spec, wise, task=ARCHIVE_SGA, config=PREPARE)
    assert removed(flow) == {"wise_match": 1}
    assert table["dec"].tolist() == [0.0]


def test_missing_column_names_the_column_and_table():
    spec, wise, twomass = _task_a_tables()
    with pytest.raises(ValueError, match=r"SpecObj table.*'zWarning'"):
        prepare_star_galaxy_agn(
            spec.drop(columns="zWarning"), wise, twomass, task=ARCHIVE_SGA, config=PREPARE
        )
    with pytest.raises(ValueError, match=r"AllWISE table.*'w2sigp2'"):
        prepare_star_galaxy_agn(
            spec, wise.drop(columns="w2sigp2"), twomass, task=ARCHIVE_SGA, config=PREPARE
        )
    with pytest.raises(ValueError, match=r"TwoMass table.*'jIvar'"):
        prepare_star_galaxy_agn(
            spec, wise, twomass.drop(columns="jIvar"), task=ARCHIVE_SGA, config=PREPARE
        )


def test_column_names_are_matched_case_insensitively():
    spec, wise, twomass = _task_a_tables()
    table, _ = prepare_star_galaxy_agn(
        spec.rename(columns={"zWarning": "zwarning"}),
        wise,
        twomass,
        task=ARCHIVE_SGA,
        config=PREPARE,
    )
    assert len(table) == 5


# ---------------------------------------------------------------------------------------------
# archive task B (Section 3.4)

BLAZAR_RA, BLAZAR_DEC = 200.0, 30.0


def _photo_row(index: int, photo_type: int = 3, **changes) -> dict:
    row = {
        "objID": 5000 + index,
        "type": photo_type,
        "mode": 1,
        "clean": 1,
        "flags": bit("BINNED1"),
    }
    for band, extinction in (("g", 0.2), ("r", 0.1), ("i", 0.05)):
        row.update(
            {
                f"psfFlux_{band}": 100.0,
                f"psfFluxIvar_{band}": 1.0,
                f"modelFlux_{band}": 100.0,
                f"modelFluxIvar_{band}": 1.0,
                f"flags_{band}": bit("BINNED1"),
                f"extinction_{band}": extinction,
            }
        )
    row.update(changes)
    return row


def _task_b_tables():
    classes = {1: "STAR", 2: "QSO"}
    spec = pd.DataFrame([_spec_row(i, classes.get(i, "GALAXY")) for i in range(19)])
    spec.loc[2, ["ra", "dec"]] = offset(BLAZAR_RA, BLAZAR_DEC, 4.9, 0.0)
    spec.loc[3, ["ra", "dec"]] = offset(BLAZAR_RA, BLAZAR_DEC, 5.1, 180.0)
    wise_changes = {4: {"w3cc_map": 1}, 5: {"w3sigflux": 50.0, "w3sigp2": np.nan}}
    wise = pd.DataFrame([_wise_row(i, **wise_changes.get(i, {})) for i in range(19)])
    b1 = bit("BINNED1")
    photo_changes = {
        0: {"psfFlux_g": np.nan, "psfFlux_r": np.nan},  # galaxy: model flux is the one used
        1: {"modelFlux_g": np.nan, "modelFluxIvar_r": 0.0},  # star (type 6): psf flux used
        2: {"modelFlux_i": np.nan},
        7: {"type": 9},
        8: {"modelFlux_g": np.nan},
        9: {"modelFluxIvar_r": 0.0},
        10: {"flags_g": -1},
        11: {"flags_r": b1 | bit("PEAKCENTER")},
        12: {"flags_i": b1 | bit("INTERP_CENTER") | bit("COSMIC_RAY")},
        13: {"flags_g": b1 | bit("EDGE")},
        14: {"flags_g": 0, "flags_r": 0, "flags_i": 0},
        15: {"flags_g": bit("DEBLEND_NOPEAK"), "flags_r": 0, "flags_i": b1},  # passes
        16: {"modelFlux_g": 1.0},  # SNR 1
        17: {"extinction_r": np.nan},
        18: {"mode": 2},
    }
    types = {1: 6, 2: 6}
    photo = pd.DataFrame(
        [_photo_row(i, types.get(i, 3), **photo_changes.get(i, {})) for i in range(19) if i != 6]
    )
    for band in "gri":
        photo[f"flags_{band}"] = photo[f"flags_{band}"].astype("int64")
    blazars = pd.DataFrame(
        {"ra": [BLAZAR_RA], "dec": [BLAZAR_DEC], "name": ["5BZQ test"], "blazar_class": ["fsrq"]}
    )
    return spec, wise, photo, blazars


def test_blazar_task_each_cut_removes_exactly_its_row():
    spec, wise, photo, blazars = _task_b_tables()
    table, flow = prepare_blazar_task(
        spec, wise, photo, blazars, task=ARCHIVE_BLAZAR, config=PREPARE
    )
    assert removed(flow) == {
        "wise_cc_map": 1,
        "snr_w3": 1,
        "photo_match": 1,
        "photo_type_invalid": 1,
        "photo_not_primary": 1,
        "sdss_flux_nonfinite": 1,
        "sdss_ivar_nonpositive": 1,
        "photo_flags_invalid": 1,
        "photo_deblend": 1,
        "photo_interpolation": 1,
        "photo_detection": 1,
        "photo_binned1": 1,
        "snr_g": 1,
        "extinction_invalid": 1,
    }
    assert flow.rows_in == 19 and flow.rows_out == len(table) == 5
    assert list(table.columns) == [
        "ra",
        "dec",
        "W1-W2",
        "W2-W3",
        "r-W1",
        "r-i",
        "g-r",
        "label",
        "class_name",
        "split",
        "sample",
    ]
    # Rows 0 (galaxy), 1 (star), 2 (QSO at 4.9'' -> fsrq), 3 (galaxy at 5.1''), 15 (galaxy).
    assert sorted(table["class_name"]) == ["fsrq", "galaxy", "galaxy", "galaxy", "star"]
    assert table.loc[table["class_name"] == "fsrq", "label"].tolist() == [4]
    assert table.attrs["diagnostics"]["blazar_relabelled_from"] == {
        "galaxy": 0,
        "star": 0,
        "agn": 1,
    }
    first = table.loc[table["dec"] == 0.0].iloc[0]
    # W1 15.5, W2 14.5, W3 13.0; g, r, i fluxes 100 nmgy -> 17.5 AB, dereddened by 0.2, 0.1,
    # 0.05 mag -> g 17.3, r 17.4, i 17.45.
    assert first["W1-W2"] == pytest.approx(1.0)
    assert first["W2-W3"] == pytest.approx(1.5)
    assert first["r-W1"] == pytest.approx(1.9)
    assert first["r-i"] == pytest.approx(-0.05)
    assert first["g-r"] == pytest.approx(-0.1)


# ---------------------------------------------------------------------------------------------
# blazar catalogues (Section 3.4)


def _bzcat(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ra", "dec", "name", "class_raw"])


def _lac(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ra", "dec", "name", "class_raw"])


def test_merge_precedence_rules_on_a_hand_made_table():
    base = {key: (10.0 * k, 10.0) for k, key in enumerate("ABCDEFGHIJ")}
    bz = _bzcat(
        [
            (*base["A"], "5BZB A", "BL Lac"),
            (*base["B"], "5BZQ B", "QSO RLoud flat radio sp."),
            (*base["C"], "5BZU C", "Blazar Uncertain type"),
            (*base["D"], "5BZG D", "BL Lac-galaxy dominated"),
            (*base["E"], "5BZB E", "BL Lac"),
            (*base["F"], "5BZU F", "Blazar Uncertain type"),
            (*base["J"], "5BZQ J", "QSO RLoud flat radio sp."),
        ]
    )
    lac = _lac(
        [
            (*offset(*base["A"], 4.0), "4FGL A", "fsrq"),  # disagrees: 4LAC wins
            (*offset(*base["B"], 9.9), "4FGL B", "bcu"),  # bcu: BZCAT's class
            (*offset(*base["C"], 1.0), "4FGL C", "bcu"),  # both uncertain: dropped
            (*offset(*base["E"], 1.0), "4FGL E", "rdg"),  # 4LAC wins with a non-blazar: dropped
            (*base["H"], "4FGL H", "BLL"),  # case ignored
            (*base["I"], "4FGL I", "agn"),  # not a blazar: dropped
            (*offset(*base["J"], 10.1), "4FGL J", "FSRQ"),  # just outside 10'': separate blazar
        ]
    )
    merged = merge_blazar_catalogs(bz, lac, drop_names=())
    by_name = merged.set_index("name")
    assert by_name.loc["5BZB A", "blazar_class"] == "fsrq"
    assert by_name.loc["5BZB A", "origin"] == "both"
    assert by_name.loc["5BZB A", "lac_name"] == "4FGL A"
    assert by_name.loc["5BZQ B", "blazar_class"] == "fsrq"
    assert by_name.loc["5BZQ B", "origin"] == "both"
    assert by_name.loc["5BZG D", "blazar_class"] == "bll"
    assert by_name.loc["5BZG D", "origin"] == "bzcat"
    assert by_name.loc["4FGL H", "blazar_class"] == "bll"
    assert by_name.loc["4FGL H", "origin"] == "4lac"
    assert by_name.loc["5BZQ J", "origin"] == "bzcat"
    assert by_name.loc["4FGL J", "origin"] == "4lac"
    assert sorted(merged["name"]) == ["4FGL H", "4FGL J", "5BZB A", "5BZG D", "5BZQ B", "5BZQ J"]
    assert set(merged["blazar_class"]) <= {"bll", "fsrq"}
    counts = merged.attrs["merge_counts"]
    assert counts["pairs"] == 4 and counts["kept"] == 6
    # The BZCAT position is the merged position; the 4LAC one is kept alongside.
    assert by_name.loc["5BZB A", "ra"] == pytest.approx(base["A"][0])
    assert by_name.loc["5BZB A", "ra_4lac"] == pytest.approx(offset(*base["A"], 4.0)[0])


def test_merge_drops_4fgl_j1956():
    counterpart = (298.94948115, 2.25355097)
    lac = _lac(
        [(*counterpart, "4FGL J1955.7+0214", "bll"), (*counterpart, "4FGL J1956.1+0234", "bll")]
    )
    bz = _bzcat([(10.0, 10.0, "5BZB X", "BL Lac")])
    merged = merge_blazar_catalogs(bz, lac)
    assert "4FGL J1956.1+0234" not in set(merged["name"])
    assert (merged["name"] == "4FGL J1955.7+0214").sum() == 1
    assert merged.attrs["merge_counts"]["lac_dropped_by_name"] == ["4FGL J1956.1+0234"]
    with pytest.warns(UserWarning, match="counterparts within"):
        kept_both = merge_blazar_catalogs(bz, lac, drop_names=())
    assert {"4FGL J1955.7+0214", "4FGL J1956.1+0234"} <= set(kept_both["name"])


def test_merge_one_to_one_drops_the_farther_duplicate():
    bz = _bzcat([(50.0, 20.0, "5BZB P", "BL Lac")])
    # 1'' east and 9.5'' west: both within 10'' of the BZCAT source, 10.5'' from each other.
    lac = _lac(
        [
            (*offset(50.0, 20.0, 1.0), "4FGL near", "bll"),
            (*offset(50.0, 20.0, 9.5, 270.0), "4FGL far", "fsrq"),
        ]
    )
    with pytest.warns(UserWarning, match="already paired"):
        merged = merge_blazar_catalogs(bz, lac, drop_names=())
    assert merged["name"].tolist() == ["5BZB P"]
    assert merged["lac_name"].tolist() == ["4FGL near"]


def test_label_blazars_radius_4p9_matches_5p1_does_not():
    blazars = pd.DataFrame({"ra": [120.0], "dec": [-5.0], "blazar_class": ["bll"]})
    inside = offset(120.0, -5.0, 4.9, 30.0)
    outside = offset(120.0, -5.0, 5.1, 200.0)
    labels = label_blazars([inside[0], outside[0], np.nan], [inside[1], outside[1], 0.0], blazars)
    assert labels.tolist() == ["bll", "", ""]


def test_label_blazars_uses_both_positions_of_a_merged_blazar():
    lac_position = offset(60.0, 40.0, 8.0)
    bz = _bzcat([(60.0, 40.0, "5BZQ Z", "QSO RLoud flat radio sp.")])
    lac = _lac([(*lac_position, "4FGL Z", "fsrq")])
    merged = merge_blazar_catalogs(bz, lac, drop_names=())
    source = offset(*lac_position, 4.0)  # 4'' from the counterpart, ~12'' from BZCAT's position
    assert label_blazars([source[0]], [source[1]], merged).tolist() == ["fsrq"]
    assert label_blazars(
        [source[0]], [source[1]], merged[["ra", "dec", "blazar_class"]]
    ).tolist() == [""]


def test_read_bzcat_classes_from_strings_or_name_prefixes():
    by_prefix = pd.DataFrame(
        {
            "BZCAT5 Source name": [
                "5BZBJ0000+0000",
                "5BZGJ0001+0000",
                "5BZQJ0002+0000",
                "5BZUJ0003+0000",
            ],
            "RA (J2000.0)": ["00 00 20.39", "00 01 00.00", "00 02 00.00", "00 03 00.00"],
            "Dec (J2000.0)": ["-32 21 01.0", "+00 00 00.0", "+00 00 00.0", "+00 00 00.0"],
            "Class": [7300, 7309, 7211, 7900],  # numeric codes, as in the bundled file
        }
    )
    table = read_bzcat(by_prefix)
    assert table["blazar_class"].tolist() == ["bll", "bll", "fsrq", "unknown"]
    assert table["class_raw"][1] == "BL Lac-galaxy dominated"
    # 00h00m20.39s = 20.39 * 15 / 3600 deg; -32d21m01.0s
    assert table["ra"][0] == pytest.approx(20.39 * 15 / 3600)
    assert table["dec"][0] == pytest.approx(-(32 + 21 / 60 + 1.0 / 3600))
    vizier_like = pd.DataFrame(
        {
            "Name": ["5BZQJ1", "5BZBJ2"],
            "RAJ2000": [10.0, 11.0],
            "DEJ2000": [1.0, 2.0],
            "Class": ["QSO RLoud flat radio sp.", "BL Lac"],
        }
    )
    assert read_bzcat(vizier_like)["blazar_class"].tolist() == ["fsrq", "bll"]
    with pytest.raises(ValueError, match="source name"):
        read_bzcat(vizier_like.drop(columns="Name"))


def test_read_4lac_dr1_and_dr3_column_names():
    # The official DR1 files (v19) use the DR3 names; a table with other names (such as the
    # RA_Count/Dec_Count of a derivative once bundled) needs an explicit column map.
    derivative = {
        "Source_Name": ["4FGL A ", "4FGL B"],
        "CLASS": ["BLL ", "bcu"],
        "RA_Count": [1.0, 2.0],
        "Dec_Count": [3.0, 4.0],
        "ASSOC1": ["x", "y"],
    }
    with pytest.raises(ValueError, match="RA_Count"):
        read_4lac(Table(derivative))
    mapped = {"name": "Source_Name", "class": "CLASS", "ra": "RA_Count", "dec": "Dec_Count"}
    assert read_4lac(Table(derivative), columns=mapped)["ra"].tolist() == [1.0, 2.0]
    dr1 = Table(
        {
            "Source_Name": ["4FGL A ", "4FGL B"],
            "CLASS": ["BLL ", "bcu"],
            "RA_Counterpart": [1.0, 2.0],
            "DEC_Counterpart": [3.0, 4.0],
            "ASSOC1": ["x", "y"],
        }
    )
    dr3 = Table(
        {
            "Source_Name": ["4FGL C"],
            "CLASS": ["fsrq"],
            "RA_Counterpart": [5.0],
            "DEC_Counterpart": [6.0],
        }
    )
    table = read_4lac([dr1, dr3])
    assert table["name"].tolist() == ["4FGL A", "4FGL B", "4FGL C"]
    assert table["blazar_class"].tolist() == ["bll", "unknown", "fsrq"]
    assert table["ra"].tolist() == [1.0, 2.0, 5.0]
    with pytest.raises(ValueError, match="RA_Counterpart"):
        read_4lac(Table({"Source_Name": ["a"], "CLASS": ["bll"], "RA": [1.0], "Dec": [2.0]}))


def test_bundled_blazar_merge_counts():
    bz = read_bzcat(BZCAT_CSV)
    lac = read_4lac(LAC_DR1)
    assert len(bz) == 3561 and len(lac) == 2863
    merged = merge_blazar_catalogs(bz, lac)
    counts = merged.attrs["merge_counts"]
    assert counts["lac_dropped_by_name"] == ["4FGL J1956.1+0234"]
    # The official DR1 file (v19); the derivative bundled until 2026-12-04 gave 1,648 / 1,996
    # and 1,430 / 1,942 / 272.
    assert counts["kept_by_class"] == {"bll": 1663, "fsrq": 1997}
    assert counts["kept_by_origin"] == {"both": 1435, "bzcat": 1936, "4lac": 289}
    assert not merged["name"].isin(["4FGL J1956.1+0234"]).any()


# ---------------------------------------------------------------------------------------------
# splits and Tables 3/4


def test_split_sizes_reproduce_table3_totals():
    assert split_sizes(1_167_803) == (934_243, 116_780, 116_780)


def test_stratified_split_reproduces_table4_per_class_counts():
    table4 = {  # class: (N_train, N_dev, N_test) of Table 4
        "galaxy": (270_988, 33_874, 33_873),
        "star": (3_125, 391, 390),
        "agn": (112_904, 14_113, 14_113),
        "bll": (199, 25, 24),
        "fsrq": (372, 46, 46),
    }
    names = list(table4)
    labels = np.repeat(np.arange(5), [sum(v) for v in table4.values()])
    splits = assign_splits(labels.size, seed=1, stratify_labels=labels)
    table = class_split_table(labels, splits, names).set_index("class")
    for name, counts in table4.items():
        assert tuple(table.loc[name, ["N_train", "N_dev", "N_test"]]) == counts
    assert tuple(table.loc["total", ["N_train", "N_dev", "N_test"]]) == (387_588, 48_449, 48_446)
    assert table.loc["galaxy", "fraction"] == pytest.approx(0.6991, abs=1e-4)


@given(
    n_rows=st.integers(min_value=0, max_value=10**7),
    train=st.integers(min_value=0, max_value=20),
    dev=st.integers(min_value=0, max_value=20),
    test=st.integers(min_value=0, max_value=20),
)
def test_split_sizes_sum_to_n_and_stay_near_nominal(n_rows, train, dev, test):
    if train + dev + test == 0:
        return
    total = train + dev + test
    fractions = (train / total, dev / total, test / total)
    sizes = split_sizes(n_rows, fractions)
    assert sum(sizes) == n_rows and min(sizes) >= 0
    for size, fraction in zip(sizes, fractions, strict=True):
        # floor for test (< 1 off), nearest for dev of the rest (< 1.5 off), train the remainder
        assert abs(size - fraction * n_rows) < 1.5 + 1e-6


def test_assign_splits_deterministic_disjoint_and_sized():
    first = assign_splits(1000, seed=7)
    assert np.array_equal(first, assign_splits(1000, seed=7))
    assert not np.array_equal(first, assign_splits(1000, seed=8))
    counts = pd.Series(first).value_counts()
    assert counts.to_dict() == {"train": 800, "dev": 100, "test": 100}
    assert set(first) == {"train", "dev", "test"}  # every row in exactly one split
    labels = np.array([0] * 990 + [1] * 10)
    stratified = assign_splits(1000, seed=7, stratify_labels=labels)
    rare = pd.Series(stratified[labels == 1]).value_counts().to_dict()
    assert rare == {"train": 8, "dev": 1, "test": 1}
    with pytest.raises(ValueError, match="fractions"):
        assign_splits(10, fractions=(0.5, 0.5, 0.5), seed=0)


def test_class_split_table_total_row_is_computed():
    table = class_split_table(
        ["a", "b", "b", "a", "a"], ["train", "train", "dev", "test", "train"], ["a", "b"]
    )
    assert table["class"].tolist() == ["a", "b", "total"]
    assert table["N_train"].tolist() == [2, 1, 3]
    assert table["N_dev"].tolist() == [0, 1, 1]
    assert table["N_test"].tolist() == [1, 0, 1]
    assert table["fraction"].tolist() == pytest.approx([0.6, 0.4, 1.0])
    with pytest.raises(ValueError, match="not among"):
        class_split_table(["c"], ["train"], ["a", "b"])


# ---------------------------------------------------------------------------------------------
# bundled stand-ins


def test_bundled_cuts_on_a_hand_made_csv(tmp_path):
    rows = [
        (10.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "GALAXY"),
        (11.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "STAR"),
        (12.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "QSO"),
        (13.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "SKY"),
        (np.nan, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "STAR"),
        (15.0, 1.0, np.nan, 18.0, 17.5, 17.3, 17.2, "STAR"),
        (16.0, 1.0, 19.0, -9999.0, 17.5, 17.3, 17.2, "STAR"),
        (17.0, 1.0, 19.0, 18.0, 17.5, 17.3, 35.0, "STAR"),
        (18.0, 1.0, 19.0, 18.0, 9.0, 17.3, 17.2, "STAR"),
    ]
    path = tmp_path / "sample.csv"
    pd.DataFrame(rows, columns=["ra", "dec", "u", "g", "r", "i", "z", "class"]).to_csv(
        path, index=False
    )
    table, flow = prepare_bundled_star_galaxy_qso(path, task=BUNDLED_SGA, config=PREPARE)
    assert removed(flow) == {
        "spec_class": 1,
        "position": 1,
        "magnitude_nonfinite": 1,
        "magnitude_sentinel": 1,
        "magnitude_range": 2,
    }
    assert table["class_name"].tolist() == ["galaxy", "star", "qso"]
    assert table["label"].tolist() == [0, 1, 2]
    first = table.iloc[0]
    assert (first["u-g"], first["g-r"], first["r-i"], first["i-z"]) == pytest.approx(
        (1.0, 0.5, 0.2, 0.1)
    )
    pd.DataFrame(rows, columns=["ra", "dec", "u", "g", "R_band", "i", "z", "class"]).to_csv(
        path, index=False
    )
    with pytest.raises(ValueError, match=r"sample\.csv.*'r'"):
        prepare_bundled_star_galaxy_qso(path, task=BUNDLED_SGA, config=PREPARE)


def test_bundled_star_galaxy_qso_on_the_real_file():
    table, flow = prepare_bundled_star_galaxy_qso(SDSS_CSV, task=BUNDLED_SGA, config=PREPARE)
    assert flow.rows_in == 10_000 and flow.rows_out == len(table) == 10_000
    assert table["class_name"].value_counts().to_dict() == {
        "galaxy": 4998,
        "star": 4152,
        "qso": 850,
    }
    assert list(table.columns) == [
        "ra",
        "dec",
        *BUNDLED_SGA.features,
        "label",
        "class_name",
        "split",
        "sample",
    ]
    assert table["split"].value_counts().to_dict() == {"train": 8000, "dev": 1000, "test": 1000}
    again, _ = prepare_bundled_star_galaxy_qso(SDSS_CSV, task=BUNDLED_SGA, config=PREPARE)
    assert again["split"].equals(table["split"])


def test_bundled_blazar_task_on_the_real_files():
    merged = merge_blazar_catalogs(read_bzcat(BZCAT_CSV), read_4lac(LAC_DR1))
    table, flow = prepare_bundled_blazar_task(
        SDSS_CSV, BZCAT_CSV, merged, task=BUNDLED_BLAZAR, config=PREPARE
    )
    assert flow.rows_in == 10_000 + 3_561 and flow.rows_out == len(table)
    fractions = table["class_name"].value_counts(normalize=True)
    assert fractions["bll"] == pytest.approx(0.005, abs=0.0005)
    assert fractions["fsrq"] == pytest.approx(0.01, abs=0.0005)
    assert fractions["qso"] == pytest.approx(0.083, abs=0.005)
    diagnostics = table.attrs["diagnostics"]
    relabelled = sum(diagnostics["dr14_relabelled_to"].values())
    assert 5 <= relabelled <= 15
    assert set(table["sample"]) == {"sdss_dr14", "bzcat5"}
    assert (table["sample"] == "sdss_dr14").sum() == 10_000
    assert set(table.loc[table["sample"] == "bzcat5", "class_name"]) == {"bll", "fsrq"}
    # Stratified: both rare classes are in dev and test.
    for name in ("bll", "fsrq"):
        assert set(table.loc[table["class_name"] == name, "split"]) == {"train", "dev", "test"}
    again, _ = prepare_bundled_blazar_task(
        SDSS_CSV, BZCAT_CSV, merged, task=BUNDLED_BLAZAR, config=PREPARE
    )
    assert again.equals(table)


def test_verify_bundled_accepts_the_real_files_and_catches_a_modified_one(tmp_path):
    assert set(verify_bundled(BUNDLED)) == set(catalog.BUNDLED_FILES)
    data = b"ra,dec\n1,2\n"
    (tmp_path / "small.csv").write_bytes(data)
    (tmp_path / "other.csv").write_bytes(b"x\n")
    (tmp_path / "SHA256SUMS").write_text(
        f"{hashlib.sha256(data).hexdigest()}  small.csv\n"
        f"{hashlib.sha256(b'x' + bytes([10])).hexdigest()}  other.csv\n"
    )
    assert set(verify_bundled(tmp_path)) == {"small.csv", "other.csv"}
    (tmp_path / "small.csv").write_bytes(b"ra,dec\n1,3\n")
    with pytest.raises(BundledDataError, match="small.csv: SHA-256 is"):
        verify_bundled(tmp_path)
    os.remove(tmp_path / "other.csv")
    with pytest.raises(BundledDataError, match="other.csv: missing"):
        verify_bundled(tmp_path)
    shutil.rmtree(tmp_path)
    with pytest.raises(BundledDataError, match="no SHA256SUMS"):
        verify_bundled(tmp_path)


# ---------------------------------------------------------------------------------------------
# I/O and config


def test_parquet_round_trip_keeps_metadata(tmp_path):
    table = pd.DataFrame(
        {
            "ra": [1.0],
            "dec": [2.0],
            "u-g": [0.5],
            "label": [0],
            "class_name": ["galaxy"],
            "split": ["train"],
            "sample": ["x"],
        }
    )
    metadata = {
        "task": "sdss_optical_sgq",
        "features": ["u-g"],
        "class_names": ["galaxy"],
        "data_source": "bundled",
        "cutflow": CutFlow(3).to_dict(),
    }
    path = tmp_path / "out" / "table.parquet"
    write_parquet_atomic(table, path, metadata)
    back, back_metadata = read_parquet_with_metadata(path)
    assert back.equals(table)
    assert back_metadata == metadata


def test_parquet_write_is_all_or_nothing(tmp_path, monkeypatch):
    table = pd.DataFrame({"ra": [1.0]})
    metadata = {"task": "t", "features": [], "class_names": [], "data_source": "s"}
    path = tmp_path / "table.parquet"
    write_parquet_atomic(table, path, metadata)
    before = path.read_bytes()

    def failing_write(arrow_table, where):
        Path(where).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pyarrow.parquet, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(pd.DataFrame({"ra": [9.0]}), path, metadata)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_config_rejects_unknown_missing_and_bad_settings():
    assert resolve_prepare_config(PREPARE)["zwarning_allowed"] == [0, 16]
    assert resolve_prepare_config({**PREPARE, "snr_min": 3})["snr_min"] == 3
    with pytest.raises(ValueError, match="unknown prepare setting 'snr_mni'"):
        resolve_prepare_config({**PREPARE, "snr_mni": 3})
    partial = {key: value for key, value in PREPARE.items() if key != "lac_release"}
    with pytest.raises(ValueError, match=r"\['lac_release'\] are missing"):
        resolve_prepare_config(partial)
    with pytest.raises(ValueError, match="split_fractions"):
        resolve_prepare_config({**PREPARE, "split_fractions": [0.8, 0.1, 0.2]})
    with pytest.raises(ValueError, match="lac_release"):
        resolve_prepare_config({**PREPARE, "lac_release": "dr2"})


def test_the_schema_defaults_are_exactly_the_library_settings():
    # One truth: every setting the library needs has its default in the workflow schema.
    assert set(PREPARE) == set(catalog.PREPARE_SETTINGS)


def test_tasks_describe_features_and_classes():
    assert ARCHIVE_SGA.features == ("J-W1", "W1-W2")
    assert ARCHIVE_BLAZAR.class_names == ("galaxy", "star", "agn", "bll", "fsrq")
    assert BUNDLED_SGA.class_names == ("galaxy", "star", "qso")
    assert BUNDLED_BLAZAR.features == ("u-g", "g-r", "r-i", "i-z")


def test_empty_inputs_give_empty_tables():
    spec, wise, photo, blazars = _task_b_tables()
    table, flow = prepare_blazar_task(
        spec, wise.iloc[:0], photo, blazars, task=ARCHIVE_BLAZAR, config=PREPARE
    )
    assert len(table) == 0 and flow.rows_out == 0 and flow.removed_by_step()["wise_match"] == 19
    table, flow = prepare_star_galaxy_agn(spec.iloc[:0], wise, task=ARCHIVE_SGA, config=PREPARE)
    assert len(table) == 0 and flow.rows_in == 0


def test_no_warnings_on_clean_inputs():
    spec, wise, photo, blazars = _task_b_tables()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_blazar_task(spec, wise, photo, blazars, task=ARCHIVE_BLAZAR, config=PREPARE)


def test_the_sdss_class_cut_and_labels_follow_the_registry_entry():
    """The preparers read which SDSS classes they keep, and what they call them, from the
    task's registry entry they are given, not from a map of their own."""
    rows = [
        (10.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "GALAXY"),
        (11.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "STAR"),
        (12.0, 1.0, 19.0, 18.0, 17.5, 17.3, 17.2, "QSO"),
    ]
    frame = pd.DataFrame(rows, columns=["ra", "dec", "u", "g", "r", "i", "z", "class"])
    _, flow = prepare_bundled_star_galaxy_qso(frame, task=BUNDLED_SGA, config=PREPARE)
    assert flow.to_frame().set_index("step").loc["spec_class", "reason"] == (
        "SDSS class not GALAXY, STAR or QSO"
    )
    # An entry that keeps only galaxies and stars, calling stars "qso": the cut and the labels
    # change with it.
    entry = dataclasses.replace(BUNDLED_SGA, sdss_classes={"GALAXY": "galaxy", "STAR": "qso"})
    table, flow = prepare_bundled_star_galaxy_qso(frame, task=entry, config=PREPARE)
    assert removed(flow) == {"spec_class": 1}
    assert flow.to_frame().set_index("step").loc["spec_class", "reason"] == (
        "SDSS class not GALAXY or STAR"
    )
    assert table["class_name"].tolist() == ["galaxy", "qso"]
    assert table["label"].tolist() == [0, 2]
