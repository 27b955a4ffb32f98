"""Tests of the ``deweight`` command line (deweight.cli).

Most tests call :func:`deweight.cli.main` in-process on small synthetic catalogues and compare its
numbers with independent NumPy computations of the paper's equations; one test runs the
installed entry point in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from cli_checks import assert_one_line_error

from deweight.cli import main
from deweight.io import open_catalog, write_table_atomic

CLASSES = ["p_galaxy", "p_star", "p_qso"]
TRUE_PRIOR = np.array([0.45, 0.50, 0.05])
#: The classifier was trained on a balanced set: its probabilities carry a flat prior.
MODEL_PRIOR = np.full(3, 1.0 / 3.0)
N_ROWS = 2000


def synthetic_frame(n_rows: int = N_ROWS, seed: int = 1) -> pd.DataFrame:
    """A catalogue whose probabilities are calibrated under a flat prior.

    True classes are drawn from ``TRUE_PRIOR`` and a one-dimensional feature from a Gaussian per
    class; the probabilities are Bayes' rule with a flat prior (a balanced-training classifier),
    and the assigned class is the most probable one.
    """
    rng = np.random.default_rng(seed)
    true = rng.choice(3, size=n_rows, p=TRUE_PRIOR)
    means, widths = np.array([0.0, 1.5, 3.0]), np.array([1.0, 0.8, 0.5])
    feature = rng.normal(means[true], widths[true])
    likelihood = np.exp(-0.5 * ((feature[:, None] - means) / widths) ** 2) / widths
    probs = likelihood * MODEL_PRIOR
    probs /= probs.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["assigned"] = probs.argmax(axis=1)
    frame["assigned_name"] = np.array(CLASSES)[frame["assigned"]]
    frame["true"] = true
    frame["true_name"] = np.array(CLASSES)[true]
    frame["objid"] = np.arange(n_rows)
    return frame


# --- independent reference computations (plain NumPy, straight from the paper) ------------------


def reference_pcp(probs: np.ndarray, model_prior: np.ndarray, tol: float = 1e-14) -> np.ndarray:
    """Solve Eq. 14 by the recursion of §2.3 (half-EM) to tight convergence."""
    prior = model_prior.copy()
    for _ in range(100_000):
        weighted = probs * (prior / model_prior)
        updated = (weighted / weighted.sum(axis=1, keepdims=True)).mean(axis=0)
        if np.abs(updated - prior).max() < tol:
            return updated
        prior = updated
    raise AssertionError("reference recursion did not converge")


def reference_replace_prior(probs, old, new) -> np.ndarray:
    """Eq. 12."""
    weighted = probs * (np.asarray(new) / np.asarray(old))
    return weighted / weighted.sum(axis=1, keepdims=True)


def reference_metrics(probs, assigned, true=None) -> pd.DataFrame:
    """Eqs. 9-11 (predicted, with variances) and the observed metrics, per class."""
    records = []
    for i in range(probs.shape[1]):
        mine = assigned == i
        p = probs[:, i]
        etp, efn = p[mine].sum(), p[~mine].sum()
        vtp, vfn = (p * (1 - p))[mine].sum(), (p * (1 - p))[~mine].sum()
        n_positive = mine.sum()
        rows = {
            "completeness": (
                etp / (etp + efn),
                (vtp * efn**2 + vfn * etp**2) / (etp + efn) ** 4,
            ),
            "reliability": (etp / n_positive, vtp / n_positive**2),
            "f1": (
                2 * etp / (n_positive + etp + efn),
                4 * (vtp * (n_positive + efn) ** 2 + vfn * etp**2) / (n_positive + etp + efn) ** 4,
            ),
        }
        if true is not None:
            tp = np.sum(mine & (true == i))
            fp = np.sum(mine & (true != i))
            fn = np.sum(~mine & (true == i))
            observed = {
                "completeness": tp / (tp + fn),
                "reliability": tp / (tp + fp),
                "f1": 2 * tp / (2 * tp + fp + fn),
            }
        for metric, (value, variance) in rows.items():
            record = {
                "class": CLASSES[i],
                "metric": metric,
                "predicted": value,
                "sigma": np.sqrt(variance),
            }
            if true is not None:
                record["observed"] = observed[metric]
                record["overshoot"] = observed[metric] - value
                record["z"] = (observed[metric] - value) / np.sqrt(variance)
            records.append(record)
    return pd.DataFrame.from_records(records)


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame()


@pytest.fixture(params=["parquet", "fits", "csv"])
def catalogue(request, tmp_path, frame):
    path = tmp_path / f"catalogue.{request.param}"
    write_table_atomic(frame, path)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run the command in-process; return (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys, *argv) -> dict:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def probabilities(frame: pd.DataFrame) -> np.ndarray:
    return frame[CLASSES].to_numpy()


def prob_cols() -> list[str]:
    return ["--prob-cols", ",".join(CLASSES)]


def leftovers(directory) -> list[str]:
    return [name for name in os.listdir(directory) if ".tmp" in name]


# --- pcp -------------------------------------------------------------------------------------------


def test_pcp_matches_independent_recursion(capsys, catalogue, frame):
    from deweight.priors import prediction_consistent_prior

    result = run_json(capsys, "pcp", catalogue, *prob_cols(), "--flat", "--no-progress")
    probs = probabilities(frame)
    expected = reference_pcp(probs, MODEL_PRIOR)
    assert result["classes"] == CLASSES
    assert result["n_rows"] == N_ROWS
    assert result["converged"] is True
    np.testing.assert_allclose(result["prior"], expected, atol=1e-7)
    np.testing.assert_allclose(result["mean_probability"], probs.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(result["model_prior"], MODEL_PRIOR)
    # The uncertainty is the library's; the CLI must pass it through unchanged.
    direct = prediction_consistent_prior(probs, MODEL_PRIOR)
    np.testing.assert_allclose(result["stderr"], direct.stderr, rtol=1e-4)
    np.testing.assert_allclose(result["covariance"], direct.covariance, rtol=1e-4, atol=1e-12)
    assert result["method"] == "newton"


def test_pcp_table_shows_percentages(capsys, tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    status, out, err = run(capsys, "pcp", path, *prob_cols(), "--flat", "--no-progress")
    assert status == 0, err
    expected = reference_pcp(probabilities(frame), MODEL_PRIOR)
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("p_")}
    assert list(lines) == CLASSES
    for name, value, mean in zip(CLASSES, expected, probabilities(frame).mean(axis=0), strict=True):
        assert f"{100 * value:.4f}%" in lines[name]
        assert f"{100 * mean:.4f}%" in lines[name]
        assert "33.3333%" in lines[name]
    assert "converged: yes" in out
    assert f"rows: {N_ROWS:,}" in out


def test_model_prior_options_agree(capsys, tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    from_counts = run_json(
        capsys, "pcp", path, *prob_cols(), "--train-counts", "7290,1500,1210", "--no-progress"
    )
    from_prior = run_json(
        capsys, "pcp", path, *prob_cols(), "--model-prior", "0.729,0.150,0.121", "--no-progress"
    )
    np.testing.assert_allclose(from_counts["model_prior"], [0.729, 0.150, 0.121])
    np.testing.assert_allclose(from_counts["prior"], from_prior["prior"], rtol=1e-12)
    expected = reference_pcp(probabilities(frame), np.array([0.729, 0.150, 0.121]))
    np.testing.assert_allclose(from_prior["prior"], expected, atol=1e-7)


@pytest.mark.parametrize("method", ["newton", "em", "squarem"])
def test_tiny_chunks_equal_in_memory(capsys, tmp_path, frame, method):
    from deweight.priors import prediction_consistent_prior

    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    result = run_json(
        capsys,
        "pcp",
        path,
        *prob_cols(),
        "--flat",
        "--chunk-rows",
        "37",
        "--method",
        method,
        "--tol",
        "1e-10",
        "--no-progress",
    )
    direct = prediction_consistent_prior(
        probabilities(frame), MODEL_PRIOR, method=method, tol=1e-10
    )
    np.testing.assert_allclose(result["prior"], direct.prior, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result["stderr"], direct.stderr, rtol=1e-6)
    assert result["n_rows"] == N_ROWS


def test_not_converged_exits_3_with_result(capsys, tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    status, out, err = run(
        capsys,
        "pcp",
        path,
        *prob_cols(),
        "--flat",
        "--method",
        "em",
        "--max-iter",
        "1",
        "--tol",
        "1e-14",
        "--no-progress",
    )
    assert status == 3
    assert "converged: NO" in out
    assert "deweight: warning:" in err and "did not converge" in err


def test_progress_bar_on_stderr(capsys, tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    status, _, err = run(capsys, "pcp", path, *prob_cols(), "--flat")
    assert status == 0
    assert "pass 1" in err and "rows" in err


# --- correct ---------------------------------------------------------------------------------------


def read_columns(path, columns) -> np.ndarray:
    return np.concatenate(list(open_catalog(path, columns).iter_chunks()))


@pytest.mark.parametrize("out_ending", ["parquet", "csv", "fits"])
def test_correct_applies_eq12(capsys, catalogue, frame, out_ending):
    output = catalogue.parent / f"corrected.{out_ending}"
    new_prior = "0.45,0.5,0.05"
    status, out, err = run(
        capsys,
        "correct",
        catalogue,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        new_prior,
        "-o",
        output,
        "--no-progress",
    )
    assert status == 0, err
    assert f"wrote {N_ROWS:,} rows to {output}" in out
    new_names = [name + "_corrected" for name in CLASSES]
    corrected = read_columns(output, new_names)
    expected = reference_replace_prior(probabilities(frame), MODEL_PRIOR, TRUE_PRIOR)
    np.testing.assert_allclose(corrected, expected, rtol=1e-9, atol=1e-12)
    # The original columns are carried over unchanged.
    back = open_catalog(output, ["objid", *CLASSES])
    assert list(back.columns_available) == [*frame.columns, *new_names]
    np.testing.assert_allclose(
        np.concatenate(list(back.iter_chunks()))[:, 1:], probabilities(frame), rtol=1e-12
    )
    assert leftovers(catalogue.parent) == []


def test_correct_to_pcp_makes_the_mean_equal_the_prior(capsys, tmp_path, frame):
    source = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, source)
    output = tmp_path / "debiased.parquet"
    status, out, err = run(
        capsys,
        "correct",
        source,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        "pcp",
        "-o",
        output,
        "--suffix",
        "_pcp",
        "--chunk-rows",
        "300",
        "--tol",
        "1e-12",
        "--no-progress",
    )
    assert status == 0, err
    assert "prediction-consistent prior" in out
    expected_prior = reference_pcp(probabilities(frame), MODEL_PRIOR)
    corrected = read_columns(output, [name + "_pcp" for name in CLASSES])
    np.testing.assert_allclose(
        corrected,
        reference_replace_prior(probabilities(frame), MODEL_PRIOR, expected_prior),
        rtol=1e-6,
        atol=1e-9,
    )
    # Eq. 14: under the prediction-consistent prior the mean corrected probability is the prior.
    np.testing.assert_allclose(corrected.mean(axis=0), expected_prior, atol=1e-9)


def test_correct_refuses_existing_column_names(capsys, tmp_path, frame):
    source = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, source)
    status, _, err = run(
        capsys,
        "correct",
        source,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        "flat",
        "-o",
        tmp_path / "out.parquet",
        "--suffix",
        "",
        "--no-progress",
    )
    assert_one_line_error(status, err, "already has column", "--suffix")
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("ending", ["parquet", "csv", "fits"])
def test_error_mid_stream_leaves_no_output(capsys, tmp_path, frame, ending):
    bad = frame.copy()
    bad.loc[1555, "p_star"] = -0.25
    source = tmp_path / f"catalogue.{ending}"
    write_table_atomic(bad, source)
    output = tmp_path / f"out.{ending}"
    status, _, err = run(
        capsys,
        "correct",
        source,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        "0.45,0.5,0.05",
        "-o",
        output,
        "--chunk-rows",
        "100",
        "--no-progress",
    )
    assert_one_line_error(status, err, "row 1555", "negative")
    assert sorted(os.listdir(tmp_path)) == [source.name]


def test_failed_correct_keeps_an_existing_output(capsys, tmp_path, frame):
    bad = frame.copy()
    bad.loc[1999, "p_qso"] = np.nan
    source = tmp_path / "catalogue.parquet"
    write_table_atomic(bad, source)
    output = tmp_path / "out.csv"
    output.write_text("precious\n")
    status, _, err = run(
        capsys,
        "correct",
        source,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        "flat",
        "-o",
        output,
        "--chunk-rows",
        "128",
        "--no-progress",
    )
    assert_one_line_error(status, err, "row 1999", "non-finite")
    assert output.read_text() == "precious\n"
    assert leftovers(tmp_path) == []


# --- metrics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [("assigned", "true"), ("assigned_name", "true_name")])
def test_metrics_with_truth_match_numpy(capsys, catalogue, frame, columns):
    assigned_col, true_col = columns
    result = run_json(
        capsys,
        "metrics",
        catalogue,
        *prob_cols(),
        "--assigned-col",
        assigned_col,
        "--true-col",
        true_col,
        "--chunk-rows",
        "333",
        "--no-progress",
    )
    got = pd.DataFrame.from_records(result["metrics"])
    expected = reference_metrics(
        probabilities(frame), frame["assigned"].to_numpy(), frame["true"].to_numpy()
    )
    assert got[["class", "metric"]].values.tolist() == expected[["class", "metric"]].values.tolist()
    for column in ["predicted", "sigma", "observed", "overshoot", "z"]:
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-8, err_msg=column)


def test_overshoot_detects_the_flat_prior_and_correction_removes_it(capsys, tmp_path, frame):
    """§2.2-2.3 end to end: flat-prior probabilities on a sky dominated by two classes give
    significant overshoot; moved to the true prior (Eq. 12) they are calibrated again."""
    source = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, source)
    corrected = tmp_path / "corrected.parquet"
    status, _, err = run(
        capsys,
        "correct",
        source,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        ",".join(map(str, TRUE_PRIOR)),
        "-o",
        corrected,
        "--no-progress",
    )
    assert status == 0, err
    before = run_json(
        capsys,
        "metrics",
        corrected,
        *prob_cols(),
        "--assigned-col",
        "assigned",
        "--true-col",
        "true",
        "--no-progress",
    )
    assert max(abs(record["z"]) for record in before["metrics"]) > 5
    after = run_json(
        capsys,
        "metrics",
        corrected,
        "--prob-cols",
        ",".join(name + "_corrected" for name in CLASSES),
        "--assigned-col",
        "assigned",
        "--true-col",
        "true",
        "--no-progress",
    )
    assert max(abs(record["z"]) for record in after["metrics"]) < 4


def test_metrics_without_truth_table(capsys, tmp_path, frame):
    path = tmp_path / "catalogue.csv"
    write_table_atomic(frame, path)
    status, out, err = run(
        capsys, "metrics", path, *prob_cols(), "--assigned-col", "assigned", "--no-progress"
    )
    assert status == 0, err
    expected = reference_metrics(probabilities(frame), frame["assigned"].to_numpy())
    assert "observed" not in out
    for record in expected.itertuples():
        line = next(
            line for line in out.splitlines() if line.split()[:2] == [record[1], record.metric]
        )
        assert f"{record.predicted:.5f}" in line and f"{record.sigma:.5f}" in line


def test_metrics_json_has_null_for_undefined(capsys, tmp_path, frame):
    # Nothing is assigned to the quasar class, so its reliability is 0/0.
    no_qso = frame.copy()
    no_qso.loc[no_qso["assigned"] == 2, "assigned"] = 1
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(no_qso, path)
    result = run_json(
        capsys,
        "metrics",
        path,
        *prob_cols(),
        "--assigned-col",
        "assigned",
        "--true-col",
        "true",
        "--no-progress",
    )
    reliability = next(
        r for r in result["metrics"] if r["class"] == "p_qso" and r["metric"] == "reliability"
    )
    assert reliability["observed"] is None


# --- errors ----------------------------------------------------------------------------------------


@pytest.fixture
def parquet(tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    return path


def test_missing_column_lists_available(capsys, parquet):
    status, _, err = run(
        capsys, "pcp", parquet, "--prob-cols", "p_galaxy,p_star,p_agn", "--flat", "--no-progress"
    )
    assert_one_line_error(status, err, "'p_agn'", "p_qso", "objid", "true_name")
    status, _, err = run(
        capsys, "metrics", parquet, *prob_cols(), "--assigned-col", "label", "--no-progress"
    )
    assert_one_line_error(status, err, "'label'", "assigned_name")


@pytest.mark.parametrize("ending", ["parquet", "fits", "csv"])
@pytest.mark.parametrize(
    ("value", "reason"), [(-0.5, "negative"), (np.inf, "non-finite"), (0.9, "sums to")]
)
def test_bad_probability_names_global_row(capsys, tmp_path, frame, ending, value, reason):
    bad = frame.copy()
    bad.loc[1234, "p_galaxy"] = value
    path = tmp_path / f"catalogue.{ending}"
    write_table_atomic(bad, path)
    status, _, err = run(
        capsys, "pcp", path, *prob_cols(), "--flat", "--chunk-rows", "100", "--no-progress"
    )
    assert_one_line_error(status, err, "row 1234", reason)
    # The file, the columns and how rows are counted, not the library's name "probs".
    assert_one_line_error(status, err, str(path), ", ".join(CLASSES), "rows count from 0")
    assert "probs" not in err
    # The same words from the commands that validate through deweight.io.
    status, _, err = run(
        capsys, "metrics", path, *prob_cols(), "--assigned-col", "assigned", "--no-progress"
    )
    assert_one_line_error(status, err, str(path), "row 1234 (rows count from 0", reason)


@pytest.mark.parametrize(
    ("option", "fragments"),
    [
        (["--model-prior", "0.5,0.5"], ["--model-prior", "2 entries", "3 classes"]),
        (["--model-prior", "0.5,0.3,0.3"], ["--model-prior", "sums to"]),
        (["--model-prior", "0.5,0.6,-0.1"], ["--model-prior[2]", "positive"]),
        (["--train-counts", "10,20"], ["--train-counts", "2 entries"]),
        (["--train-counts", "10,0,5"], ["--train-counts", "positive"]),
    ],
)
def test_bad_priors(capsys, parquet, option, fragments):
    status, _, err = run(capsys, "pcp", parquet, *prob_cols(), *option, "--no-progress")
    assert_one_line_error(status, err, *fragments)


def test_bad_priors_in_correct(capsys, parquet, tmp_path):
    output = tmp_path / "out.parquet"
    status, _, err = run(
        capsys,
        "correct",
        parquet,
        *prob_cols(),
        "--old-prior",
        "0.2,0.8",
        "--new-prior",
        "flat",
        "-o",
        output,
        "--no-progress",
    )
    assert_one_line_error(status, err, "--old-prior", "2 entries")
    status, _, err = run(
        capsys,
        "correct",
        parquet,
        *prob_cols(),
        "--old-prior",
        "flat",
        "--new-prior",
        "0.2,0.2,0.2",
        "-o",
        output,
        "--no-progress",
    )
    assert_one_line_error(status, err, "--new-prior", "sums to")
    assert not output.exists()


def test_unreadable_and_missing_files(capsys, tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 garbage")
    status, _, err = run(capsys, "pcp", broken, *prob_cols(), "--flat")
    assert_one_line_error(status, err, str(broken), "Parquet")
    status, _, err = run(capsys, "pcp", tmp_path / "absent.fits", *prob_cols(), "--flat")
    assert_one_line_error(status, err, "absent.fits", "does not exist")
    status, _, err = run(capsys, "pcp", tmp_path / "scores.txt", *prob_cols(), "--flat")
    assert_one_line_error(status, err, "scores.txt", "table format")


def test_unknown_class_name_in_labels(capsys, tmp_path, frame):
    bad = frame.copy()
    bad["assigned_name"] = bad["assigned_name"].astype(object)
    bad.loc[1717, "assigned_name"] = "p_agn"
    path = tmp_path / "catalogue.fits"
    write_table_atomic(bad, path)
    status, _, err = run(
        capsys,
        "metrics",
        path,
        *prob_cols(),
        "--assigned-col",
        "assigned_name",
        "--chunk-rows",
        "500",
        "--no-progress",
    )
    assert_one_line_error(
        status, err, "column 'assigned_name': row 1717 (rows count from 0", "'p_agn'", "p_galaxy"
    )
    bad.loc[1717, "assigned_name"] = "p_qso"
    bad.loc[42, "true"] = 3
    write_table_atomic(bad, path)
    status, _, err = run(
        capsys,
        "metrics",
        path,
        *prob_cols(),
        "--assigned-col",
        "assigned_name",
        "--true-col",
        "true",
        "--no-progress",
    )
    assert_one_line_error(status, err, "column 'true': row 42 (rows count from 0", "3")


def test_usage_errors_exit_2(capsys, parquet):
    status, _, err = run(capsys, "pcp", parquet, *prob_cols(), "--flat", "--model-prior", "1,0,0")
    assert status == 2
    assert "not allowed with" in err
    status, _, err = run(capsys, "pcp", parquet, *prob_cols())
    assert status == 2
    status, _, err = run(capsys, "pcp", parquet, "--prob-cols", "a,,b", "--flat")
    assert status == 2 and "comma-separated" in err


def test_debug_shows_traceback(capsys, parquet):
    status, _, err = run(
        capsys,
        "--debug",
        "pcp",
        parquet,
        "--prob-cols",
        "p_galaxy,p_agn",
        "--flat",
        "--no-progress",
    )
    assert status == 1
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("deweight: error:")


# --- the installed command -------------------------------------------------------------------------


def test_entry_point_in_subprocess(tmp_path, frame):
    path = tmp_path / "catalogue.fits"
    write_table_atomic(frame, path)
    executable = shutil.which("deweight")
    command = [executable] if executable else [sys.executable, "-m", "deweight"]
    completed = subprocess.run(
        [*command, "pcp", str(path), *prob_cols(), "--flat", "--json", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    np.testing.assert_allclose(
        result["prior"], reference_pcp(probabilities(frame), MODEL_PRIOR), atol=1e-7
    )
    module = subprocess.run(
        [sys.executable, "-m", "deweight", "pcp", str(path), "--prob-cols", "x,y", "--flat"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert module.returncode == 1
    assert module.stderr.startswith("deweight: error:") and "Traceback" not in module.stderr


# --- what the command imports ----------------------------------------------------------------------

#: Modules that take most of a second each to import; the command loads them only when used.
#: (numba imports the top-level ``scipy`` package, which is light, to check its version.)
HEAVY_MODULES = (
    "numpy",
    "pandas",
    "scipy.special",
    "scipy.stats",
    "numba",
    "pyarrow",
    "astropy",
    "torch",
    "tqdm",
)


def imported_heavy_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left imported."""
    script = (
        "import sys, json\n"
        f"{code}\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["pcp", "--help"],
        ["pcp"],  # missing arguments: exit 2 with a usage line
        ["pcp", "x.parquet", "--prob-cols", "a,b", "--flat", "--tol", "-1"],
        ["frobnicate"],
    ],
)
def test_help_and_malformed_command_lines_import_nothing_heavy(argv):
    code = (
        "import contextlib, io\n"
        "from deweight.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    status = main({argv!r})\n"
        "assert status in (0, 2), status\n"
    )
    assert imported_heavy_modules(code) == []


