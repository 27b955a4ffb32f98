"""Query builders, chunk planning and response parsing of deweight.archive (no server)."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy.io import votable
from hypothesis import given, settings
from hypothesis import strategies as st

from deweight.archive import (
    AllwiseSpec,
    ArchiveResponseError,
    NetworkSettings,
    SdssTableSpec,
    SpecObjIdRange,
    build_allwise_adql,
    build_chunk_query,
    nearest_matches,
    parse_skyserver_csv,
    plan_specobjid_ranges,
    resolve_4lac_spec,
)
from deweight.archive.tap import votable_reports_overflow

SHARED = Path("/work/shared/data")
FIXTURES = Path(__file__).parent / "fixtures" / "archive"
REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["archive"]
SPECOBJ = SdssTableSpec.from_config("specobj", CONFIG["sdss"]["specobj"])
PHOTOOBJ = SdssTableSpec.from_config("photoobj", CONFIG["sdss"]["photoobj"])
TWOMASS = SdssTableSpec.from_config("twomass", CONFIG["sdss"]["twomass"])


def test_plan_covers_every_specobjid_with_contiguous_ranges():
    plan = plan_specobjid_ranges(0, 12999, 100)
    assert len(plan) == 130
    assert plan[0] == SpecObjIdRange(0, 0, 99, 0, 100 << 50)
    assert plan[1] == SpecObjIdRange(1, 100, 199, 100 << 50, 200 << 50)
    assert plan[-1].upper is None  # open-ended: plates beyond plate_max are not lost
    assert plan[-1].lower == 12900 << 50
    for previous, following in zip(plan, plan[1:], strict=False):
        assert previous.upper == following.lower


@settings(max_examples=200, deadline=None)
@given(
    plate=st.integers(0, 16383),
    fiber=st.integers(1, 1000),
    mjd=st.integers(51000, 59999),
    plate_min=st.integers(0, 500),
    plate_max=st.integers(500, 13000),
    width=st.integers(1, 3000),
)
def test_every_spectrum_falls_in_exactly_one_chunk(plate, fiber, mjd, plate_min, plate_max, width):
    spec_obj_id = (plate << 50) + (fiber << 38) + ((mjd - 50000) << 24) + (26 << 10)
    plan = plan_specobjid_ranges(plate_min, plate_max, width)
    containing = [
        chunk
        for chunk in plan
        if chunk.lower <= spec_obj_id and (chunk.upper is None or spec_obj_id < chunk.upper)
    ]
    assert len(containing) == 1
    if plate_min <= plate <= plate_max:
        assert containing[0].first_plate <= plate <= containing[0].last_plate


def test_plate_is_the_top_bits_of_real_dr14_specobjids():
    # Real SkyServer export whose specobjid kept 6 significant digits (error < 5e12).
    # Above the plate bits sit fiber << 38 (> 5e12 once fiber > 20), so for those rows
    # the rounding cannot cross a plate boundary and the plate must come out exactly.
    sample = pd.read_csv(SHARED / "sdss_dr14_specphoto_sample_10k.csv")
    sample = sample[sample["fiberid"] > 20]
    recovered = np.array([int(round(value)) >> 50 for value in sample["specobjid"]])
    np.testing.assert_array_equal(recovered, sample["plate"].to_numpy())


def test_specobj_query_text_for_a_middle_chunk():
    chunk = plan_specobjid_ranges(0, 12999, 100)[3]
    assert build_chunk_query(SPECOBJ, chunk) == (
        "SELECT specObjID, bestObjID, ra, dec, class, subClass, z, zWarning, survey, programname\n"
        "FROM SpecObj\n"
        "WHERE specObjID >= 337769972052787200 AND specObjID < 450359962737049600\n"
        "ORDER BY specObjID"
    )


def test_photoobj_query_joins_on_bestobjid_for_the_first_chunk():
    chunk = plan_specobjid_ranges(0, 12999, 100)[0]
    text = build_chunk_query(PHOTOOBJ, chunk)
    assert text == (
        "SELECT s.specObjID, t.objID, t.type, t.psfFlux_g, t.psfFlux_r, t.psfFlux_i, "
        "t.psfFluxIvar_g, t.psfFluxIvar_r, t.psfFluxIvar_i, t.modelFlux_g, t.modelFlux_r, "
        "t.modelFlux_i, t.modelFluxIvar_g, t.modelFluxIvar_r, t.modelFluxIvar_i, t.flags, "
        "t.flags_g, t.flags_r, t.flags_i, t.clean, t.extinction_g, t.extinction_r, "
        "t.extinction_i\n"
        "FROM SpecObj AS s\n"
        "JOIN PhotoObj AS t ON t.objID = s.bestObjID\n"
        "WHERE s.specObjID >= 0 AND s.specObjID < 112589990684262400\n"
        "ORDER BY s.specObjID"
    )
    assert PHOTOOBJ.output_columns[0] == "specObjID"


def test_twomass_query_for_the_open_ended_last_chunk_has_no_upper_bound():
    chunk = plan_specobjid_ranges(0, 12999, 100)[-1]
    assert build_chunk_query(TWOMASS, chunk) == (
        "SELECT s.specObjID, t.objID, t.ptsKey, t.ra, t.dec, t.j, t.jIvar, t.phQual\n"
        "FROM SpecObj AS s\n"
        "JOIN TwoMass AS t ON t.objID = s.bestObjID\n"
        "WHERE s.specObjID >= 14524108798269849600\n"
        "ORDER BY s.specObjID"
    )


def test_allwise_adql_uploads_positions_and_uses_a_3_arcsec_circle():
    spec = AllwiseSpec.from_config(CONFIG["allwise"])
    text = build_allwise_adql(spec)
    assert text.splitlines() == [
        "SELECT u.source_index, w.designation, w.ra, w.dec, w.w1flux, w.w1sigflux, w.w2flux, "
        "w.w2sigflux, w.w3flux, w.w3sigflux, w.w1mpro, w.w1sigmpro, w.w2mpro, w.w2sigmpro, "
        "w.w3mpro, w.w3sigmpro, w.w1magp, w.w1sigp2, w.w2magp, w.w2sigp2, w.w3magp, w.w3sigp2, "
        "w.w1cc_map, w.w2cc_map, w.w3cc_map, w.cc_flags, w.j_m_2mass, w.j_msig_2mass",
        "FROM TAP_UPLOAD.sdss_positions AS u, allwise_p3as_psd AS w",
        "WHERE CONTAINS(POINT('ICRS', w.ra, w.dec), "
        "CIRCLE('ICRS', u.ra, u.dec, 0.000833333333333)) = 1",
    ]


@pytest.mark.parametrize("bad", ["z; DROP TABLE SpecObj", "ra dec", "1z", "class--"])
def test_column_names_that_are_not_plain_identifiers_are_refused(bad):
    with pytest.raises(ValueError, match="identifier"):
        SdssTableSpec.from_config("specobj", {"table": "SpecObj", "columns": ["ra", bad]})


def test_allwise_spec_refuses_more_than_50000_positions_per_job():
    with pytest.raises(ValueError, match="50000"):
        AllwiseSpec.from_config({**CONFIG["allwise"], "positions_per_job": 50001})


def test_real_skyserver_csv_is_parsed_with_exact_64_bit_ids():
    # Recorded SkyServer answer shipped in astroquery's test suite.
    text = (SHARED / "fixtures" / "astroquery_sdss_tests_data_xid_sp.txt").read_text()
    columns = ["ra", "dec", "objid", "run", "rerun", "camcol", "field", "z", "plate", "mjd",
               "fiberID", "specobjid", "run2d", "instrument"]  # fmt: skip
    frame = parse_skyserver_csv(text, columns, url="fixture")
    assert len(frame) == 1
    assert frame["specobjid"].dtype == np.uint64
    assert int(frame["specobjid"].iloc[0]) == 845594848269461504
    assert int(frame["objid"].iloc[0]) == 1237652943176138868
    assert int(frame["specobjid"].iloc[0]) >> 50 == frame["plate"].iloc[0] == 751


def test_specobjid_above_2_to_the_63_survives_parsing():
    text = "#Table1\nspecObjID,bestObjID,z\n9228021719896188928,1237650000000007007,0.5\n"
    frame = parse_skyserver_csv(text, ["specObjID", "bestObjID", "z"], url="u")
    assert frame["specObjID"].dtype == np.uint64
    assert int(frame["specObjID"].iloc[0]) == 9228021719896188928


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("<!DOCTYPE html><html><head><title>Runtime Error</title></head></html>", "text/html",
         "HTML page.*Runtime Error"),
        ("<html><body>busy</body></html>", "text/plain", "HTML page"),
        ("#Table1\nerror_message\nIncorrect syntax near 'FORM'.\n", "text/plain",
         "reported an error.*Incorrect syntax"),
        ("#Table1\nra,dec\n1,2\n", "text/plain", "columns \\['ra', 'dec'\\] instead"),
        ("#Table1\nz\n1\n#Table2\nz\n2\n", "text/plain", "2 tables"),
    ],
)  # fmt: skip
def test_answers_that_are_not_the_requested_table_are_refused(body, content_type, message):
    with pytest.raises(ArchiveResponseError, match=message):
        parse_skyserver_csv(body, ["z"], url="https://example/x", content_type=content_type)


@pytest.mark.parametrize(
    "body", ["#Table1\nspecObjID,z\n", "#Table1\n", "No objects have been found\n"]
)
def test_empty_results_become_empty_tables_with_the_requested_columns(body):
    frame = parse_skyserver_csv(body, ["specObjID", "z"], url="u")
    assert list(frame.columns) == ["specObjID", "z"]
    assert frame.empty
    assert frame["specObjID"].dtype == np.uint64


def test_overflow_status_is_found_after_the_table():
    # DALI allows the status after the rows: an OK before and an OVERFLOW after.
    text = b"""<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/><TABLE><FIELD name="a" datatype="int"/>
<DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE>
<INFO name="QUERY_STATUS" value="OVERFLOW"/></RESOURCE></VOTABLE>"""
    document = votable.parse(io.BytesIO(text))
    assert votable_reports_overflow(document)


def test_a_recorded_irsa_votable_reports_no_overflow():
    document = votable.parse(SHARED / "fixtures" / "astroquery_ipac_irsa_tests_data_Cone.xml")
    assert not votable_reports_overflow(document)


def test_nearest_match_keeps_the_closest_source_and_its_separation():
    positions = pd.DataFrame(
        {"source_index": [10, 11, 12], "specObjID": [5, 6, 7], "ra": [150.0, 150.1, 150.2],
         "dec": [2.0, 2.0, 2.0]}
    )  # fmt: skip
    arcsec = 1 / 3600
    matches = pd.DataFrame(
        {
            "source_index": [10, 10, 11],
            "designation": ["far", "near", "only"],
            "ra": [150.0 + 2.5 * arcsec, 150.0, 150.1],
            "dec": [2.0, 2.0 + 0.5 * arcsec, 2.0 - 1.0 * arcsec],
        }
    )
    nearest = nearest_matches(positions, matches, key_column="specObjID")
    assert list(nearest["designation"]) == ["near", "only"]
    assert list(nearest["specObjID"]) == [5, 6]
    np.testing.assert_allclose(nearest["separation_arcsec"], [0.5, 1.0], rtol=1e-6)
    assert "source_index" not in nearest.columns


def test_4lac_presets_and_overrides():
    assert resolve_4lac_spec({"release": "dr1"}).full_name == "J/ApJ/892/105/highlat"
    assert resolve_4lac_spec({"release": "dr1"}).expected_rows == 2863
    dr3 = resolve_4lac_spec({"release": "dr3", "table": "hlat", "expected_rows": None})
    assert (dr3.catalog, dr3.table, dr3.expected_rows) == ("J/ApJS/263/24", "hlat", 3407)
    with pytest.raises(ValueError, match="release"):
        resolve_4lac_spec({"release": "dr2"})


def test_network_settings_refuse_unknown_keys():
    assert NetworkSettings.from_config(CONFIG["network"]).retries == 5
    with pytest.raises(ValueError, match="retires"):
        NetworkSettings.from_config({"retires": 3})


def test_backoff_doubles_up_to_the_cap():
    network = NetworkSettings(backoff_initial_s=1, backoff_max_s=5, backoff_jitter=0)
    assert [network.backoff_delay(n) for n in range(5)] == [1, 2, 4, 5, 5]
