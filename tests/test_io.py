"""Tests of deweight.io: streaming catalogue reads and atomic writes."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table

from deweight.io import (
    CatalogReadError,
    infer_format,
    open_catalog,
    write_catalog_with_columns,
    write_table_atomic,
)

PROB_COLUMNS = ["p_galaxy", "p_star", "p_qso"]
ENDINGS = ["parquet", "pq", "fits", "fits.gz", "csv", "csv.gz"]


def make_frame(n_rows: int = 1000, seed: int = 0, dtype=np.float32) -> pd.DataFrame:
    """A small catalogue: three probabilities, a name column and an integer id."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([2.0, 3.0, 0.5], size=n_rows).astype(dtype)
    frame = pd.DataFrame(probs, columns=PROB_COLUMNS)
    frame["label"] = rng.choice(PROB_COLUMNS, size=n_rows)
    frame["source_id"] = np.arange(n_rows, dtype=np.int64) * 7
    return frame


def leftovers(directory) -> list[str]:
    """Temporary files the atomic writers would leave behind if they failed to clean up."""
    return [name for name in os.listdir(directory) if ".tmp" in name]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.parquet", "parquet"),
        ("a.PQ", "parquet"),
        ("dir.v1/a.fits", "fits"),
        ("a.fit", "fits"),
        ("a.fits.gz", "fits"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
    ],
)
def test_infer_format_from_name(name, expected):
    assert infer_format(name) == expected


def test_infer_format_override_and_unknown():
    assert infer_format("scores.dat", "CSV") == "csv"
    assert infer_format("scores.csv", "pq") == "parquet"
    with pytest.raises(ValueError, match="cannot tell the table format"):
        infer_format("scores.dat")
    with pytest.raises(ValueError, match="unknown table format 'hdf5'"):
        infer_format("scores.csv", "hdf5")


@pytest.mark.parametrize("ending", ENDINGS)
def test_round_trip_in_chunks(tmp_path, ending):
    frame = make_frame(1003)
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(frame, path)
    catalog = open_catalog(path, PROB_COLUMNS[::-1], chunk_rows=100)
    assert set(catalog.columns_available) == set(frame.columns)
    blocks = list(catalog.iter_chunks())
    assert [len(block) for block in blocks] == [100] * 10 + [3]
    expected = frame[PROB_COLUMNS[::-1]].to_numpy()
    # CSV stores float32 values as short decimal text, so it comes back within float32 rounding.
    np.testing.assert_allclose(np.concatenate(blocks), expected, rtol=1e-6, atol=0)
    # A second pass is a fresh iterator over the same rows.
    np.testing.assert_array_equal(
        np.concatenate(list(catalog.iter_chunks())), np.concatenate(blocks)
    )
    assert catalog.n_rows == 1003


@pytest.mark.parametrize(
    ("ending", "dtype"), [("parquet", np.float32), ("fits", np.float32), ("csv", np.float64)]
)
def test_float32_stays_float32_where_stored(tmp_path, ending, dtype):
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(make_frame(10), path)
    catalog = open_catalog(path, PROB_COLUMNS)
    assert catalog.dtype == dtype
    assert next(catalog.iter_chunks()).dtype == dtype


def test_mixed_precision_widens_to_float64(tmp_path):
    frame = make_frame(10)
    frame["p_qso"] = frame["p_qso"].astype(np.float64)
    path = tmp_path / "mixed.parquet"
    write_table_atomic(frame, path)
    assert open_catalog(path, PROB_COLUMNS).dtype == np.float64


def test_csv_row_count_is_learnt_from_a_pass(tmp_path):
    path = tmp_path / "catalogue.csv"
    write_table_atomic(make_frame(250), path)
    catalog = open_catalog(path, PROB_COLUMNS, chunk_rows=64)
    assert catalog.n_rows is None
    assert sum(len(block) for block in catalog.iter_chunks()) == 250
    assert catalog.n_rows == 250


@pytest.mark.parametrize("ending", ["parquet", "fits", "csv"])
def test_extra_columns_come_with_offsets(tmp_path, ending):
    frame = make_frame(205)
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(frame, path)
    catalog = open_catalog(path, PROB_COLUMNS, chunk_rows=50)
    chunks = list(catalog.iter_batches(["label", "source_id"]))
    assert [chunk.offset for chunk in chunks] == [0, 50, 100, 150, 200]
    labels = np.concatenate([chunk.extra["label"] for chunk in chunks])
    # FITS pads strings with blanks; they come back stripped, as Python strings.
    assert labels.tolist() == frame["label"].tolist()
    ids = np.concatenate([chunk.extra["source_id"] for chunk in chunks])
    np.testing.assert_array_equal(ids, frame["source_id"].to_numpy())


