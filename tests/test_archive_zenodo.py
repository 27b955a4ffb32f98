"""Clarke et al. (2020) download (Range resume, checksum) and streamed Parquet conversion."""

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deweight.archive import (
    ArchiveResponseError,
    ChecksumMismatchError,
    RowCountMismatchError,
    TransientServiceError,
    acquire_clarke2020,
    convert_catalogue_to_parquet,
    download_with_resume,
)

# The fake archive and its fixtures (fake_archive, fake_vizier, fast_network).
pytest_plugins = ["archive_server"]

SAMPLE = Path(__file__).parent / "fixtures" / "archive" / "clarke2020_sample.csv"
PROBABILITIES = ["class_prob_galaxy", "class_prob_star", "class_prob_quasar"]
# Large enough that "cut half-way" and "resume" happen at a real offset.
PAYLOAD = bytes(np.random.default_rng(7).integers(0, 256, 300_000, dtype=np.uint8))


def md5(content: bytes) -> str:
    return "md5:" + hashlib.md5(content).hexdigest()


def test_a_download_cut_half_way_resumes_with_a_range_request(fake_archive, fast_network, tmp_path):
    url = fake_archive.add_file("cat.bin", PAYLOAD)
    fake_archive.inject("download", "cut")
    destination = tmp_path / "cat.bin"
    info = download_with_resume(url, destination, settings=fast_network, checksum=md5(PAYLOAD))
    assert destination.read_bytes() == PAYLOAD
    assert info["checksum"] == md5(PAYLOAD)
    first, second = fake_archive.requests_to("download")
    assert "Range" not in first.headers
    offset = int(second.headers["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset < len(PAYLOAD)  # resumed, not restarted
    assert not (tmp_path / "cat.bin.part").exists()


def test_a_download_that_keeps_failing_leaves_only_the_resumable_part(
    fake_archive, fast_network, tmp_path
):
    url = fake_archive.add_file("cat.bin", PAYLOAD)
    fake_archive.inject("download", *["cut"] * (fast_network.retries + 1))
    destination = tmp_path / "cat.bin"
    with pytest.raises(TransientServiceError, match="Download of .*cat.bin from Zenodo"):
        download_with_resume(url, destination, settings=fast_network, service="Zenodo")
    assert not destination.exists()
    partial = tmp_path / "cat.bin.part"
    kept = partial.stat().st_size
    assert 0 < kept < len(PAYLOAD)

    # The next run continues from the bytes already on disk.
    fake_archive.requests.clear()
    download_with_resume(url, destination, settings=fast_network, checksum=md5(PAYLOAD))
    assert destination.read_bytes() == PAYLOAD
    (request,) = fake_archive.requests_to("download")
    assert request.headers["Range"] == f"bytes={kept}-"


def test_a_server_ignoring_range_makes_the_download_start_over(
    fake_archive, fast_network, tmp_path
):
    url = fake_archive.add_file("cat.bin", PAYLOAD)
    fake_archive.inject("download", "cut", "ignore_range")
    destination = tmp_path / "cat.bin"
    download_with_resume(url, destination, settings=fast_network, checksum=md5(PAYLOAD))
    assert destination.read_bytes() == PAYLOAD


def test_a_checksum_mismatch_keeps_nothing(fake_archive, fast_network, tmp_path):
    url = fake_archive.add_file("cat.bin", PAYLOAD)
    with pytest.raises(ChecksumMismatchError, match="md5 .* does not match"):
        download_with_resume(
            url, tmp_path / "cat.bin", settings=fast_network, checksum="md5:" + "0" * 32
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("fault", ["503", "timeout"])
def test_a_transient_fault_is_retried(fake_archive, fast_network, tmp_path, fault):
    url = fake_archive.add_file("cat.bin", PAYLOAD)
    fake_archive.inject("download", fault)
    download_with_resume(url, tmp_path / "cat.bin", settings=fast_network)
    assert (tmp_path / "cat.bin").read_bytes() == PAYLOAD


@pytest.mark.parametrize("compressed", [False, True])
def test_csv_is_streamed_to_parquet_with_float32_probabilities(tmp_path, compressed):
    source = tmp_path / ("cat.csv.gz" if compressed else "cat.csv")
    source.write_bytes(gzip.compress(SAMPLE.read_bytes()) if compressed else SAMPLE.read_bytes())
    output = tmp_path / "out.parquet"
    # A 512-byte block forces many batches, as the 111M-row file will.
    rows = convert_catalogue_to_parquet(
        source, output, id_columns=["objid"], probability_columns=PROBABILITIES, csv_block_bytes=512
    )
    expected = pd.read_csv(SAMPLE)
    table = pq.read_table(output)
    assert rows == table.num_rows == len(expected) == 40
    assert table.column_names == ["objid", *PROBABILITIES]
    assert table.schema.field("objid").type == pa.int64()
    assert all(table.schema.field(name).type == pa.float32() for name in PROBABILITIES)
    assert pq.ParquetFile(output).metadata.num_row_groups > 1  # written batch by batch
    np.testing.assert_array_equal(table.column("objid").to_numpy(), expected["objid"])
    np.testing.assert_allclose(
        table.column("class_prob_quasar").to_numpy(), expected["class_prob_quasar"], rtol=1e-6
    )


def test_parquet_sources_are_converted_in_batches(tmp_path):
    source = tmp_path / "cat.parquet"
    pd.read_csv(SAMPLE).to_parquet(source)
    output = tmp_path / "out.parquet"
    rows = convert_catalogue_to_parquet(
        source, output, id_columns=["objid"], probability_columns=PROBABILITIES, chunk_rows=7
    )
    assert rows == 40
    assert pq.ParquetFile(output).metadata.num_row_groups == 6


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ArchiveResponseError, match="lacks columns \\['prob_qso'\\]"):
        convert_catalogue_to_parquet(
            SAMPLE, tmp_path / "out.parquet", id_columns=["objid"], probability_columns=["prob_qso"]
        )
    assert not (tmp_path / "out.parquet").exists()


PER_CLASS = {"GALAXY": "galaxies", "QSO": "quasars", "STAR": "stars"}


def per_class_files() -> dict[str, bytes]:
    """The sample split by predicted class, each saved as the authors' code does: with pandas'
    unnamed index column first, and the columns in the authors' order (quasar before star)."""
    sample = pd.read_csv(SAMPLE)
    return {
        f"SDSS-ML-{name}.csv": sample[sample["class_pred"] == label].to_csv().encode()
        for label, name in PER_CLASS.items()
    }


def clarke_settings(archive, tmp_path, **overrides):
    return {
        "record_api_url": f"{archive.base_url}/api/records/{archive.record_id}",
        "follow_latest": True,
        "file_sets": [
            ["SDSS-ML-galaxies*.csv*", "SDSS-ML-quasars*.csv*", "SDSS-ML-stars*.csv*"],
            ["SDSS-ML-all*.csv*"],
        ],
        "checksums": {},
        "format": "auto",
        "id_columns": ["objid"],
        "probability_columns": PROBABILITIES,
        "expected_rows": 40,
        "on_row_count_mismatch": "warn",
        "download_dir": str(tmp_path / "downloads"),
        "keep_download": True,
        "chunk_rows": 1000,
        **overrides,
    }


def read_provenance(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".provenance.json").read_text())


def test_clarke2020_per_class_files_from_the_record_file_list(fake_archive, fast_network, tmp_path):
    files = per_class_files()
    for name, content in files.items():
        fake_archive.add_file(name, content)
    fake_archive.add_file("SDSS-ML-all.pkl", b"not a csv")  # the authors' pickle: not matched
    output = tmp_path / "clarke2020.parquet"
    settings = clarke_settings(fake_archive, tmp_path)
    assert acquire_clarke2020(settings, output, network=fast_network) == 40

    table = pq.read_table(output)
    assert table.column_names == ["objid", *PROBABILITIES]  # by name, not position
    assert all(table.schema.field(name).type == pa.float32() for name in PROBABILITIES)
    sample = pd.read_csv(SAMPLE).set_index("objid")
    got = table.to_pandas().set_index("objid").sort_index()
    np.testing.assert_allclose(got[PROBABILITIES], sample.loc[got.index, PROBABILITIES], rtol=1e-6)
    assert sorted(got.index) == sorted(sample.index)

    provenance = read_provenance(output)
    downloads = {entry["file_name"]: entry for entry in provenance["extra"]["downloads"]}
    assert set(downloads) == set(files)
    for name, content in files.items():
        assert downloads[name]["checksum"] == md5(content)  # verified against the API's MD5
        assert downloads[name]["checksum_origin"] == "Zenodo record API"
    assert provenance["extra"]["record"]["record_id"] == str(fake_archive.record_id)
    assert provenance["extra"]["row_count_check"]["result"] == "ok"

    # A column change re-converts the kept downloads without fetching them again.
    fake_archive.requests.clear()
    acquire_clarke2020(
        {**settings, "probability_columns": ["class_prob_quasar"]}, output, network=fast_network
    )
    assert not fake_archive.requests_to("download")
    assert pq.read_schema(output).names == ["objid", "class_prob_quasar"]


def test_a_record_holding_only_an_all_file_uses_it(fake_archive, fast_network, tmp_path):
    fake_archive.add_file("SDSS-ML-all.csv", SAMPLE.read_bytes())
    output = tmp_path / "clarke2020.parquet"
    assert (
        acquire_clarke2020(clarke_settings(fake_archive, tmp_path), output, network=fast_network)
        == 40
    )
    downloads = read_provenance(output)["extra"]["downloads"]
    assert [entry["file_name"] for entry in downloads] == ["SDSS-ML-all.csv"]


def test_a_concept_id_resolves_to_the_latest_version_and_says_so(
    fake_archive, fast_network, tmp_path
):
    # Version 1 (the record) has an -all file; version 2 (latest) has the per-class files.
    fake_archive.add_file("SDSS-ML-all.csv", SAMPLE.read_bytes())
    latest = fake_archive.record_id + 100
    for name, content in per_class_files().items():
        fake_archive.add_file(name, content, record=latest)
    fake_archive.latest_id = latest
    output = tmp_path / "clarke2020.parquet"
    concept_url = f"{fake_archive.base_url}/api/records/{fake_archive.concept_id}"
    settings = clarke_settings(fake_archive, tmp_path, record_api_url=concept_url)
    assert acquire_clarke2020(settings, output, network=fast_network) == 40
    record = read_provenance(output)["extra"]["record"]
    # As on Zenodo, the record API answered 404 for the concept id; the search API listed its
    # versions and the newest was used. Both ids are in the provenance.
    assert record["record_id"] == str(latest) and record["resolved_by"] == "concept search"
    assert record["requested_id"] == str(fake_archive.concept_id)
    assert record["version"] == "v2" and record["concept_id"] == str(fake_archive.concept_id)
    assert [r.query["q"] for r in fake_archive.requests_to("zenodo_search")] == [
        [f"conceptrecid:{fake_archive.concept_id}"]
    ]
    assert all(f"/records/{latest}/" in r.path for r in fake_archive.requests_to("download"))

    # A version id is followed to the newest version through links.latest, unless disabled.
    output_2 = tmp_path / "v.parquet"
    version_url = f"{fake_archive.base_url}/api/records/{fake_archive.record_id}"
    acquire_clarke2020(
        clarke_settings(fake_archive, tmp_path, record_api_url=version_url),
        output_2,
        network=fast_network,
    )
    assert read_provenance(output_2)["extra"]["record"]["resolved_by"] == "links.latest"
    acquire_clarke2020(
        clarke_settings(fake_archive, tmp_path, record_api_url=version_url, follow_latest=False),
        output_2,
        network=fast_network,
    )
    pinned = read_provenance(output_2)["extra"]
    assert pinned["record"]["record_id"] == str(fake_archive.record_id)
    assert pinned["record"]["requested_id"] == str(fake_archive.record_id)
    assert [entry["file_name"] for entry in pinned["downloads"]] == ["SDSS-ML-all.csv"]


def test_an_id_that_is_neither_a_version_nor_a_concept_is_named(
    fake_archive, fast_network, tmp_path
):
    fake_archive.add_file("SDSS-ML-all.csv", SAMPLE.read_bytes())
    unknown = f"{fake_archive.base_url}/api/records/12345"
    with pytest.raises(ArchiveResponseError, match=r"404 for .*/12345.*no version of a concept"):
        acquire_clarke2020(
            clarke_settings(fake_archive, tmp_path, record_api_url=unknown),
            tmp_path / "c.parquet",
            network=fast_network,
        )
    assert not (tmp_path / "c.parquet").exists()


def test_a_file_of_an_unreadable_format_is_never_downloaded(fake_archive, fast_network, tmp_path):
    # "*.csv*" matches a .csv.zip too; it must be left out before any download, and the
    # readable file of the same set taken instead (or the error must name it).
    fake_archive.add_file("SDSS-ML-all.csv.zip", b"PK zipped")
    fake_archive.add_file("SDSS-ML-all.csv.gz", gzip.compress(SAMPLE.read_bytes()))
    settings = clarke_settings(fake_archive, tmp_path, file_sets=[["SDSS-ML-all.csv*"]])
    assert acquire_clarke2020(settings, tmp_path / "c.parquet", network=fast_network) == 40
    assert [r.path.rsplit("/", 2)[-2] for r in fake_archive.requests_to("download")] == [
        "SDSS-ML-all.csv.gz"
    ]
    fake_archive.files.pop("SDSS-ML-all.csv.gz")
    with pytest.raises(ArchiveResponseError, match=r"SDSS-ML-all\.csv\.zip'\] are in a format"):
        acquire_clarke2020(settings, tmp_path / "d.parquet", network=fast_network)
    assert len(fake_archive.requests_to("download")) == 1


def test_a_record_without_a_matching_file_names_what_it_has(fake_archive, fast_network, tmp_path):
    fake_archive.add_file("SDSS-ML-all.pkl", b"pickle")
    fake_archive.add_file("SDSS-ML-quasars.csv", per_class_files()["SDSS-ML-quasars.csv"])
    output = tmp_path / "clarke2020.parquet"
    with pytest.raises(ArchiveResponseError, match=r"Zenodo record 3459294.*no file set.*"
                       r"\['SDSS-ML-quasars.csv', 'SDSS-ML-all.pkl'\], of which \['SDSS-ML-all.pkl'\] "
                       r"are in a format"):  # fmt: skip
        acquire_clarke2020(clarke_settings(fake_archive, tmp_path), output, network=fast_network)
    assert not output.exists() and not fake_archive.requests_to("download")


def test_a_file_lacking_a_named_column_stops_with_the_columns_it_has(
    fake_archive, fast_network, tmp_path
):
    files = per_class_files()
    files["SDSS-ML-stars.csv"] = (
        pd.read_csv(SAMPLE).rename(columns={"class_prob_star": "prob_star"}).to_csv().encode()
    )
    for name, content in files.items():
        fake_archive.add_file(name, content)
    output = tmp_path / "clarke2020.parquet"
    with pytest.raises(ArchiveResponseError, match=r"SDSS-ML-stars.csv lacks columns "
                       r"\['class_prob_star'\]; it has .*'prob_star'"):  # fmt: skip
        acquire_clarke2020(clarke_settings(fake_archive, tmp_path), output, network=fast_network)
    assert not output.exists()
    assert not read_provenance_exists(output)


def read_provenance_exists(output: Path) -> bool:
    return output.with_name(output.name + ".provenance.json").exists()


def test_a_different_row_count_is_a_recorded_warning_or_an_error(
    fake_archive, fast_network, tmp_path, caplog
):
    for name, content in per_class_files().items():
        fake_archive.add_file(name, content)
    output = tmp_path / "clarke2020.parquet"
    settings = clarke_settings(fake_archive, tmp_path, expected_rows=111_293_033)
    assert acquire_clarke2020(settings, output, network=fast_network) == 40
    check = read_provenance(output)["extra"]["row_count_check"]
    assert check["result"] == "mismatch" and check["found"] == 40
    assert "111293033" in check["warning"] and "111293033" in caplog.text

    output.unlink()
    read_provenance_path = output.with_name(output.name + ".provenance.json")
    read_provenance_path.unlink()
    with pytest.raises(RowCountMismatchError, match="40 rows.*111293033"):
        acquire_clarke2020(
            {**settings, "on_row_count_mismatch": "error"}, output, network=fast_network
        )
    assert not output.exists() and not read_provenance_path.exists()


def test_a_wrong_published_checksum_keeps_nothing(fake_archive, fast_network, tmp_path):
    for name, content in per_class_files().items():
        fake_archive.add_file(name, content)
    output = tmp_path / "clarke2020.parquet"
    settings = clarke_settings(
        fake_archive, tmp_path, checksums={"SDSS-ML-stars.csv": "md5:" + "0" * 32}
    )
    with pytest.raises(ChecksumMismatchError, match="SDSS-ML-stars.csv"):
        acquire_clarke2020(settings, output, network=fast_network)
    assert not output.exists()
    assert not list((tmp_path / "downloads").rglob("SDSS-ML-stars.csv*"))


def test_fits_sources_are_converted_in_batches(tmp_path):
    from astropy.table import Table

    source = tmp_path / "cat.fits"
    Table.from_pandas(pd.read_csv(SAMPLE)).write(source)
    output = tmp_path / "out.parquet"
    rows = convert_catalogue_to_parquet(
        source, output, id_columns=["objid"], probability_columns=PROBABILITIES, chunk_rows=16
    )
    table = pq.read_table(output)
    assert rows == 40 and pq.ParquetFile(output).metadata.num_row_groups == 3
    assert table.schema.field("class_prob_star").type == pa.float32()
    np.testing.assert_array_equal(table.column("objid").to_numpy(), pd.read_csv(SAMPLE)["objid"])
