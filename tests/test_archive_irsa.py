"""AllWISE cross-match through pyvo's real async TAP client (UWS + upload) on the fake archive."""

import dataclasses
import io
import json
import time

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import votable

from deweight.archive import (
    AllwiseSpec,
    TapJobFailedError,
    TapJobTimeoutError,
    TransientServiceError,
    TruncatedResultError,
    acquire_allwise,
    build_allwise_adql,
)

# The fake archive and its fixtures (fake_archive, fake_vizier, fast_network).
pytest_plugins = ["archive_server"]

COLUMNS = ["designation", "ra", "dec", "w1flux", "w1sigflux", "w2flux", "w2sigflux", "w3flux",
           "w3sigflux", "w1mpro", "w1magp", "w1sigp2", "w1cc_map", "w2cc_map", "w3cc_map",
           "cc_flags", "j_m_2mass", "j_msig_2mass"]  # fmt: skip
POSITIONS_PER_JOB = 3  # 8 SDSS spectra -> 3 jobs


class Interrupted(Exception):
    """Stands in for a killed job."""


@pytest.fixture
def positions(tmp_path, specobj_fixture):
    path = tmp_path / "sdss_specobj.parquet"
    specobj_fixture.to_parquet(path)
    return path


def settings_for(archive, **overrides):
    return {
        "tap_url": f"{archive.base_url}/tap",
        "table": "allwise_p3as_psd",
        "columns": COLUMNS,
        "radius_arcsec": 3.0,
        "positions_per_job": POSITIONS_PER_JOB,
        "maxrec": 1000,
        **overrides,
    }


def run(archive, network, positions, tmp_path, **kwargs):
    output = tmp_path / "allwise.parquet"
    overrides = kwargs.pop("settings", {})
    rows = acquire_allwise(
        positions, settings_for(archive, **overrides), output, network=network, **kwargs
    )
    return output, rows


def assert_nothing_written(output):
    assert not output.exists()
    assert not output.with_name(output.name + ".provenance.json").exists()


def test_nearest_allwise_source_within_3_arcsec_is_kept(
    fake_archive, fast_network, positions, tmp_path, specobj_fixture
):
    output, rows = run(fake_archive, fast_network, positions, tmp_path)
    table = pd.read_parquet(output)
    spec = specobj_fixture
    # Spectrum 2 has only a source 4.5" away and spectrum 4 none at all.
    assert rows == len(table) == 6
    assert set(spec["specObjID"]) - set(table["specObjID"]) == {
        spec["specObjID"][2],
        spec["specObjID"][4],
    }
    assert list(table.columns) == ["specObjID", *COLUMNS, "separation_arcsec"]
    assert (table["separation_arcsec"] < 3.0).all()
    by_id = table.set_index("specObjID")
    # Spectrum 1 has sources at 2.6" and 0.5": the nearer one is kept.
    np.testing.assert_allclose(by_id.loc[spec["specObjID"][1], "separation_arcsec"], 0.5, atol=1e-3)
    np.testing.assert_allclose(by_id.loc[spec["specObjID"][5], "separation_arcsec"], 0.3, atol=1e-3)
    # The separation really is the distance between the SDSS and AllWISE positions.
    sdss = spec.set_index("specObjID").loc[table["specObjID"]]
    expected = SkyCoord(sdss["ra"].to_numpy() * u.deg, sdss["dec"].to_numpy() * u.deg).separation(
        SkyCoord(table["ra"].to_numpy() * u.deg, table["dec"].to_numpy() * u.deg)
    )
    np.testing.assert_allclose(table["separation_arcsec"], expected.to_value(u.arcsec), rtol=1e-9)

    jobs = fake_archive.requests_to("tap_create")
    assert len(jobs) == 3
    provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
    assert provenance["query"] == build_allwise_adql(
        AllwiseSpec.from_config(settings_for(fake_archive))
    )
    assert provenance["extra"]["jobs"] == 3 and provenance["extra"]["positions"] == 8


def test_each_job_uploads_at_most_the_configured_positions_as_multipart_votable(
    fake_archive, fast_network, positions, tmp_path
):
    run(fake_archive, fast_network, positions, tmp_path)
    uploaded_rows = []
    for request in fake_archive.requests_to("tap_create"):
        content_type = request.headers["Content-Type"]
        assert content_type.startswith("multipart/form-data")
        assert b'name="UPLOAD"' in request.body
        assert b"sdss_positions,param:sdss_positions" in request.body
        start = request.body.index(b"<?xml")
        end = request.body.index(b"</VOTABLE>") + len(b"</VOTABLE>")
        table = votable.parse_single_table(io.BytesIO(request.body[start:end])).to_table()
        assert table.colnames == ["source_index", "ra", "dec"]
        uploaded_rows.append(len(table))
    assert uploaded_rows == [3, 3, 2]
    # The UWS life cycle: RUN was requested for every job, results fetched, jobs deleted.
    phases = fake_archive.requests_to("tap_phase")
    assert [r.body for r in phases] == [b"PHASE=RUN"] * 3
    assert len(fake_archive.requests_to("tap_result")) == 3
    assert [r.method for r in fake_archive.requests_to("tap_job")].count("DELETE") == 3


