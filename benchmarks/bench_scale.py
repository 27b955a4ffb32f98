"""Benchmark: the prediction-consistent prior of a HATS catalogue, streamed and on Dask.

Builds (once; ``--directory`` keeps it for reuse) a HATS catalogue of ``--rows`` rows with
``ra``/``dec`` and ``--classes`` float32 class probabilities, at one HEALPix order
(``--order``; order 2 gives 192 partitions of about 520,000 rows for 10^8 rows, the partition
size of the survey catalogues served as HATS), written by LSDB's own writer. The same
probability rows are also written as one Parquet file, the input of today's streaming path.
Then, each in a fresh process (so that its peak memory is its own):

* ``stream`` -- :func:`deweight.priors.prediction_consistent_prior` over
  :func:`deweight.io.open_catalog` of the one file, as ``deweight pcp FILE`` runs it (the
  baseline);
* ``dask-1``, ``dask-2`` -- :func:`deweight.scale.prediction_consistent_prior` of the HATS
  catalogue on a ``distributed.LocalCluster`` of 1 and 2 single-threaded worker processes, as
  ``deweight pcp DIR --workers N`` runs it (the columns persisted in the workers after the
  first pass);
* ``dask-2-reread`` -- the same with ``persist=False``: every pass rereads the partitions, as
  on a catalogue larger than the cluster's memory.

It reports the seconds of every pass (the first also reads and validates every row), the
ratio of each Dask run's median later pass to the streamed one (target: ``dask-2`` within 1.5x),
the speed-up from 1 to 2 workers, each worker's peak resident memory, that every run's prior
agrees with the streamed one (1e-9) and, from the measured per-worker rate of a rereading pass,
an estimate for a 1.6 x 10^9-row, 5-class catalogue (Gaia DR3's size) on N workers. Finally it
times the command line end to end (start-up and cluster included) for each engine.

Usage::

    python benchmarks/bench_scale.py --directory /tmp/scale   # 10^8 rows, 5 classes (~6 GB)
    python benchmarks/bench_scale.py --rows 2000000 --order 1  # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from bench_cli_pcp import TimedPasses, load_average

#: Sky composition of the generated classes; the probabilities assume a flat prior instead,
#: so the prediction-consistent prior differs from the model prior and takes several passes.
SKY_PRIOR = np.array([0.02, 0.05, 0.80, 0.03, 0.10])
RUNS = ("stream", "dask-1", "dask-2", "dask-2-reread")
#: Gaia DR3's source count, for the written estimate.
GAIA_ROWS = 1.6e9


def columns_of(n_classes: int) -> list[str]:
    return [f"p_class{index}" for index in range(n_classes)]


def _pixel_rows(frame, pixel, rows_per_pixel: int, n_classes: int, seed: int):
    """``rows_per_pixel`` rows inside ``pixel``: sorted ``_healpix_29`` index, ra/dec, probs."""
    import cdshealpix
    import pandas as pd

    order, number = int(pixel.order), int(pixel.pixel)
    rng = np.random.default_rng([seed, order, number])
    shift = 2 * (29 - order)
    index = np.sort(rng.integers(number << shift, (number + 1) << shift, size=rows_per_pixel))
    lon, lat = cdshealpix.nested.healpix_to_lonlat(index, depth=29)
    prior = SKY_PRIOR[:n_classes] / SKY_PRIOR[:n_classes].sum()
    true = rng.choice(n_classes, size=rows_per_pixel, p=prior)
    means = 1.2 * np.arange(n_classes, dtype=np.float32)
    feature = rng.standard_normal(rows_per_pixel, dtype=np.float32) + means[true]
    log_likelihood = -0.5 * (feature[:, None] - means) ** 2
    probs = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    data = {"ra": lon.deg.astype(np.float64), "dec": lat.deg.astype(np.float64)}
    data.update({name: probs[:, i] for i, name in enumerate(columns_of(n_classes))})
    return pd.DataFrame(data, index=pd.Index(index, name=frame.index.name))


def build_hats(path: Path, rows: int, n_classes: int, order: int, seed: int) -> float:
    """Write the HATS catalogue through LSDB, one generated partition per pixel; seconds."""
    import cdshealpix
    import lsdb
    import pandas as pd

    start = time.perf_counter()
    pixels = np.arange(12 * 4**order)
    lon, lat = cdshealpix.nested.healpix_to_lonlat(pixels, depth=order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        template = lsdb.from_dataframe(
            pd.DataFrame({"ra": lon.deg, "dec": lat.deg}),
            ra_column="ra",
            dec_column="dec",
            lowest_order=order,
            highest_order=order,
        )
        index = pd.Index(np.empty(0, np.int64), name="_healpix_29")
        meta = pd.DataFrame({"ra": np.empty(0), "dec": np.empty(0)}, index=index)
        for name in columns_of(n_classes):
            meta[name] = np.empty(0, np.float32)
        generated = template.map_partitions(
            _pixel_rows, rows // pixels.size, n_classes, seed, include_pixel=True, meta=meta
        )
        generated.to_hats(path, catalog_name=path.name, as_collection=False, progress_bar=True)
    return time.perf_counter() - start


def write_one_file(hats_path: Path, path: Path, columns: list[str]) -> float:
    """The catalogue's probability columns as one Parquet file, pixel by pixel; seconds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from deweight.scale import open_dataset

    start = time.perf_counter()
    schema = pa.schema([pa.field(name, pa.float32(), nullable=False) for name in columns])
    partial = path.with_name(path.name + ".partial")
    with pq.ParquetWriter(partial, schema, compression="none", use_dictionary=False) as writer:
        for file in open_dataset(hats_path).files:
            table = pq.read_table(file, columns=columns)
            writer.write_table(pa.table([table[name] for name in columns], schema=schema))
    os.replace(partial, path)
    return time.perf_counter() - start