def test_parquet_columns_are_read_only_views_at_the_right_rows(tmp_path):
    # Row groups of 7 and blocks of 5 make batches that start part way into Arrow's buffers, so
    # a view that ignored the array's offset would return the wrong rows.
    n_rows = 23
    table = pa.table(
        {
            "p": pa.array(np.linspace(0.0, 1.0, n_rows), pa.float32()),
            "small": pa.array(np.arange(n_rows) - 11, pa.int16()),
            "count": pa.array(np.arange(n_rows) * 3, pa.uint8()),
            "gappy": pa.array([None if i % 4 == 0 else i for i in range(n_rows)], pa.int64()),
        }
    )
    path = tmp_path / "views.parquet"
    pq.write_table(table, path, row_group_size=7)
    chunks = list(open_catalog(path, ["p"], chunk_rows=5).iter_batches(["small", "count", "gappy"]))
    for name in ("small", "count"):
        blocks = [chunk.extra[name] for chunk in chunks]
        assert all(block.dtype == table.column(name).type.to_pandas_dtype() for block in blocks)
        assert not any(block.flags.writeable for block in blocks)  # Arrow's (mapped) memory
        np.testing.assert_array_equal(np.concatenate(blocks), table.column(name).to_numpy())
    gappy = np.concatenate([chunk.extra["gappy"] for chunk in chunks])
    expected = [np.nan if i % 4 == 0 else i for i in range(n_rows)]
    np.testing.assert_array_equal(gappy, expected)  # nulls come back as NaN


def test_reused_buffer_gives_the_same_values(tmp_path):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(make_frame(1000), path)
    fresh = open_catalog(path, PROB_COLUMNS, chunk_rows=128)
    reused = open_catalog(path, PROB_COLUMNS, chunk_rows=128, reuse_buffer=True)
    for a, b in zip(fresh.iter_chunks(), reused.iter_chunks(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_single_column_needs_no_stacking(tmp_path):
    path = tmp_path / "catalogue.parquet"
    frame = make_frame(10)
    write_table_atomic(frame, path)
    block = next(open_catalog(path, "p_star").iter_chunks())
    assert block.shape == (10, 1)
    np.testing.assert_array_equal(block[:, 0], frame["p_star"].to_numpy())


@pytest.mark.parametrize("ending", ["parquet", "fits", "csv"])
def test_missing_column_lists_available_columns(tmp_path, ending):
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(make_frame(5), path)
    with pytest.raises(ValueError, match="no column.*'p_agn'") as excinfo:
        open_catalog(path, ["p_galaxy", "p_agn"])
    message = str(excinfo.value)
    for column in ["p_galaxy", "p_star", "p_qso", "label", "source_id"]:
        assert column in message
    catalog = open_catalog(path, PROB_COLUMNS)
    with pytest.raises(ValueError, match="'truth'"):
        next(catalog.iter_batches(["truth"]))


def test_non_numeric_probability_column_is_refused(tmp_path):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(make_frame(5), path)
    with pytest.raises(ValueError, match="'label'.*not numeric"):
        open_catalog(path, ["p_galaxy", "label"])


def test_duplicate_and_empty_columns_are_refused(tmp_path):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(make_frame(5), path)
    with pytest.raises(ValueError, match="more than once: p_star"):
        open_catalog(path, ["p_star", "p_star"])
    with pytest.raises(ValueError, match="at least one column"):
        open_catalog(path, [])
    with pytest.raises(ValueError, match="chunk_rows"):
        open_catalog(path, PROB_COLUMNS, chunk_rows=0)


@pytest.mark.parametrize("ending", ["parquet", "fits", "csv.gz"])
def test_unreadable_file_names_path(tmp_path, ending):
    path = tmp_path / f"broken.{ending}"
    path.write_bytes(b"\x00\x01 this is not a table \xff" * 10)
    with pytest.raises(CatalogReadError, match=str(path).replace(".", r"\.")):
        catalog = open_catalog(path, PROB_COLUMNS)
        list(catalog.iter_chunks())


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        open_catalog(tmp_path / "nowhere.parquet", PROB_COLUMNS)


@pytest.mark.parametrize("ending", ["parquet", "fits", "csv"])
@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        ([0.5, -0.1, 0.6], "negative"),
        ([np.nan, 0.5, 0.5], "non-finite"),
        ([0.5, 0.5, 0.5], "sums to"),
    ],
)
def test_validation_names_the_global_row(tmp_path, ending, bad_row, reason):
    frame = make_frame(1000, dtype=np.float64)
    frame.loc[737, PROB_COLUMNS] = bad_row
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(frame, path)
    catalog = open_catalog(path, PROB_COLUMNS, chunk_rows=100, validate=True)
    with pytest.raises(ValueError, match=f"row 737 .*{reason}"):
        list(catalog.iter_chunks())
    # Without validation the rows are delivered as they are.
    unchecked = np.concatenate(list(open_catalog(path, PROB_COLUMNS).iter_chunks()))
    np.testing.assert_array_equal(unchecked[737], np.array(bad_row))


