"""deweight.scale and the CLI on partitioned catalogues, on a LocalCluster of 2 worker processes.

The answers are checked against the in-memory path on the same rows (priors to 1e-9, standard
errors to 1e-9 relative), and bit for bit against a stream over the same partitions in the same
order (the same solver core fed the same sums).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed", reason="deweight[scale] (dask.distributed) is not installed")
lsdb = pytest.importorskip("lsdb", reason="deweight[scale] (lsdb) is not installed")

import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask.dataframe as dd  # noqa: E402
import hats  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from deweight import metrics as metrics_module  # noqa: E402
from deweight import scale  # noqa: E402
from deweight.cli import main  # noqa: E402
from deweight.priors import prediction_consistent_prior, replace_prior  # noqa: E402

# The workers unpickle this module's functions by value, not by importing the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

CLASSES = ["p_galaxy", "p_star", "p_qso"]
MODEL_PRIOR = np.array([0.5, 0.3, 0.2])


def make_probabilities(n_rows: int, seed: int = 0) -> np.ndarray:
    """Posteriors of a 1-D Gaussian mixture under MODEL_PRIOR, for data drawn with another."""
    rng = np.random.default_rng(seed)
    means = np.array([-1.2, 0.0, 1.2])
    truth = rng.choice(3, size=n_rows, p=[0.3, 0.45, 0.25])
    x = rng.normal(means[truth], 1.0)
    likelihood = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2)
    posterior = likelihood * MODEL_PRIOR
    return (posterior / posterior.sum(axis=1, keepdims=True)).astype(np.float32)


def frame_of(probs: np.ndarray, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_rows = probs.shape[0]
    frame = pd.DataFrame(probs, columns=CLASSES)
    frame["ra"] = rng.uniform(0.0, 360.0, n_rows)
    frame["dec"] = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_rows)))
    frame["assigned"] = probs.argmax(axis=1)
    return frame


def write_parquet_dataset(frame: pd.DataFrame, directory: Path, sizes) -> list[Path]:
    directory.mkdir()
    files, start = [], 0
    for index, size in enumerate(sizes):
        path = directory / f"part-{index:02d}.parquet"
        frame.iloc[start : start + size].to_parquet(path, index=False)
        files.append(path)
        start += size
    return files


@pytest.fixture(scope="module")
def client():
    import dask

    # One retry for a task whose worker died; a second death is a KilledWorker error.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def probs() -> np.ndarray:
    return make_probabilities(12_000)


@pytest.fixture(scope="module")
def hats_catalogue(tmp_path_factory, probs) -> Path:
    path = tmp_path_factory.mktemp("hats") / "catalogue"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        catalogue = lsdb.from_dataframe(
            frame_of(probs), ra_column="ra", dec_column="dec", partition_rows=2500
        )
        catalogue.to_hats(path, as_collection=False, progress_bar=False)
    return path


@pytest.fixture(scope="module")
def parquet_dataset(tmp_path_factory, probs) -> Path:
    directory = tmp_path_factory.mktemp("parquet") / "dataset"
    write_parquet_dataset(frame_of(probs), directory, [5000, 1, 3999, 3000])
    return directory


def assert_same_result(result, reference) -> None:
    np.testing.assert_allclose(result.prior, reference.prior, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.stderr, reference.stderr, rtol=1e-9)
    assert result.n_rows == reference.n_rows


class PartitionStream:
    """The partitions' rows streamed in the same order: what the Dask path must reproduce."""

    def __init__(self, files):
        self.blocks = [pd.read_parquet(file)[CLASSES].to_numpy() for file in files]

    def iter_chunks(self):
        yield from self.blocks