class PassClock:
    """A progress object for :mod:`deweight.scale` that records each pass's wall time."""

    def __init__(self):
        self.pass_seconds: list[float] = []
        self._started = 0.0

    def start(self, label, total):
        self._started = time.perf_counter()

    def update(self, count):
        pass

    def finish(self):
        self.pass_seconds.append(time.perf_counter() - self._started)


def _memory_megabytes() -> dict:
    """This process's peak resident memory, and its anonymous (not file-backed) part now.

    The peak counts the pages of a memory-mapped file (the streaming path reads Parquet
    through a memory map), which the kernel can drop at any time; the anonymous part is what
    the process itself holds.
    """
    with open("/proc/self/status") as handle:
        status = dict(line.split(":", 1) for line in handle if ":" in line)
    return {
        "peak_rss": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "anonymous_now": round(int(status["RssAnon"].split()[0]) / 1024),
    }


def run_stream(args) -> dict:
    from deweight.io import open_catalog
    from deweight.priors import prediction_consistent_prior

    columns = columns_of(args.classes)
    catalog = open_catalog(args.file, columns, reuse_buffer=True)
    for _ in catalog.iter_chunks():  # fills the page cache, as for the Dask runs' files
        pass
    with warnings.catch_warnings():  # compiles (or loads) the float32 kernels untimed
        warnings.simplefilter("ignore")
        prediction_consistent_prior(next(catalog.iter_chunks())[:1000].copy(), None)
    timed = TimedPasses(open_catalog(args.file, columns, reuse_buffer=True))
    result = prediction_consistent_prior(timed, None, method=args.method, tol=args.tol)
    return _report(result, timed.pass_seconds, {"client": _memory_megabytes()})


def run_dask(args, workers: int, persist: bool) -> dict:
    from deweight import scale

    columns = columns_of(args.classes)
    # The local cluster of ``deweight pcp --workers N``: N single-threaded processes.
    with scale.dask_client(workers=workers) as client:
        for file in scale.open_dataset(args.hats).files:  # fills the page cache
            Path(file).read_bytes()
        clock = PassClock()
        result = scale.prediction_consistent_prior(
            args.hats,
            columns,
            None,
            method=args.method,
            tol=args.tol,
            client=client,
            persist=persist,
            progress=clock,
        )
        peaks = client.run(_memory_megabytes)
    memory = {"client": _memory_megabytes()}
    memory.update({f"worker {i}": peak for i, peak in enumerate(peaks.values(), start=1)})
    return _report(result, clock.pass_seconds, memory)


def _report(result, pass_seconds, memory) -> dict:
    return {
        "prior": result.prior.tolist(),
        "stderr": result.stderr.tolist(),
        "n_rows": int(result.n_rows),
        "passes": int(result.passes),
        "pass_seconds": [round(s, 4) for s in pass_seconds],
        "memory_megabytes": memory,
    }


def measure(args, run: str) -> dict:
    """One run in a fresh process (its own peak memory), by re-invoking this script."""
    command = [sys.executable, __file__, "--measure", run, "--rows", str(args.rows)]
    command += ["--classes", str(args.classes), "--method", args.method, "--tol", str(args.tol)]
    command += ["--hats", str(args.hats), "--file", str(args.file)]
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def cli_seconds(args, run: str) -> float:
    """Wall seconds of ``deweight pcp`` end to end for one engine (start-up included)."""
    columns = columns_of(args.classes)
    target = args.file if run == "stream" else args.hats
    command = ["deweight", "pcp", str(target), "--prob-cols", ",".join(columns), "--flat", "--json"]
    command += ["--no-progress"]
    if run != "stream":
        command += ["--workers", run.split("-")[1]]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return round(time.perf_counter() - start, 2)