def test_parquet_nulls_are_reported_as_non_finite(tmp_path):
    values = pa.array([0.2, None, 0.4], pa.float32())
    table = pa.table({"a": values, "b": pa.array([0.8, 0.5, 0.6], pa.float32())})
    path = tmp_path / "nulls.parquet"
    pq.write_table(table, path)
    with pytest.raises(ValueError, match="row 1 contains a non-finite value"):
        list(open_catalog(path, ["a", "b"], validate=True).iter_chunks())


def test_csv_text_in_a_probability_column_is_reported_by_row(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("a,b\n0.5,0.5\n0.3,0.7\nlots,0.1\n")
    with pytest.raises(ValueError, match="row 2 contains a non-finite value"):
        list(open_catalog(path, ["a", "b"], validate=True).iter_chunks())


# --- writing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ENDINGS)
def test_write_table_atomic_round_trip(tmp_path, ending):
    frame = make_frame(50, dtype=np.float64)
    path = tmp_path / f"out.{ending}"
    assert write_table_atomic(frame, path) == path
    fmt = infer_format(path)
    if fmt == "parquet":
        back = pd.read_parquet(path)
    elif fmt == "csv":
        back = pd.read_csv(path)
    else:
        back = Table.read(path, character_as_bytes=False).to_pandas()
    pd.testing.assert_frame_equal(back[frame.columns], frame, check_dtype=False, rtol=1e-12)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("ending", "gzipped"), [("csv", False), ("csv.gz", True), ("CSV.GZ", True)]
)
def test_csv_is_gzipped_exactly_when_the_name_ends_in_gz(tmp_path, ending, gzipped):
    path = tmp_path / f"out.{ending}"
    write_table_atomic(pd.DataFrame({"n": [1, 2, 3]}), path)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is gzipped  # gzip's magic number
    back = pd.read_csv(path, compression="gzip" if gzipped else None)
    assert back["n"].tolist() == [1, 2, 3]


def test_write_table_atomic_keeps_a_named_index_and_arrow_input(tmp_path):
    frame = pd.DataFrame({"value": [1.0, 2.0]}, index=pd.Index(["x", "y"], name="class"))
    write_table_atomic(frame, tmp_path / "indexed.csv")
    assert pd.read_csv(tmp_path / "indexed.csv").to_dict("list") == {
        "class": ["x", "y"],
        "value": [1.0, 2.0],
    }
    write_table_atomic(pa.table({"n": [1, 2, 3]}), tmp_path / "arrow.parquet")
    assert pq.read_table(tmp_path / "arrow.parquet").column("n").to_pylist() == [1, 2, 3]


def test_written_files_get_umask_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        write_table_atomic(make_frame(3), tmp_path / "out.parquet")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "out.parquet").st_mode) == 0o644


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old contents\n")
    # CSV cannot hold a list column, so the writer fails after creating its temporary file.
    table = pa.table({"lists": pa.array([[1, 2], [3]])})
    with pytest.raises(pa.ArrowException):
        write_table_atomic(table, path)
    assert path.read_text() == "old contents\n"
    assert leftovers(tmp_path) == []
    with pytest.raises(TypeError, match="DataFrame or a pyarrow Table"):
        write_table_atomic([1, 2, 3], tmp_path / "x.csv")