def test_package_root_loads_its_names_on_first_use():
    import deweight

    assert sorted(deweight.__all__) == sorted(deweight._EXPORTS)
    assert imported_heavy_modules("import deweight") == []
    # Each public name still resolves, to the object of the module that defines it.
    for name in deweight.__all__:
        if name == "Classifier":
            continue  # needs torch; deweight.model is tested in test_model.py
        module = __import__(deweight._EXPORTS[name], fromlist=[name])
        assert getattr(deweight, name) is getattr(module, name)
    assert imported_heavy_modules("from deweight import replace_prior") == ["numpy"]
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = deweight.no_such_name


def test_pcp_on_parquet_imports_only_numpy_numba_and_pyarrow(tmp_path, frame):
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(frame, path)
    code = (
        "import contextlib, io\n"
        "from deweight.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    status = main(['pcp', {str(path)!r}, '--prob-cols', {','.join(CLASSES)!r}, "
        "'--flat', '--no-progress'])\n"
        "assert status == 0, status\n"
    )
    assert set(imported_heavy_modules(code)) == {"numpy", "numba", "pyarrow"}


# --- what a new user hits: empty, one-class and degenerate input; outputs that cannot be written ---


@pytest.mark.parametrize("ending", ["parquet", "csv"])
def test_zero_rows_are_refused_by_every_command(capsys, tmp_path, frame, ending):
    path = tmp_path / f"empty.{ending}"
    write_table_atomic(frame.iloc[:0], path)
    status, out, err = run(capsys, "pcp", path, *prob_cols(), "--flat", "--no-progress")
    assert_one_line_error(status, err, str(path), "has no rows", ", ".join(CLASSES))
    assert "probs" not in err and out == ""
    output = tmp_path / f"out.{ending}"
    status, out, err = run(
        capsys, "correct", path, *prob_cols(), "--old-prior", "flat", "--new-prior", "flat",
        "-o", output, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, str(path), "has no rows", f"not writing {output}")
    assert not output.exists() and leftovers(tmp_path) == []
    status, out, err = run(
        capsys, "metrics", path, *prob_cols(), "--assigned-col", "assigned", "--no-progress"
    )
    assert_one_line_error(status, err, str(path), "has no rows")
    assert "nan" not in out