def cpu_model() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def summarise(runs: dict, cli: dict, args) -> dict:
    """Ratios against the streamed run, the 1-to-2-worker speed-up, and the Gaia estimate."""
    stream = runs["stream"]
    reference = np.asarray(stream["prior"])

    def later(run):  # pass 1 also reads (or persists) and validates every row
        seconds = runs[run]["pass_seconds"]
        return statistics.median(seconds[1:] or seconds)

    def mean(run):
        return sum(runs[run]["pass_seconds"]) / runs[run]["passes"]

    summary = {
        "max_prior_difference_to_stream": {
            run: float(np.max(np.abs(np.asarray(runs[run]["prior"]) - reference))) for run in runs
        },
        "later_pass_seconds": {run: round(later(run), 4) for run in runs},
        "mean_pass_seconds": {run: round(mean(run), 4) for run in runs},
        "later_pass_ratio_to_stream": {
            run: round(later(run) / later("stream"), 3) for run in runs if run != "stream"
        },
        "mean_pass_ratio_to_stream": {
            run: round(mean(run) / mean("stream"), 3) for run in runs if run != "stream"
        },
        "speed_up_1_to_2_workers": {
            "later passes": round(later("dask-1") / later("dask-2"), 3),
            "first pass": round(
                runs["dask-1"]["pass_seconds"][0] / runs["dask-2"]["pass_seconds"][0], 3
            ),
        },
        "cli_seconds": cli,
    }
    # Per worker, a pass that rereads its partitions: the rate a catalogue larger than the
    # cluster's memory gets. Two workers shared this machine's two cores and disk.
    reread = later("dask-2-reread")
    per_worker_rate = args.rows / (2 * reread)
    passes = runs["dask-2"]["passes"]
    summary["per_worker_reread_rows_per_second"] = round(per_worker_rate)
    summary["gaia_estimate_seconds"] = {
        f"{workers} workers": round(
            passes * GAIA_ROWS * args.classes / 5 / (workers * per_worker_rate)
        )
        for workers in (8, 32, 128)
    }
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--classes", type=int, default=5, choices=range(2, 6))
    parser.add_argument("--order", type=int, default=2)
    parser.add_argument("--method", default="newton", choices=["newton", "em", "squarem"])
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--directory", type=Path, default=None, help="keep the catalogue here")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--measure", choices=RUNS, help=argparse.SUPPRESS)
    parser.add_argument("--hats", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:  # a child process: one run, its JSON on the last line
        if args.measure == "stream":
            report = run_stream(args)
        else:
            workers = int(args.measure.split("-")[1])
            report = run_dask(args, workers, persist=not args.measure.endswith("reread"))
        print(json.dumps(report))
        return report

    with tempfile.TemporaryDirectory() as scratch:
        root = args.directory or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        args.hats = root / f"bench_scale_{args.rows}_{args.classes}_{args.order}"
        args.file = root / f"{args.hats.name}.parquet"
        build = {}
        if not args.hats.exists():
            build["hats_seconds"] = round(
                build_hats(args.hats, args.rows, args.classes, args.order, args.seed), 1
            )
        if not args.file.exists():
            build["file_seconds"] = round(
                write_one_file(args.hats, args.file, columns_of(args.classes)), 1
            )
        load_before = load_average()
        runs = {}
        for run in RUNS:
            runs[run] = measure(args, run)
            print(run, json.dumps(runs[run]), flush=True)
        cli = {run: cli_seconds(args, run) for run in ("stream", "dask-1", "dask-2")}
        load_after = load_average()
        partitions = len(list((args.hats / "dataset").rglob("Npix=*.parquet")))
        sizes = sum(file.stat().st_size for file in args.hats.rglob("*.parquet")) / 1e9
        report = {
            "rows": runs["stream"]["n_rows"],
            "classes": args.classes,
            "partitions": partitions,
            "hats_gigabytes": round(sizes, 2),
            "file_gigabytes": round(args.file.stat().st_size / 1e9, 2),
            "build": build,
            "method": args.method,
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": load_after,
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "runs": runs,
            "summary": summarise(runs, cli, args),
        }
    print(json.dumps(report, indent=2))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