def test_parquet_dataset_gives_the_in_memory_prior_and_the_streamed_bits(
    client, probs, parquet_dataset
):
    reference = prediction_consistent_prior(probs, MODEL_PRIOR)
    result = scale.prediction_consistent_prior(parquet_dataset, CLASSES, MODEL_PRIOR, client=client)
    assert_same_result(result, reference)
    # The true prior is recovered to a few standard errors: the answer is not trivial.
    assert np.all(np.abs(result.prior - [0.3, 0.45, 0.25]) < 5 * result.stderr)
    dataset = scale.open_dataset(parquet_dataset)
    streamed = prediction_consistent_prior(PartitionStream(dataset.files), MODEL_PRIOR)
    assert np.array_equal(result.prior, streamed.prior)
    assert np.array_equal(result.stderr, streamed.stderr)
    assert result.passes == streamed.passes


def test_hats_catalogue_gives_the_in_memory_prior(client, hats_catalogue):
    dataset = scale.open_dataset(hats_catalogue)
    assert dataset.kind == "hats" and len(dataset.files) > 2
    rows = np.concatenate(PartitionStream(dataset.files).blocks)
    reference = prediction_consistent_prior(rows, MODEL_PRIOR)
    for data in (hats_catalogue, lsdb.open_catalog(hats_catalogue)):
        result = scale.prediction_consistent_prior(data, CLASSES, MODEL_PRIOR, client=client)
        assert_same_result(result, reference)
    unpersisted = scale.prediction_consistent_prior(
        hats_catalogue, CLASSES, MODEL_PRIOR, client=client, persist=False, method="em"
    )
    assert_same_result(unpersisted, prediction_consistent_prior(rows, MODEL_PRIOR, method="em"))


def test_a_hats_collection_counts_its_main_catalogue_not_its_margin(client, tmp_path, probs):
    # LSDB writes a collection by default, and the survey servers publish them: a main
    # catalogue beside a margin catalogue that repeats rows near each pixel's edge.
    path = tmp_path / "collection"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        catalogue = lsdb.from_dataframe(
            frame_of(probs),
            ra_column="ra",
            dec_column="dec",
            partition_rows=2500,
            margin_threshold=3600.0,
        )
        catalogue.to_hats(path, progress_bar=False)
    assert (path / "collection.properties").is_file()
    main = Path(str(hats.read_hats(path).main_catalog_dir))
    margin_rows = sum(
        len(pd.read_parquet(file)) for file in path.rglob("*.parquet") if main not in file.parents
    )
    assert margin_rows > 0  # the margin is there to be miscounted
    dataset = scale.open_dataset(path)
    assert dataset.kind == "hats"
    result = scale.prediction_consistent_prior(path, CLASSES, MODEL_PRIOR, client=client)
    assert_same_result(result, prediction_consistent_prior(probs, MODEL_PRIOR))


def test_dask_dataframe_and_predicted_metrics(client, probs):
    frame = dd.from_pandas(frame_of(probs)[[*CLASSES, "assigned"]], npartitions=3)
    reference = prediction_consistent_prior(probs, MODEL_PRIOR)
    result = scale.prediction_consistent_prior(frame, CLASSES, MODEL_PRIOR, client=client)
    assert_same_result(result, reference)
    table = scale.predicted_metrics(frame, CLASSES, "assigned", client=client)
    expected = metrics_module.predicted_metrics(probs, probs.argmax(axis=1))
    pd.testing.assert_frame_equal(table, expected, rtol=1e-12)