@pytest.mark.parametrize("command", ["pcp", "correct", "metrics"])
def test_one_class_is_refused_at_once(capsys, parquet, tmp_path, command):
    extra = {
        "pcp": ["--flat"],
        "correct": ["--old-prior", "flat", "--new-prior", "flat", "-o", tmp_path / "o.parquet"],
        "metrics": ["--assigned-col", "assigned"],
    }[command]
    status, out, err = run(capsys, command, parquet, "--prob-cols", "p_galaxy", *extra)
    assert status == 2 and out == ""
    assert "--prob-cols" in err and "one class column" in err and "at least two" in err
    status, _, err = run(capsys, command, parquet, "--prob-cols", "p_star,p_star", *extra)
    assert status == 2 and "p_star named twice" in err


def without_quasars(frame):
    """``frame`` with the quasar probability set to 0 and the rows renormalised; and its probs."""
    degenerate = frame.copy()
    probs = probabilities(frame).copy()
    probs[:, 2] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    degenerate[CLASSES] = probs
    return degenerate, probs


def test_metrics_warns_by_name_about_a_class_without_examples(capsys, tmp_path, frame):
    # The quasar class gets probability 0 everywhere and is never assigned nor true: all its
    # metrics are 0/0. The other two classes keep their (renormalised) probabilities.
    degenerate, probs = without_quasars(frame)
    degenerate["assigned"] = probs.argmax(axis=1)
    degenerate["true"] = np.where(frame["true"] == 2, 0, frame["true"])
    path = tmp_path / "no_qso.parquet"
    write_table_atomic(degenerate, path)
    status, out, err = run(
        capsys, "metrics", path, *prob_cols(), "--assigned-col", "assigned", "--true-col",
        "true", "--no-progress",
    )  # fmt: skip
    assert status == 0
    warnings_ = [line for line in err.splitlines() if line.startswith("deweight: warning:")]
    assert len(warnings_) == 1, err
    warning = warnings_[0]
    assert "'p_qso'" in warning and "undefined (nan)" in warning
    assert "probability is 0 in every row" in warning
    assert "no row is assigned to it in column 'assigned'" in warning
    assert "no row has it as the true class in column 'true'" in warning
    # The classes with examples have defined metrics and get no warning.
    assert "p_galaxy" not in warning and "p_star" not in warning
    galaxy_rows = [line for line in out.splitlines() if line.startswith("p_galaxy")]
    assert len(galaxy_rows) == 3 and not any("nan" in line for line in galaxy_rows)


