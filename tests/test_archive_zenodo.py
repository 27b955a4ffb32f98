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
        download_with_resume(url, destination, settings=fast_network)
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


def clarke_settings(archive, tmp_path, **overrides):
    return {
        "url": archive.add_file("SDSS-ML-all.csv", SAMPLE.read_bytes()),
        "file_name": "SDSS-ML-all.csv",
        "record_api_url": f"{archive.base_url}/api/records/3459293",
        "checksum": None,
        "format": "auto",
        "id_columns": ["objid"],
        "probability_columns": PROBABILITIES,
        "expected_rows": 40,
        "download_dir": str(tmp_path / "downloads"),
        "keep_download": True,
        "chunk_rows": 1000,
        **overrides,
    }


def test_clarke2020_end_to_end_verifies_zenodo_checksum_and_records_provenance(
    fake_archive, fast_network, tmp_path
):
    output = tmp_path / "clarke2020.parquet"
    settings = clarke_settings(fake_archive, tmp_path)
    assert acquire_clarke2020(settings, output, network=fast_network) == 40
    provenance = json.loads(output.with_name(output.name + ".provenance.json").read_text())
    assert provenance["extra"]["checksum_origin"] == "Zenodo record API"
    assert provenance["extra"]["download"]["checksum"] == md5(SAMPLE.read_bytes())
    assert provenance["row_count"] == 40
    assert provenance["service"] == "Zenodo"

    # A column change re-converts the kept download without fetching it again.
    fake_archive.requests.clear()
    acquire_clarke2020(
        {**settings, "probability_columns": ["class_prob_quasar"]}, output, network=fast_network
    )
    assert not fake_archive.requests_to("download")
    assert pq.read_schema(output).names == ["objid", "class_prob_quasar"]


def test_clarke2020_of_the_wrong_size_is_refused(fake_archive, fast_network, tmp_path):
    output = tmp_path / "clarke2020.parquet"
    settings = clarke_settings(fake_archive, tmp_path, expected_rows=111_293_033)
    with pytest.raises(RowCountMismatchError, match="40 rows.*111293033"):
        acquire_clarke2020(settings, output, network=fast_network)
    assert not output.exists()
    assert not output.with_name(output.name + ".provenance.json").exists()


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