def _kill_once_then_read(file: str, marker: str) -> pd.DataFrame:
    """Read a partition, but first kill the worker process the first time (mid-pass)."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return pd.read_parquet(file)[CLASSES]


def _always_kill(file: str) -> pd.DataFrame:
    os._exit(1)


def test_a_worker_killed_mid_pass_gives_the_right_prior_or_names_the_failure(
    client, tmp_path, probs, parquet_dataset
):
    files = [str(file) for file in scale.open_dataset(parquet_dataset).files]
    marker = str(tmp_path / "killed")
    meta = pd.DataFrame({name: np.empty(0, np.float32) for name in CLASSES})
    frame = dd.from_map(_kill_once_then_read, files, marker=marker, meta=meta)
    reference = prediction_consistent_prior(probs, MODEL_PRIOR)
    result = scale.prediction_consistent_prior(frame, CLASSES, MODEL_PRIOR, client=client)
    assert Path(marker).exists()  # a worker did die
    assert_same_result(result, reference)
    doomed = dd.from_map(_always_kill, files[:1], meta=meta)
    with pytest.raises(RuntimeError, match=r"partition 0: the workers computing it died"):
        scale.prediction_consistent_prior(doomed, CLASSES, MODEL_PRIOR, client=client)


class KillAWorkerAtPass:
    """A progress object that kills one worker process as pass ``at`` starts."""

    def __init__(self, client, at: int):
        self.client, self.at, self.passes, self.killed = client, at, 0, None

    def start(self, label, total):
        self.passes += 1
        if self.passes == self.at:
            self.killed = sorted(self.client.scheduler_info()["workers"])[0]
            pid = self.client.run(os.getpid, workers=[self.killed])[self.killed]
            os.kill(pid, signal.SIGKILL)

    def update(self, count):
        pass

    def finish(self):
        pass


def test_a_worker_lost_with_persisted_partitions_gives_the_right_prior(
    client, probs, parquet_dataset
):
    # The columns are persisted before the first pass (the footers count the rows); a worker
    # that dies later takes its partitions with it, and Dask must reread them from the files.
    reference = prediction_consistent_prior(probs, MODEL_PRIOR)
    killer = KillAWorkerAtPass(client, at=3)
    result = scale.prediction_consistent_prior(
        parquet_dataset, CLASSES, MODEL_PRIOR, client=client, persist=True, progress=killer
    )
    assert killer.killed is not None and result.passes >= 3
    assert_same_result(result, reference)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the tests that follow


@pytest.mark.parametrize(("value", "words"), [(np.nan, "finite"), (-0.5, "negative"), (0.7, "sum")])
def test_a_bad_row_in_one_partition_names_the_file_and_row(
    client, tmp_path, probs, capsys, value, words
):
    bad = frame_of(probs)
    bad.loc[4000 + 17, "p_star"] = value  # row 17 of the second file
    directory = tmp_path / "bad"
    write_parquet_dataset(bad, directory, [4000, 4000, 4000])
    with pytest.raises(ValueError, match=r"part-01\.parquet: probs row 17 "):
        scale.prediction_consistent_prior(directory, CLASSES, MODEL_PRIOR, client=client)
    status = main(["pcp", str(directory), "--prob-cols", ",".join(CLASSES), "--flat"])
    err = capsys.readouterr().err
    assert status == 1
    lines = [line for line in err.splitlines() if line.startswith("deweight: error:")]
    assert len(lines) == 1
    assert str(directory / "part-01.parquet") in lines[0] and "row 17 " in lines[0]
    assert words in lines[0] or (words == "sum" and "sums to" in lines[0])


def test_missing_column_and_unreadable_partition_are_named(tmp_path, probs, capsys):
    directory = tmp_path / "broken"
    write_parquet_dataset(frame_of(probs), directory, [6000, 6000])
    status = main(["pcp", str(directory), "--prob-cols", "p_galaxy,p_x", "--flat"])
    err = capsys.readouterr().err
    assert status == 1 and "part-00.parquet" in err and "'p_x'" in err
    (directory / "part-01.parquet").write_bytes(b"not parquet at all")
    status = main(["pcp", str(directory), "--prob-cols", ",".join(CLASSES), "--flat"])
    err = capsys.readouterr().err
    assert status == 1 and "cannot read" in err and "part-01.parquet" in err


def test_interrupted_correct_leaves_no_output_directory(tmp_path, probs, monkeypatch):
    from deweight.scale import correct as correct_module

    directory = tmp_path / "input"
    write_parquet_dataset(frame_of(probs), directory, [6000, 6000])
    output = tmp_path / "out"
    lazy = scale.replace_prior(directory, CLASSES, MODEL_PRIOR, [1 / 3] * 3)

    def interrupted(lazy, temporary, client):
        temporary.mkdir()
        (temporary / "part-00.parquet").write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(correct_module, "_write_files", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scale.write_dataset(lazy, output)
    assert sorted(os.listdir(tmp_path)) == ["input"]  # no output, no hidden leftovers
    # A bad row found while writing (after other partitions were written) also leaves nothing.
    monkeypatch.undo()
    bad = frame_of(probs)
    bad.loc[11_000, "p_qso"] = -1.0
    write_parquet_dataset(bad, tmp_path / "bad", [6000, 6000])
    lazy = scale.replace_prior(tmp_path / "bad", CLASSES, MODEL_PRIOR, [1 / 3] * 3)
    with pytest.raises(ValueError, match=r"part-01\.parquet: probs row 5000 "):
        scale.write_dataset(lazy, output)
    assert sorted(os.listdir(tmp_path)) == ["bad", "input"]
    # The same when the good partition's write is still running as the bad one fails: it must
    # not land in (or bring back) the removed directory.
    write, read = correct_module._write_partition, correct_module._read_and_correct

    def slow_write(frame, root, relative):
        if relative.startswith("part-00"):
            time.sleep(1.0)
        return write(frame, root, relative)

    def slow_read(file, *args, **kwargs):
        if file.endswith("part-01.parquet"):
            time.sleep(0.3)  # part-00's write is under way when this partition fails
        return read(file, *args, **kwargs)

    monkeypatch.setattr(correct_module, "_write_partition", slow_write)
    monkeypatch.setattr(correct_module, "_read_and_correct", slow_read)
    lazy = scale.replace_prior(tmp_path / "bad", CLASSES, MODEL_PRIOR, [1 / 3] * 3)
    with pytest.raises(ValueError, match=r"part-01\.parquet: probs row 5000 "):
        scale.write_dataset(lazy, output)
    time.sleep(1.5)
    assert sorted(os.listdir(tmp_path)) == ["bad", "input"]


def test_correct_writes_a_hats_catalogue_lsdb_reads_back(tmp_path, hats_catalogue, capsys):
    output = tmp_path / "corrected"
    status = main(
        [
            "correct", str(hats_catalogue), "--prob-cols", ",".join(CLASSES),
            "--old-prior", ",".join(map(str, MODEL_PRIOR)), "--new-prior", "pcp",
            "-o", str(output), "--workers", "2", "--no-progress",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = lsdb.open_catalog(output)
        original = lsdb.open_catalog(hats_catalogue)
        assert written.get_healpix_pixels() == original.get_healpix_pixels()
        table = written.compute()
    rows = table[CLASSES].to_numpy(dtype=np.float64)
    pcp = prediction_consistent_prior(rows, MODEL_PRIOR).prior
    expected = replace_prior(rows, MODEL_PRIOR, pcp)
    corrected = table[[name + "_corrected" for name in CLASSES]].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(corrected, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("engine", ["scheduler", "workers"])
def test_cli_pcp_on_hats_gives_the_in_memory_prior(client, hats_catalogue, capsys, engine):
    # A running scheduler, or a local cluster of 2 worker processes started by the command.
    cluster = (
        ["--scheduler", client.scheduler.address] if engine == "scheduler" else ["--workers", "2"]
    )
    status = main(
        [
            "pcp", str(hats_catalogue), "--prob-cols", ",".join(CLASSES), *cluster,
            "--model-prior", ",".join(map(str, MODEL_PRIOR)), "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    answer = json.loads(captured.out)
    rows = np.concatenate(PartitionStream(scale.open_dataset(hats_catalogue).files).blocks)
    reference = prediction_consistent_prior(rows, MODEL_PRIOR)
    np.testing.assert_allclose(answer["prior"], reference.prior, rtol=0, atol=1e-9)
    np.testing.assert_allclose(answer["stderr"], reference.stderr, rtol=1e-9)
    # Progress per pass, counted in partitions (one line each off a terminal).
    assert "pass 1" in captured.err and "partitions" in captured.err


def test_cli_correct_and_metrics_on_a_parquet_dataset(tmp_path, parquet_dataset, probs, capsys):
    output = tmp_path / "corrected"
    status = main(
        [
            "correct", str(parquet_dataset), "--prob-cols", ",".join(CLASSES),
            "--old-prior", "flat", "--new-prior", "0.2,0.3,0.5", "-o", str(output),
        ]
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    names = sorted(os.listdir(output))
    assert names == sorted(os.listdir(parquet_dataset))
    table = pd.concat(pd.read_parquet(output / name) for name in names)
    expected = replace_prior(probs, [1 / 3] * 3, [0.2, 0.3, 0.5])
    corrected = table[[name + "_corrected" for name in CLASSES]].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(corrected, expected, rtol=1e-6, atol=1e-7)
    capsys.readouterr()
    status = main(
        [
            "metrics", str(parquet_dataset), "--prob-cols", ",".join(CLASSES),
            "--assigned-col", "assigned", "--json",
        ]
    )  # fmt: skip
    assert status == 0
    got = json.loads(capsys.readouterr().out)["metrics"]
    expected = metrics_module.predicted_metrics(probs, probs.argmax(axis=1))
    completeness = [row["predicted"] for row in got if row["metric"] == "completeness"]
    np.testing.assert_allclose(completeness, expected["completeness"], rtol=1e-12)


@pytest.mark.filterwarnings("ignore:the prior of classes:deweight.errors.DeweightWarning")
def test_workflow_clarke_pcp_table_is_the_same_with_the_dask_engine(client, tmp_path, probs):
    from deweight.verdict import clarke_pcp_table

    path = tmp_path / "clarke.parquet"
    frame_of(probs)[CLASSES].to_parquet(path, index=False, row_group_size=2000)
    options = {
        "training_prior": [0.729, 0.150, 0.121],
        "method": "newton",
        "tol": 1e-10,
        "max_iter": 100,
        "columns": CLASSES,
    }
    streamed = clarke_pcp_table(path, **options)
    distributed = clarke_pcp_table(
        path, engine="dask", scheduler=client.scheduler.address, **options
    )
    pd.testing.assert_frame_equal(
        distributed.drop(columns=["pcp", "stderr"]), streamed.drop(columns=["pcp", "stderr"])
    )
    np.testing.assert_allclose(distributed["pcp"], streamed["pcp"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(distributed["stderr"], streamed["stderr"], rtol=1e-9)


def test_partition_arrays_read_straight_from_arrow_match_pandas_and_name_bad_columns(
    tmp_path, probs
):
    from deweight.scale.dataset import read_partition_arrays

    frame = frame_of(probs)
    path = tmp_path / "part.parquet"
    frame.iloc[:500].to_parquet(path, index=False)
    values, extras = read_partition_arrays(str(path), None, CLASSES, "float32", ["assigned"])
    expected = pd.read_parquet(path)
    assert values.flags.c_contiguous and values.dtype == np.float32
    np.testing.assert_array_equal(values, expected[CLASSES].to_numpy(np.float32))
    np.testing.assert_array_equal(extras["assigned"], expected["assigned"].to_numpy())
    text = frame.iloc[:5].astype({"p_star": str})
    text.to_parquet(tmp_path / "text.parquet", index=False)
    with pytest.raises(ValueError, match=r"text\.parquet: columns .* not numeric: p_star is"):
        read_partition_arrays(str(tmp_path / "text.parquet"), None, CLASSES, "float64")
