"""4LAC with counterpart positions: Fermi-LAT FITS download or VizieR, through one column map.

The seam these tests close: ``blazar_catalog`` reads ``resources/archive/4lac.parquet`` with
:func:`deweight.catalog.read_4lac`. Whatever the acquisition source, that file must carry the
counterpart ("radio companion") position the paper matches on (Sect. 3.4).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from deweight.archive import (
    ArchiveResponseError,
    ChecksumMismatchError,
    RowCountMismatchError,
    acquire_4lac,
)
from deweight.catalog import merge_blazar_catalogs, read_4lac, read_bzcat
from deweight.lac_columns import LAC_FITS_COLUMNS

pytest_plugins = ["archive_server"]

BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "bundled"
DR3_HIGH = BUNDLED / "4lac_dr3_highlat.fits"
DR3_LOW = BUNDLED / "4lac_dr3_lowlat.fits"
DR1_HIGH = BUNDLED / "4lac_dr1_highlat.fits"
# The labels of the project's VizieR-shaped fixture (tests/fixtures/archive/vizier_4lac_dr1.xml).
FIXTURE_VIZIER_COLUMNS = {"name": "4FGL", "class": "Class", "ra": "RACp", "dec": "DECp"}


def fermi_settings(archive, tmp_path, files, **overrides):
    page = None
    for name, path in files.items():
        page = archive.add_fermi_file(name, Path(path).read_bytes())
    return {
        "source": "fermi",
        "fermi": {
            "page_url": page,
            "files": list(files),
            "checksums": {},
            "columns": LAC_FITS_COLUMNS["dr3"],
            "expected_rows": None,
            "download_dir": str(tmp_path / "downloads"),
            **overrides,
        },
        "vizier": {"release": "dr1", "columns": FIXTURE_VIZIER_COLUMNS},
    }


def provenance_of(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".provenance.json").read_text())


def assert_nothing_written(output: Path):
    assert not output.exists()
    assert not output.with_name(output.name + ".provenance.json").exists()


def test_fermi_dr3_files_arrive_with_counterpart_positions(fake_archive, fast_network, tmp_path):
    files = {"table-4LAC-DR3-h.fits": DR3_HIGH, "table-4LAC-DR3-l.fits": DR3_LOW}
    settings = fermi_settings(fake_archive, tmp_path, files, expected_rows=3407 + 407)
    output = tmp_path / "4lac.parquet"
    assert acquire_4lac(settings, output, network=fast_network) == 3814

    # What blazar_catalog reads equals reading the FITS files directly.
    acquired = read_4lac(output)
    direct = read_4lac([DR3_HIGH, DR3_LOW])
    pd.testing.assert_frame_equal(acquired, direct)
    assert set(pd.read_parquet(output)["source_table"]) == set(files)

    provenance = provenance_of(output)
    assert provenance["service"] == "Fermi-LAT FSSC"
    assert [d["file_name"] for d in provenance["extra"]["downloads"]] == list(files)
    assert provenance["extra"]["column_map"]["ra"] == "RA_Counterpart"


def test_fermi_dr1_file_with_the_dr1_column_map(fake_archive, fast_network, tmp_path):
    settings = fermi_settings(
        fake_archive,
        tmp_path,
        {"table_4LAC.fits": DR1_HIGH},
        columns=LAC_FITS_COLUMNS["dr1"],
        expected_rows=2863,
    )
    output = tmp_path / "4lac.parquet"
    assert acquire_4lac(settings, output, network=fast_network) == 2863
    pd.testing.assert_frame_equal(read_4lac(output), read_4lac(DR1_HIGH))


def test_a_fermi_download_cut_half_way_resumes(fake_archive, fast_network, tmp_path):
    settings = fermi_settings(fake_archive, tmp_path, {"table-4LAC-DR3-h.fits": DR3_HIGH})
    fake_archive.inject("fermi", "cut")
    output = tmp_path / "4lac.parquet"
    assert acquire_4lac(settings, output, network=fast_network) == 3407
    first, second = fake_archive.requests_to("fermi")
    assert "Range" not in first.headers and second.headers["Range"] != "bytes=0-"
    assert not list((tmp_path / "downloads").glob("*.part"))


def test_a_fermi_checksum_mismatch_keeps_nothing(fake_archive, fast_network, tmp_path):
    settings = fermi_settings(
        fake_archive,
        tmp_path,
        {"table-4LAC-DR3-h.fits": DR3_HIGH},
        checksums={"table-4LAC-DR3-h.fits": "md5:" + "0" * 32},
    )
    output = tmp_path / "4lac.parquet"
    with pytest.raises(ChecksumMismatchError):
        acquire_4lac(settings, output, network=fast_network)
    assert_nothing_written(output)


def test_a_fits_table_without_counterpart_positions_stops_naming_what_it_has(
    fake_archive, fast_network, tmp_path
):
    table = Table.read(DR3_HIGH)
    flat = [name for name in table.colnames if table[name].ndim <= 1]
    stripped = tmp_path / "stripped.fits"
    reduced = table[[n for n in flat if n not in ("RA_Counterpart", "DEC_Counterpart")]]
    reduced.write(stripped)
    settings = fermi_settings(fake_archive, tmp_path, {"table-4LAC-DR3-h.fits": stripped})
    output = tmp_path / "4lac.parquet"
    with pytest.raises(
        ArchiveResponseError,
        match=r"Fermi-LAT FSSC table table-4LAC-DR3-h.fits lacks the 4LAC column\(s\) "
        r"\['RA_Counterpart', 'DEC_Counterpart'\].*it has \['Source_Name',",
    ):
        acquire_4lac(settings, output, network=fast_network)
    assert_nothing_written(output)


def test_a_wrong_row_count_is_refused(fake_archive, fast_network, tmp_path):
    settings = fermi_settings(
        fake_archive, tmp_path, {"table-4LAC-DR3-h.fits": DR3_HIGH}, expected_rows=2863
    )
    output = tmp_path / "4lac.parquet"
    with pytest.raises(RowCountMismatchError, match="3407 rows.*2863"):
        acquire_4lac(settings, output, network=fast_network)
    assert_nothing_written(output)


def vizier_settings(columns, expected_rows=6):
    return {
        "source": "vizier",
        "fermi": {},
        "vizier": {
            "release": "dr1",
            "catalog": None,
            "table": None,
            "expected_rows": expected_rows,
            "columns": columns,
        },
    }


def test_vizier_4lac_reaches_the_blazar_merge_through_the_column_map(
    fake_vizier, fast_network, tmp_path
):
    # The VizieR-shaped fixture (VizieR labels) used to stop blazar_catalog with
    # "4LAC table is missing required column 'Source_Name'".
    output = tmp_path / "4lac.parquet"
    rows = acquire_4lac(
        vizier_settings(FIXTURE_VIZIER_COLUMNS),
        output,
        network=fast_network,
        vizier_server=fake_vizier.host_port,
    )
    assert rows == 6
    lac = read_4lac(output)
    fixture = Table.read(
        Path(__file__).parent / "fixtures" / "archive" / "vizier_4lac_dr1.xml",
        format="votable",
        table_id=0,
    )
    np.testing.assert_allclose(lac["ra"], np.asarray(fixture["RACp"], dtype=float))
    # The same sources read from the bundled official DR1 file (v19 FITS) have the same
    # counterpart positions, but one: for 4FGL J0858.1+1405 the published table on VizieR
    # (J/ApJ/892/105) names another counterpart than the v19 file (0.07 deg apart).
    dr1 = read_4lac(DR1_HIGH).set_index("name")
    common = dr1.index.intersection(lac["name"])
    offsets = np.abs(
        lac.set_index("name").loc[common, ["ra", "dec"]] - dr1.loc[common, ["ra", "dec"]]
    )
    differing = sorted(offsets.index[(offsets > 1e-4).any(axis=1)])
    assert len(common) == 6 and differing == ["4FGL J0858.1+1405"]
    bzcat = read_bzcat(BUNDLED / "bzcat5_with_photometry.csv")
    merged = merge_blazar_catalogs(bzcat, lac, drop_names=())
    assert len(merged) > 0


def test_vizier_without_a_counterpart_label_stops_listing_its_labels(
    fake_vizier, fast_network, tmp_path
):
    output = tmp_path / "4lac.parquet"
    unset = {"name": "4FGL", "class": "Class", "ra": None, "dec": None, "assoc": None}
    with pytest.raises(
        ArchiveResponseError,
        match=r"CDS VizieR table J/ApJ/892/105/highlat has no column for \['ra', 'dec'\].*"
        r"The table has \['4FGL', 'RAJ2000', 'DEJ2000', 'Class', 'Assoc', 'RACp', 'DECp'",
    ):
        acquire_4lac(
            vizier_settings(unset),
            output,
            network=fast_network,
            vizier_server=fake_vizier.host_port,
        )
    assert_nothing_written(output)


def test_the_reader_takes_an_explicit_map_and_lists_the_columns_found():
    frame = pd.DataFrame({"4FGL": ["a"], "Class": ["bll"], "RAJ2000": [1.0], "DEJ2000": [2.0]})
    with pytest.raises(ValueError, match=r"lacks the 4LAC column\(s\) \['RACp'\].*"
                       r"it has \['4FGL', 'Class', 'RAJ2000', 'DEJ2000'\]"):  # fmt: skip
        read_4lac(frame, columns={**FIXTURE_VIZIER_COLUMNS, "dec": "DEJ2000"})
    with pytest.raises(ValueError, match=r"neither the DR3 nor the DR1.*it has \['4FGL'"):
        read_4lac(frame)
    mapped = read_4lac(frame.assign(RACp=[3.0], DECp=[4.0]), columns=FIXTURE_VIZIER_COLUMNS)
    assert mapped[["ra", "dec"]].to_numpy().tolist() == [[3.0, 4.0]]
    assert mapped["blazar_class"].tolist() == ["bll"]


def bundled_settings(files):
    columns = dict(LAC_FITS_COLUMNS["dr1"])
    return {
        "source": "bundled",
        "bundled": {"files": [str(f) for f in files], "columns": columns, "expected_rows": None},
    }


def test_archive_mode_reads_the_papers_dr1_from_its_verified_bundled_copy(tmp_path):
    output = tmp_path / "4lac.parquet"
    rows = acquire_4lac(bundled_settings([DR1_HIGH]), output, network=None)
    assert rows == 2863 == len(read_4lac(output))
    provenance = json.loads(output.with_name("4lac.parquet.provenance.json").read_text())
    listed = dict(
        reversed(line.split("  ")) for line in (BUNDLED / "SHA256SUMS").read_text().splitlines()
    )
    assert provenance["extra"]["files"][0]["sha256"] == listed["4lac_dr1_highlat.fits"]
    # Both latitudes: 2,863 + 344 rows, as the official files hold.
    both = bundled_settings([DR1_HIGH, BUNDLED / "4lac_dr1_lowlat.fits"])
    assert acquire_4lac(both, tmp_path / "both.parquet", network=None) == 3207


def test_a_changed_or_unlisted_bundled_4lac_is_refused(tmp_path):
    copy = tmp_path / "4lac_dr1_highlat.fits"
    content = bytearray(DR1_HIGH.read_bytes())
    content[-1] ^= 1
    copy.write_bytes(bytes(content))
    (tmp_path / "SHA256SUMS").write_text((BUNDLED / "SHA256SUMS").read_text())
    with pytest.raises(ChecksumMismatchError, match="restore it from git"):
        acquire_4lac(bundled_settings([copy]), tmp_path / "a.parquet", network=None)
    (tmp_path / "SHA256SUMS").write_text("")
    with pytest.raises(ArchiveResponseError, match="no checksum"):
        acquire_4lac(bundled_settings([copy]), tmp_path / "b.parquet", network=None)
    assert not list(tmp_path.glob("*.parquet"))
