"""Tests of ``deweight calibrate``: known answers, streamed atomic output, every bad input."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from cli_checks import assert_one_line_error

from deweight.cli import main
from deweight.io import open_catalog, write_table_atomic

CLASSES = ["p_galaxy", "p_star", "p_qso"]
#: The labelled file's model sharpened the true log-odds by this factor and shifted them.
TEMPERATURE = 2.0
SHIFT = np.array([0.6, -0.2, -0.4])


def _softmax(scores):
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def miscalibrated_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """Rows whose true classes follow ``softmax(z)`` while the model reports a distortion.

    The reported probabilities are ``softmax((z - SHIFT) * TEMPERATURE)``, so bias-corrected
    temperature scaling with temperature ``TEMPERATURE`` recovers the truth.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n_rows, 3))
    truth = _softmax(z)
    true = (rng.random(n_rows)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
    true = np.minimum(true, 2)
    frame = pd.DataFrame(_softmax((z - SHIFT) * TEMPERATURE), columns=CLASSES)
    frame["true"] = true
    frame["true_name"] = np.array(CLASSES)[true]
    frame["objid"] = np.arange(n_rows)
    return frame


@pytest.fixture
def labelled(tmp_path):
    frame = miscalibrated_frame(8000, seed=1)
    path = tmp_path / "dev.parquet"
    write_table_atomic(frame, path)
    return path, frame


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def prob_cols() -> list[str]:
    return ["--prob-cols", ",".join(CLASSES)]


def no_output(directory, output) -> bool:
    return not os.path.exists(output) and not [n for n in os.listdir(directory) if ".tmp" in n]


def parse_fit(out: str) -> tuple[float, np.ndarray, tuple[float, float]]:
    temperature = float(re.search(r"temperature: (\S+)", out).group(1))
    biases = re.search(r"biases: (.*)", out).group(1)
    bias = np.array([float(part.split()[1]) for part in biases.split(", ")])
    before, after = re.search(r"NLL (\S+) -> (\S+) per row", out).groups()
    return temperature, bias, (float(before), float(after))


@pytest.mark.parametrize("ending", ["parquet", "csv", "fits"])
def test_calibrate_recovers_temperature_and_writes_the_printed_map(
    capsys, tmp_path, labelled, ending
):
    source, frame = labelled
    catalogue = tmp_path / f"catalogue.{ending}"
    target = miscalibrated_frame(3000, seed=2)
    write_table_atomic(target.drop(columns=["true_name"]), catalogue)
    output = tmp_path / f"out.{ending}"
    status, out, err = run(
        capsys,
        "calibrate",
        source,
        *prob_cols(),
        "--true-col",
        "true_name",
        "--apply-to",
        catalogue,
        "-o",
        output,
        "--chunk-rows",
        "700",
        "--no-progress",
    )
    assert status == 0, err
    assert err == ""  # converged, no warning
    temperature, bias, (before, after) = parse_fit(out)
    assert temperature == pytest.approx(TEMPERATURE, rel=0.08)
    np.testing.assert_allclose(bias, SHIFT - SHIFT.mean(), atol=0.1)
    assert after < before
    # The printed NLL is that of the labelled rows, computed here independently.
    probs = frame[CLASSES].to_numpy()
    rows = np.arange(len(frame))
    assert before == pytest.approx(-np.log(probs[rows, frame["true"]]).mean(), rel=1e-5)
    # The written columns are the printed map applied to the catalogue (printed to 6 digits).
    written = open_catalog(output, [c + "_calibrated" for c in CLASSES])
    calibrated = np.concatenate(list(written.iter_chunks()))
    expected = _softmax(np.log(target[CLASSES].to_numpy()) / temperature + bias)
    np.testing.assert_allclose(calibrated, expected, atol=1e-5)
    back = open_catalog(output, ["objid"])
    assert list(back.columns_available)[: target.shape[1] - 1] == [
        c for c in target.columns if c != "true_name"
    ]
    # The prior of the calibrated columns is the labelled balance.
    balance = np.bincount(frame["true"], minlength=3) / len(frame)
    printed = re.search(r"use it as --old-prior .*?: (\S+)", out).group(1)
    np.testing.assert_allclose([float(v) for v in printed.split(",")], balance, rtol=1e-5)
    assert f"wrote 3,000 rows to {output}" in out


def test_calibrate_defaults_to_the_labelled_file_and_index_labels(capsys, tmp_path, labelled):
    source, frame = labelled
    output = tmp_path / "dev_calibrated.csv"
    status, out, err = run(
        capsys,
        "calibrate",
        source,
        *prob_cols(),
        "--true-col",
        "true",
        "--method",
        "ts",
        "-o",
        output,
        "--suffix",
        "_ts",
        "--no-progress",
    )
    assert status == 0, err
    assert "biases" not in out
    temperature = float(re.search(r"temperature: (\S+)", out).group(1))
    written = pd.read_csv(output)
    expected = _softmax(np.log(frame[CLASSES].to_numpy()) / temperature)
    np.testing.assert_allclose(written[[c + "_ts" for c in CLASSES]], expected, atol=1e-5)
    np.testing.assert_array_equal(written["objid"], frame["objid"])


def test_calibrate_none_copies_the_probabilities(capsys, tmp_path, labelled):
    source, frame = labelled
    output = tmp_path / "same.parquet"
    status, out, err = run(
        capsys, "calibrate", source, *prob_cols(), "--true-col", "true", "--method", "none",
        "-o", output, "--no-progress",
    )  # fmt: skip
    assert status == 0, err
    assert "temperature: 1" in out
    assert "--old-prior" not in out  # "none" keeps the model's own prior
    written = open_catalog(output, [c + "_calibrated" for c in CLASSES])
    np.testing.assert_allclose(
        np.concatenate(list(written.iter_chunks())), frame[CLASSES].to_numpy(), rtol=1e-12
    )


# --- bad input: each is one error line naming the problem, and no output is left ---------------


def _write(tmp_path, frame, name="bad.parquet"):
    path = tmp_path / name
    write_table_atomic(frame, path)
    return path


def _calibrate(capsys, tmp_path, source, *extra, true_col="true"):
    output = tmp_path / "out.parquet"
    status, out, err = run(
        capsys, "calibrate", source, *prob_cols(), "--true-col", true_col, "-o", output,
        "--no-progress", *extra,
    )  # fmt: skip
    return status, out, err, output


@pytest.mark.parametrize("ending", ["parquet", "csv"])
def test_nan_probability_in_labelled_file(capsys, tmp_path, labelled, ending):
    frame = labelled[1].copy()
    frame.loc[1234, "p_star"] = np.nan
    source = _write(tmp_path, frame, f"bad.{ending}")
    status, _, err, output = _calibrate(capsys, tmp_path, source)
    assert_one_line_error(status, err, "row 1234", "non-finite")
    assert no_output(tmp_path, output)


def test_row_not_summing_to_one(capsys, tmp_path, labelled):
    frame = labelled[1].copy()
    frame.loc[77, "p_qso"] += 0.2
    source = _write(tmp_path, frame)
    status, _, err, output = _calibrate(capsys, tmp_path, source)
    assert_one_line_error(status, err, "row 77", "sums to")
    assert no_output(tmp_path, output)


@pytest.mark.parametrize(("column", "value"), [("true", 3), ("true", -1), ("true_name", "p_agn")])
def test_label_outside_the_classes(capsys, tmp_path, labelled, column, value):
    frame = labelled[1].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[4321, column] = value
    source = _write(tmp_path, frame)
    status, _, err, output = _calibrate(capsys, tmp_path, source, true_col=column)
    assert_one_line_error(status, err, f"column {column!r} row 4321", repr(value))
    assert no_output(tmp_path, output)


def test_class_with_no_labelled_row(capsys, tmp_path, labelled):
    frame = labelled[1]
    frame = frame[frame["true"] != 2]
    source = _write(tmp_path, frame)
    status, _, err, output = _calibrate(capsys, tmp_path, source)
    assert_one_line_error(status, err, "no row of class(es) p_qso", "'true'")
    assert no_output(tmp_path, output)


def test_missing_true_column(capsys, tmp_path, labelled):
    status, _, err, output = _calibrate(capsys, tmp_path, labelled[0], true_col="label")
    assert_one_line_error(status, err, "label")
    assert no_output(tmp_path, output)


def test_missing_probability_column(capsys, tmp_path, labelled):
    output = tmp_path / "out.parquet"
    status, _, err = run(
        capsys, "calibrate", labelled[0], "--prob-cols", "p_galaxy,p_star,p_x",
        "--true-col", "true", "-o", output, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, "p_x")
    assert no_output(tmp_path, output)


def test_empty_labelled_file(capsys, tmp_path, labelled):
    source = _write(tmp_path, labelled[1].iloc[:0])
    status, _, err, output = _calibrate(capsys, tmp_path, source)
    assert_one_line_error(status, err, "has no rows to calibrate on")
    assert no_output(tmp_path, output)


def test_missing_files(capsys, tmp_path, labelled):
    status, _, err, output = _calibrate(capsys, tmp_path, tmp_path / "nowhere.parquet")
    assert_one_line_error(status, err, "nowhere.parquet")
    status, _, err, output = _calibrate(
        capsys, tmp_path, labelled[0], "--apply-to", tmp_path / "absent.csv"
    )
    assert_one_line_error(status, err, "absent.csv")
    assert no_output(tmp_path, output)


def test_bad_catalogue_row_mid_stream_leaves_no_output(capsys, tmp_path, labelled):
    target = miscalibrated_frame(3000, seed=3)
    target.loc[2500, "p_galaxy"] = -0.1
    catalogue = _write(tmp_path, target, "catalogue.parquet")
    output = tmp_path / "out.parquet"
    output.write_text("previous result")
    status, _, err, _ = _calibrate(
        capsys, tmp_path, labelled[0], "--apply-to", catalogue, "--chunk-rows", "1000"
    )
    assert_one_line_error(status, err, "catalogue.parquet", "row 2500", "negative")
    # Worded as correct words it (one writer, deweight/cli/output.py): the whole path, the
    # columns and how rows are counted.
    assert f"{catalogue}, columns {', '.join(CLASSES)}: row 2500 (rows count from 0" in err
    # The earlier file is untouched and no temporary file is left behind.
    assert output.read_text() == "previous result"
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]


def test_existing_output_columns_are_refused(capsys, tmp_path, labelled):
    status, _, err, output = _calibrate(capsys, tmp_path, labelled[0], "--suffix", "")
    assert_one_line_error(status, err, "already has column", "--suffix")
    assert no_output(tmp_path, output)


def test_output_is_input_is_refused(capsys, tmp_path, labelled):
    status, _, err = run(
        capsys, "calibrate", labelled[0], *prob_cols(), "--true-col", "true",
        "-o", labelled[0], "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, "is the input catalogue")


@pytest.mark.parametrize(
    "argv",
    [
        ["--method", "platt"],  # unknown method
        ["--atol", "-1"],
        ["--chunk-rows", "0"],
    ],
)
def test_malformed_options_exit_2(capsys, tmp_path, labelled, argv):
    status, _, err, output = _calibrate(capsys, tmp_path, labelled[0], *argv)
    assert status == 2
    assert "usage:" in err
    assert no_output(tmp_path, output)


def test_true_col_is_required(capsys, tmp_path, labelled):
    status = main(["calibrate", str(labelled[0]), *prob_cols(), "-o", str(tmp_path / "o.csv")])
    assert status == 2
    assert "--true-col" in capsys.readouterr().err