def test_solver_warnings_name_the_class_columns(capsys, tmp_path, frame):
    # No row gives the quasar class any probability: its prior is exactly 0 (a warning).
    degenerate, _ = without_quasars(frame)
    path = tmp_path / "no_qso.parquet"
    write_table_atomic(degenerate, path)
    status, _, err = run(capsys, "pcp", path, *prob_cols(), "--flat", "--no-progress")
    assert status == 0
    warnings_ = [line for line in err.splitlines() if line.startswith("deweight: warning:")]
    assert warnings_ and all("[2]" not in line for line in warnings_)
    assert any("class p_qso" in line for line in warnings_), err


def test_output_into_a_missing_directory_is_refused(capsys, parquet, tmp_path):
    output = tmp_path / "not" / "there" / "out.parquet"
    status, out, err = run(
        capsys, "correct", parquet, *prob_cols(), "--old-prior", "flat", "--new-prior", "flat",
        "-o", output, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, f"directory {output.parent} does not exist")
    assert not (tmp_path / "not").exists()
    # A file where the directory should be, and a directory where the file should be.
    status, _, err = run(
        capsys, "correct", parquet, *prob_cols(), "--old-prior", "flat", "--new-prior", "flat",
        "-o", parquet / "out.parquet", "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, f"{parquet} is not a directory")
    status, _, err = run(
        capsys, "correct", parquet, *prob_cols(), "--old-prior", "flat", "--new-prior", "flat",
        "-o", tmp_path, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, f"cannot write {tmp_path}: it is a directory")


def test_unwritable_output_names_the_output_not_the_temporary_file(
    capsys, parquet, tmp_path, monkeypatch
):
    import tempfile

    output = tmp_path / "out.parquet"

    def refuse(prefix="", suffix="", dir=None, **_):
        # What the operating system reports for a directory the user may not write to; the
        # test runs as any user, so the refusal is simulated where the temporary file is made.
        raise PermissionError(13, "Permission denied", os.path.join(dir, f"{prefix}x{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    status, _, err = run(
        capsys, "correct", parquet, *prob_cols(), "--old-prior", "flat", "--new-prior", "flat",
        "-o", output, "--no-progress",
    )  # fmt: skip
    assert_one_line_error(status, err, f"cannot write {output}", "Permission denied")
    assert ".out.parquet." not in err
    assert not output.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_read_only_directory_is_refused_before_any_work(capsys, parquet, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        status, _, err = run(
            capsys, "correct", parquet, *prob_cols(), "--old-prior", "flat", "--new-prior",
            "flat", "-o", locked / "out.parquet", "--no-progress",
        )  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert_one_line_error(status, err, str(locked / "out.parquet"), "no permission")


@pytest.mark.parametrize("command", ["pcp", "metrics"])
def test_a_directory_given_as_input_says_so(capsys, tmp_path, command):
    directory = tmp_path / "catalogue.parquet"
    directory.mkdir()
    extra = ["--flat"] if command == "pcp" else ["--assigned-col", "assigned"]
    status, _, err = run(capsys, command, directory, *prob_cols(), *extra)
    assert_one_line_error(status, err, str(directory), "is a directory")


def test_correct_names_the_global_row_no_new_prior_can_explain(capsys, tmp_path, frame):
    # Row 1234 puts all its probability on the quasar class, to which the new prior gives 0.
    bad = frame.copy()
    bad.loc[1234, CLASSES] = [0.0, 0.0, 1.0]
    path = tmp_path / "catalogue.parquet"
    write_table_atomic(bad, path)
    output = tmp_path / "out.parquet"
    status, _, err = run(
        capsys, "correct", path, *prob_cols(), "--old-prior", "flat", "--new-prior",
        "0.5,0.5,0", "-o", output, "--chunk-rows", "100", "--no-progress",
    )  # fmt: skip
    assert_one_line_error(
        status, err, str(path), "row 1234 (rows count from 0", "new prior is zero"
    )
    assert "probs" not in err and not output.exists()