def test_a_job_ending_in_error_is_a_clear_error(fake_archive, fast_network, positions, tmp_path):
    fake_archive.inject("tap_create", "job_error")
    with pytest.raises(TapJobFailedError) as caught:
        run(fake_archive, fast_network, positions, tmp_path)
    message = str(caught.value)
    assert "IRSA TAP (AllWISE)" in message and "/tap/async/job1" in message
    assert "phase ERROR" in message and "ORA-01013" in message
    assert_nothing_written(tmp_path / "allwise.parquet")


def test_a_job_that_never_finishes_times_out_and_is_aborted(
    fake_archive, fast_network, positions, tmp_path
):
    fake_archive.inject("tap_create", "job_stuck")
    network = dataclasses.replace(fast_network, tap_job_timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(TapJobTimeoutError) as caught:
        run(fake_archive, network, positions, tmp_path)
    assert time.monotonic() - started < 5
    assert "still in phase EXECUTING" in str(caught.value)
    assert "tap_job_timeout_s" in str(caught.value)
    # Not resubmitted (the same heavy query would time out again), but aborted.
    assert len(fake_archive.requests_to("tap_create")) == 1
    aborts = [r for r in fake_archive.requests_to("tap_phase") if r.body == b"PHASE=ABORT"]
    assert len(aborts) == 1
    assert_nothing_written(tmp_path / "allwise.parquet")


def test_an_overflow_status_is_an_error_never_a_silent_truncation(
    fake_archive, fast_network, positions, tmp_path
):
    fake_archive.inject("tap_result", "overflow")
    with pytest.raises(TruncatedResultError, match="OVERFLOW|truncated"):
        run(fake_archive, fast_network, positions, tmp_path)
    assert_nothing_written(tmp_path / "allwise.parquet")


@pytest.mark.parametrize("maxrec", [2, 3])
def test_reaching_maxrec_is_truncation(fake_archive, fast_network, positions, tmp_path, maxrec):
    # The first job's 3 positions have 3 AllWISE rows within 3": maxrec 2 makes the
    # service cut the result (with OVERFLOW), maxrec 3 fills it exactly (no status).
    with pytest.raises(TruncatedResultError):
        run(fake_archive, fast_network, positions, tmp_path, settings={"maxrec": maxrec})
    assert_nothing_written(tmp_path / "allwise.parquet")


def test_a_truncated_votable_is_fetched_again(fake_archive, fast_network, positions, tmp_path):
    fake_archive.inject("tap_result", "truncated")
    _, rows = run(fake_archive, fast_network, positions, tmp_path)
    assert rows == 6
    assert len(fake_archive.requests_to("tap_result")) == 4  # 3 jobs + 1 refetch
    assert len(fake_archive.requests_to("tap_create")) == 3  # the job itself was not rerun


def test_a_result_that_stays_truncated_is_a_clear_error(
    fake_archive, fast_network, positions, tmp_path
):
    fake_archive.inject("tap_result", *["truncated"] * (fast_network.retries + 1))
    with pytest.raises(TransientServiceError, match="not a complete VOTable"):
        run(fake_archive, fast_network, positions, tmp_path)
    assert_nothing_written(tmp_path / "allwise.parquet")


@pytest.mark.parametrize("fault", ["503", "timeout"])
def test_a_failed_submission_is_retried(fake_archive, fast_network, positions, tmp_path, fault):
    fake_archive.inject("tap_create", fault)
    _, rows = run(fake_archive, fast_network, positions, tmp_path)
    assert rows == 6
    assert len(fake_archive.requests_to("tap_create")) == 4


def test_a_rerun_submits_only_the_jobs_after_the_interruption(
    fake_archive, fast_network, positions, tmp_path
):
    def stop_after_first_job(index, rows):
        if index == 0:
            raise Interrupted

    with pytest.raises(Interrupted):
        run(fake_archive, fast_network, positions, tmp_path, on_chunk_done=stop_after_first_job)
    assert_nothing_written(tmp_path / "allwise.parquet")
    fake_archive.requests.clear()
    output, rows = run(fake_archive, fast_network, positions, tmp_path)
    assert len(fake_archive.requests_to("tap_create")) == 2
    assert rows == 6 == len(pd.read_parquet(output))


def test_a_poll_that_times_out_polls_the_same_job_again(
    fake_archive, fast_network, positions, tmp_path, monkeypatch, caplog
):
    # pyvo polls a job with its own fixed read timeout; a slow answer to one poll must not
    # abort and resubmit a running job (shared/ARCHIVE_FACTS.md), only poll it again.
    import pyvo.dal.tap

    monkeypatch.setattr(pyvo.dal.tap, "DEFAULT_JOB_POLL_TIMEOUT", 0.3)
    fake_archive.slow_seconds = 0.8
    # The job page is read twice while pyvo creates the job (the POST's 303 redirect, then
    # the job's first update) and once after PHASE=RUN (its redirect): submission steps.
    # The fourth read is the first poll.
    fake_archive.inject("tap_job", None, None, None, "timeout")
    _, rows = run(fake_archive, fast_network, positions, tmp_path)
    assert rows == 6
    sequence = [(r.route, r.method, r.fault) for r in fake_archive.requests if r.route != "probe"]
    assert len(fake_archive.requests_to("tap_create")) == 3, sequence  # one job per chunk
    assert not [r for r in fake_archive.requests_to("tap_phase") if r.body == b"PHASE=ABORT"]
    polls = [r for r in fake_archive.requests_to("tap_job") if r.method == "GET"]
    assert polls[3].fault == "timeout" and polls[4].path == polls[3].path
    assert "Read timed out" in caplog.text and "polling it again" in caplog.text
