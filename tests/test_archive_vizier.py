"""BZCAT 5 and 4LAC through astroquery's real VizieR client against the fake archive (HTTPS)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from deweight.archive import (
    ArchiveResponseError,
    RowCountMismatchError,
    TransientServiceError,
    TruncatedResultError,
    VizierTableSpec,
    acquire_vizier_table,
    resolve_4lac_spec,
)
from deweight.archive.vizier import parse_vizier_votable

RECORDED = Path(__file__).parent / "fixtures" / "recorded"

# The fake archive and its fixtures (fake_archive, fake_vizier, fast_network).
pytest_plugins = ["archive_server"]

BZCAT5 = VizierTableSpec("VII/274", "bzcat5", 7)  # the fixture holds 7 real BZCAT rows


def fetch(archive, network, tmp_path, spec=BZCAT5, name="bzcat5"):
    output = tmp_path / f"{name}.parquet"
    rows = acquire_vizier_table(name, spec, output, server=archive.host_port, network=network)
    return output, rows


def assert_nothing_written(output):
    assert not output.exists()
    assert not output.with_name(output.name + ".provenance.json").exists()


def test_bzcat5_arrives_whole_with_all_columns(fake_vizier, fast_network, tmp_path):
    output, rows = fetch(fake_vizier, fast_network, tmp_path)
    table = pd.read_parquet(output)
    assert rows == len(table) == 7
    assert list(table.columns) == [
        "Seq",
        "Name",
        "RAJ2000",
        "DEJ2000",
        "z",
        "Rmag",
        "Class",
        "S1.4",
    ]
    assert table["Name"].str.startswith("5BZ").all()
    assert "QSO RLoud flat radio sp." in set(table["Class"])

    (request,) = fake_vizier.requests_to("vizier")
    script = request.body.decode().splitlines()
    # astroquery's ASU script: the whole table (no row limit) with every column.
    assert "-source=VII/274" in script
    assert "-out.max=unlimited" in script
    assert "-out.all" in script

    provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
    assert provenance["service"] == "CDS VizieR"
    assert provenance["service_url"] == f"https://{fake_vizier.host_port}/viz-bin/votable"
    assert "-out.max=unlimited" in provenance["query"]
    assert provenance["extra"]["vizier_table"] == "VII/274/bzcat5"


def test_4lac_dr1_takes_the_high_latitude_table(fake_vizier, fast_network, tmp_path):
    spec = resolve_4lac_spec({"release": "dr1", "expected_rows": 6})
    output, rows = fetch(fake_vizier, fast_network, tmp_path, spec, "4lac")
    table = pd.read_parquet(output)
    assert rows == 6
    assert table["4FGL"].iloc[0] == "4FGL J0840.8+1317"
    provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
    assert provenance["extra"]["vizier_table"] == "J/ApJ/892/105/highlat"


def test_a_catalogue_of_the_wrong_size_is_refused(fake_vizier, fast_network, tmp_path):
    spec = resolve_4lac_spec({"release": "dr1"})  # expects the real 2,863 rows
    with pytest.raises(RowCountMismatchError, match="6 rows.*known to have 2863"):
        fetch(fake_vizier, fast_network, tmp_path, spec, "4lac")
    assert_nothing_written(tmp_path / "4lac.parquet")


def test_an_ambiguous_catalogue_lists_its_tables(fake_vizier, fast_network, tmp_path):
    spec = VizierTableSpec("J/ApJ/892/105", None, 6)
    with pytest.raises(ArchiveResponseError, match="highlat \\(6 rows\\).*lowlat \\(2 rows\\)"):
        fetch(fake_vizier, fast_network, tmp_path, spec, "4lac")


def test_an_unknown_catalogue_is_a_clear_error(fake_vizier, fast_network, tmp_path):
    with pytest.raises(ArchiveResponseError, match="no table for VII/999"):
        fetch(fake_vizier, fast_network, tmp_path, VizierTableSpec("VII/999", "x", 1), "x")


@pytest.mark.parametrize("fault", ["503", "timeout"])
def test_a_transient_fault_is_retried(fake_vizier, fast_network, tmp_path, fault):
    fake_vizier.inject("vizier", fault)
    _, rows = fetch(fake_vizier, fast_network, tmp_path)
    assert rows == 7
    assert len(fake_vizier.requests_to("vizier")) == 2


def test_persistent_503_is_a_clear_error(fake_vizier, fast_network, tmp_path):
    fake_vizier.inject("vizier", *["503"] * (fast_network.retries + 1))
    with pytest.raises(TransientServiceError, match="CDS VizieR.*HTTP 503"):
        fetch(fake_vizier, fast_network, tmp_path)
    assert_nothing_written(tmp_path / "bzcat5.parquet")


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        ("html", ArchiveResponseError, "something other than a VOTable"),
        ("truncated", ArchiveResponseError, "could not be parsed"),
        ("overflow", TruncatedResultError, "overflow"),
    ],
)
def test_unusable_answers_are_refused(fake_vizier, fast_network, tmp_path, fault, error, message):
    fake_vizier.inject("vizier", fault)
    with pytest.raises(error, match=message):
        fetch(fake_vizier, fast_network, tmp_path)
    assert_nothing_written(tmp_path / "bzcat5.parquet")


# --- Recorded VizieR answers (astropy/astroquery, BSD-3; tests/fixtures/recorded) ------------


@pytest.mark.parametrize(
    "name, n_tables",
    [("astroquery_vizier_viz.xml", 360), ("astroquery_vizier_afgl2591_iram.xml", 1)],
)
def test_recorded_vizier_answers_parse_into_their_tables(name, n_tables):
    content = (RECORDED / name).read_bytes()
    parsed = parse_vizier_votable(content, what="recorded", url="https://vizier.example")
    assert len(list(parsed.iter_tables())) == n_tables


def test_vizier_database_unreachable_is_transient_and_retried(fake_vizier, fast_network, tmp_path):
    recorded = (RECORDED / "astroquery_vizier_no_server_error.xml").read_bytes()
    with pytest.raises(TransientServiceError, match="not currently reachable"):
        parse_vizier_votable(recorded, what="VII/274", url="https://vizier.example")
    # Served once by the local sky with status 200: retried, then the table arrives.
    fake_vizier.inject("vizier", "db_unreachable")
    _, rows = fetch(fake_vizier, fast_network, tmp_path)
    assert rows == 7
    assert len(fake_vizier.requests_to("vizier")) == 2
    # Served every time: an error naming VizieR's own words after the retries.
    fake_vizier.inject("vizier", *["db_unreachable"] * (fast_network.retries + 1))
    with pytest.raises(TransientServiceError, match="database is not currently reachable"):
        fetch(fake_vizier, fast_network, tmp_path, name="again")
    assert_nothing_written(tmp_path / "again.parquet")