def doubled_first_two(values: np.ndarray) -> np.ndarray:
    return 2.0 * values[:, :2]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("parquet", "parquet"),
        ("csv", "csv"),
        ("csv.gz", "parquet"),
        ("fits", "fits"),
        ("fits", "parquet"),
        ("parquet", "fits"),
        ("parquet", "csv.gz"),
    ],
)
def test_write_catalog_with_columns(tmp_path, source, target):
    frame = make_frame(1001, dtype=np.float64)
    source_path = tmp_path / f"in.{source}"
    write_table_atomic(frame, source_path)
    catalog = open_catalog(source_path, PROB_COLUMNS, chunk_rows=300, validate=True)
    seen = []
    output = tmp_path / f"out.{target}"
    n_rows = write_catalog_with_columns(
        catalog, output, ["twice_galaxy", "twice_star"], doubled_first_two, on_rows=seen.append
    )
    assert n_rows == 1001
    assert sum(seen) == 1001
    back = open_catalog(output, ["twice_galaxy", "twice_star", *PROB_COLUMNS])
    assert list(back.columns_available) == [*frame.columns, "twice_galaxy", "twice_star"]
    values = np.concatenate(list(back.iter_chunks()))
    expected = frame[PROB_COLUMNS].to_numpy()
    np.testing.assert_allclose(values[:, :2], 2 * expected[:, :2], rtol=1e-12)
    np.testing.assert_allclose(values[:, 2:], expected, rtol=1e-12)
    extra = np.concatenate([c.extra["label"] for c in back.iter_batches(["label"])])
    assert extra.tolist() == frame["label"].tolist()
    assert leftovers(tmp_path) == []


def test_fits_to_fits_keeps_units_and_header(tmp_path):
    frame = make_frame(20)
    table = Table.from_pandas(frame)
    table["ra"] = np.linspace(0.0, 10.0, 20)
    table["ra"].unit = "deg"
    table.meta["SURVEY"] = "toy"
    path = tmp_path / "in.fits"
    table.write(path)
    catalog = open_catalog(path, PROB_COLUMNS)
    write_catalog_with_columns(catalog, tmp_path / "out.fits", ["x"], lambda v: v[:, :1])
    with fits.open(tmp_path / "out.fits") as hdus:
        assert hdus[1].header["SURVEY"] == "toy"
        assert hdus[1].columns["ra"].unit == "deg"
        assert hdus[1].columns["x"].format == "E"  # float32 in, float32 out
        np.testing.assert_array_equal(hdus[1].data["x"], frame["p_galaxy"].to_numpy())


@pytest.mark.parametrize(
    ("source", "target"), [("parquet", "parquet"), ("csv", "csv.gz"), ("fits", "fits")]
)
def test_error_mid_stream_leaves_nothing(tmp_path, source, target):
    source_path = tmp_path / f"in.{source}"
    write_table_atomic(make_frame(1000), source_path)
    catalog = open_catalog(source_path, PROB_COLUMNS, chunk_rows=100)
    calls = []

    def failing(values):
        calls.append(len(values))
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return values[:, :1]

    output = tmp_path / f"out.{target}"
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_catalog_with_columns(catalog, output, ["y"], failing)
    assert len(calls) == 4
    assert not output.exists()
    assert leftovers(tmp_path) == []


def test_invalid_row_mid_stream_leaves_nothing(tmp_path):
    frame = make_frame(1000, dtype=np.float64)
    frame.loc[555, "p_star"] = -1.0
    write_table_atomic(frame, tmp_path / "in.parquet")
    catalog = open_catalog(tmp_path / "in.parquet", PROB_COLUMNS, chunk_rows=100, validate=True)
    with pytest.raises(ValueError, match="row 555"):
        write_catalog_with_columns(catalog, tmp_path / "out.parquet", ["y"], lambda v: v[:, :1])
    assert sorted(os.listdir(tmp_path)) == ["in.parquet"]


def test_write_catalog_refuses_clashes_and_overwriting_the_input(tmp_path):
    path = tmp_path / "in.parquet"
    write_table_atomic(make_frame(10), path)
    catalog = open_catalog(path, PROB_COLUMNS)
    with pytest.raises(ValueError, match="already has column.*label"):
        write_catalog_with_columns(catalog, tmp_path / "o.parquet", ["label"], lambda v: v[:, :1])
    with pytest.raises(ValueError, match="is the input catalogue"):
        write_catalog_with_columns(catalog, path, ["new"], lambda v: v[:, :1])
    with pytest.raises(ValueError, match="compute returned shape"):
        write_catalog_with_columns(catalog, tmp_path / "o.parquet", ["a", "b"], lambda v: v[:, :1])
    assert sorted(os.listdir(tmp_path)) == ["in.parquet"]


def test_empty_catalogue_writes_header_with_new_columns(tmp_path):
    path = tmp_path / "in.parquet"
    write_table_atomic(make_frame(0), path)
    catalog = open_catalog(path, PROB_COLUMNS)
    assert list(catalog.iter_chunks()) == []
    n_rows = write_catalog_with_columns(catalog, tmp_path / "out.csv", ["z"], lambda v: v[:, :1])
    assert n_rows == 0
    assert pd.read_csv(tmp_path / "out.csv").columns.tolist() == [*make_frame(0).columns, "z"]
