"""SDSS acquisition through astroquery's real SkyServer client against the fake archive."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from deweight.archive import (
    ArchiveResponseError,
    ServiceUnreachableError,
    TransientServiceError,
    TruncatedResultError,
    acquire_sdss_table,
)
from deweight.archive.files import file_digest

# The fake archive and its fixtures (fake_archive, fake_vizier, fast_network).
pytest_plugins = ["archive_server"]

SPECOBJ_COLUMNS = ["specObjID", "bestObjID", "ra", "dec", "class", "subClass", "z", "zWarning",
                   "survey", "programname"]  # fmt: skip
TABLES = {
    "specobj": {"table": "SpecObj", "columns": SPECOBJ_COLUMNS},
    "photoobj": {
        "table": "PhotoObj",
        "join_column": "objID",
        "columns": [
            "objID",
            "type",
            "psfFlux_r",
            "psfFluxIvar_r",
            "modelFlux_r",
            "flags_r",
            "clean",
            "extinction_r",
        ],
    },  # fmt: skip
    "twomass": {
        "table": "TwoMass",
        "join_column": "objID",
        "columns": ["objID", "ptsKey", "ra", "dec", "j", "jIvar", "phQual"],
    },
}
CHUNKS = 5  # plates 0-8999 in steps of 2000; the fixture has rows in 4 of them


class Interrupted(Exception):
    """Stands in for a killed job."""


def common_settings(archive, **overrides):
    return {
        "service": "skyserver",
        "skyserver_url": archive.base_url if archive is not None else None,
        "tap_url": None,
        "data_release": 16,
        "plate_min": 0,
        "plate_max": 8999,
        "plates_per_chunk": 2000,
        "max_rows_per_chunk": 400000,
        **overrides,
    }


def fetch(archive, network, tmp_path, name="specobj", **kwargs):
    output = tmp_path / f"sdss_{name}.parquet"
    common = common_settings(archive, **kwargs.pop("common", {}))
    rows = acquire_sdss_table(name, common, TABLES[name], output, network=network, **kwargs)
    return output, rows


def assert_nothing_written(output):
    assert not output.exists()
    assert not output.with_name(output.name + ".provenance.json").exists()
    assert not list(output.parent.glob(f".{output.name}.*.tmp"))


def test_specobj_arrives_complete_with_exact_ids_and_provenance(
    fake_archive, fast_network, tmp_path, specobj_fixture
):
    output, rows = fetch(fake_archive, fast_network, tmp_path)
    expected = specobj_fixture
    table = pd.read_parquet(output)
    assert rows == len(table) == len(expected) == 8
    assert list(table.columns) == SPECOBJ_COLUMNS
    assert table["specObjID"].dtype == np.uint64
    np.testing.assert_array_equal(table["specObjID"], expected["specObjID"])
    np.testing.assert_array_equal(table["bestObjID"], expected["bestObjID"])
    assert int(table["specObjID"].max()) > 2**63  # eBOSS plates above 8191
    assert list(table["class"]) == list(expected["class"])

    requests = fake_archive.requests_to("skyserver")
    assert len(requests) == CHUNKS
    assert all(r.query["format"] == ["csv"] and r.query["searchtool"] == ["SQL"] for r in requests)
    assert all(r.path == "/dr16/en/tools/search/x_results.aspx" for r in requests)

    provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
    assert provenance["service"] == "SDSS SkyServer (DR16)"
    assert provenance["service_url"] == fake_archive.base_url
    assert provenance["row_count"] == 8
    assert provenance["sha256"] == file_digest(output)
    assert len(provenance["query"]) == CHUNKS
    assert provenance["query"][0].startswith("SELECT specObjID, bestObjID")
    assert provenance["extra"]["chunk_row_counts"] == [3, 2, 0, 1, 2]
    assert {"astroquery", "pyvo", "astropy", "pandas", "python"} <= set(
        provenance["package_versions"]
    )
    assert provenance["retrieved_utc"].endswith("Z")
    assert not (tmp_path / "sdss_specobj.parquet.parts").exists()


def test_photoobj_and_twomass_are_joined_on_bestobjid(
    fake_archive, fast_network, tmp_path, specobj_fixture
):
    spec = specobj_fixture
    photo_output, _ = fetch(fake_archive, fast_network, tmp_path, "photoobj")
    photo = pd.read_parquet(photo_output)
    assert list(photo.columns) == ["specObjID", *TABLES["photoobj"]["columns"]]
    # One spectrum's best object has no PhotoObj row: 7 of 8.
    assert len(photo) == 7
    key = dict(zip(spec["specObjID"], spec["bestObjID"], strict=True))
    assert all(key[s] == o for s, o in zip(photo["specObjID"], photo["objID"], strict=True))

    twomass = pd.read_parquet(fetch(fake_archive, fast_network, tmp_path, "twomass")[0])
    assert len(twomass) == 4
    assert set(twomass["phQual"]) == {"AAA", "AAB", "BCU"}
    assert all(key[s] == o for s, o in zip(twomass["specObjID"], twomass["objID"], strict=True))


@pytest.mark.parametrize("fault", ["503", "timeout"])
def test_a_transient_fault_is_retried(fake_archive, fast_network, tmp_path, fault):
    fake_archive.inject("skyserver", fault)
    output, rows = fetch(fake_archive, fast_network, tmp_path)
    assert rows == 8
    assert len(fake_archive.requests_to("skyserver")) == CHUNKS + 1


def test_persistent_503_ends_in_a_clear_error_and_no_output(fake_archive, fast_network, tmp_path):
    fake_archive.inject("skyserver", *["503"] * (fast_network.retries + 1))
    with pytest.raises(TransientServiceError) as caught:
        fetch(fake_archive, fast_network, tmp_path)
    message = str(caught.value)
    assert "SDSS SkyServer" in message and fake_archive.base_url in message
    assert "3 attempts" in message and "HTTP 503" in message
    assert_nothing_written(tmp_path / "sdss_specobj.parquet")


def test_an_html_error_page_parsed_as_a_table_is_refused(fake_archive, fast_network, tmp_path):
    fake_archive.inject("skyserver", "html")
    with pytest.raises(ArchiveResponseError, match="HTML page.*SkyServer - Error"):
        fetch(fake_archive, fast_network, tmp_path)
    assert len(fake_archive.requests_to("skyserver")) == 1  # not retried: it would recur
    assert_nothing_written(tmp_path / "sdss_specobj.parquet")


def test_a_chunk_near_the_row_cap_is_refused(fake_archive, fast_network, tmp_path):
    with pytest.raises(TruncatedResultError, match="plates_per_chunk"):
        fetch(fake_archive, fast_network, tmp_path, common={"max_rows_per_chunk": 3})
    assert_nothing_written(tmp_path / "sdss_specobj.parquet")


def test_a_rerun_fetches_only_the_chunks_after_the_interruption(
    fake_archive, fast_network, tmp_path, specobj_fixture
):
    def stop_after_second_chunk(chunk, rows):
        if chunk.index == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        fetch(fake_archive, fast_network, tmp_path, on_chunk_done=stop_after_second_chunk)
    output = tmp_path / "sdss_specobj.parquet"
    assert_nothing_written(output)
    assert len(fake_archive.requests_to("skyserver")) == 2

    fake_archive.requests.clear()
    _, rows = fetch(fake_archive, fast_network, tmp_path)
    resumed = fake_archive.requests_to("skyserver")
    assert len(resumed) == CHUNKS - 2
    first_resumed = resumed[0].query["cmd"][0]
    assert f"specObjID >= {4000 << 50} AND specObjID < {6000 << 50}" in first_resumed
    assert rows == 8
    expected = specobj_fixture
    np.testing.assert_array_equal(pd.read_parquet(output)["specObjID"], expected["specObjID"])


def test_a_changed_query_discards_the_stored_chunks(fake_archive, fast_network, tmp_path):
    def stop_after_second_chunk(chunk, rows):
        if chunk.index == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        fetch(fake_archive, fast_network, tmp_path, on_chunk_done=stop_after_second_chunk)
    fake_archive.requests.clear()
    output = tmp_path / "sdss_specobj.parquet"
    acquire_sdss_table(
        "specobj",
        common_settings(fake_archive),
        {"table": "SpecObj", "columns": ["specObjID", "z"]},
        output,
        network=fast_network,
    )
    assert len(fake_archive.requests_to("skyserver")) == CHUNKS
    assert list(pd.read_parquet(output).columns) == ["specObjID", "z"]


def test_a_tap_service_can_serve_the_same_table(
    fake_archive, fast_network, tmp_path, specobj_fixture
):
    output, rows = fetch(
        fake_archive,
        fast_network,
        tmp_path,
        common={"service": "tap", "tap_url": f"{fake_archive.base_url}/tap"},
    )
    assert rows == 8
    assert len(fake_archive.requests_to("tap_create")) == CHUNKS
    assert not fake_archive.requests_to("skyserver")
    table = pd.read_parquet(output)
    expected = specobj_fixture
    np.testing.assert_array_equal(table["specObjID"], expected["specObjID"])
    assert table["specObjID"].dtype == np.uint64


def test_an_unreachable_skyserver_fails_fast_before_any_work(fast_network, tmp_path):
    started = time.monotonic()
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused.
    common = common_settings(None, skyserver_url="http://127.0.0.1:9")
    with pytest.raises(ServiceUnreachableError) as caught:
        acquire_sdss_table(
            "specobj", common, TABLES["specobj"], tmp_path / "s.parquet", network=fast_network
        )
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "SDSS SkyServer" in message and "http://127.0.0.1:9" in message
    assert "data: {source: bundled}" in message and "snakemake --cores 2" in message
    assert not (tmp_path / "s.parquet.parts").exists()


def test_the_fake_tap_service_also_answers_pyvo_synchronous_queries(fake_archive, specobj_fixture):
    # Keeps the fake honest: pyvo's sync path (POST /sync, VOTable back) sees the same rows.
    import pyvo

    service = pyvo.dal.TAPService(f"{fake_archive.base_url}/tap")
    result = service.run_sync(
        "SELECT specObjID, z FROM SpecObj WHERE specObjID >= 0 ORDER BY specObjID"
    ).to_table()
    assert len(result) == len(specobj_fixture)
    np.testing.assert_allclose(result["z"], specobj_fixture["z"])
    assert fake_archive.requests_to("tap_sync")


def test_a_column_the_service_lacks_stops_naming_the_service_and_the_column(
    fake_archive, fast_network, tmp_path
):
    output = tmp_path / "sdss_photoobj.parquet"
    table = {**TABLES["photoobj"], "columns": [*TABLES["photoobj"]["columns"], "psfMag_q"]}
    # SkyServer's answer to an SQL error is HTTP 500 with a JSON body: an error naming the
    # SQL message at once, not a busy server to retry.
    with pytest.raises(ArchiveResponseError, match=r"SDSS SkyServer rejected the SQL.*psfMag_q"):
        acquire_sdss_table(
            "photoobj", common_settings(fake_archive), table, output, network=fast_network
        )
    assert_nothing_written(output)
    assert len(fake_archive.requests_to("skyserver")) == 1
