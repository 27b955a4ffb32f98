"""Benchmark: streaming prediction-consistent prior over a Parquet catalogue.

Writes a Parquet file of ``--rows`` rows of three float32 class probabilities, reads it once to
warm the page cache, then times :func:`deweight.priors.prediction_consistent_prior` over
:func:`deweight.io.open_catalog` exactly as ``deweight pcp`` runs it (streaming passes,
validation on the first pass, one reused block buffer) and reports rows per second per pass.
For comparison, in the same process, it times the obvious baseline: ``pandas.read_parquet`` of the
whole file followed by plain NumPy passes of the Eq. 14 recursion on the in-memory array.

Usage::

    python benchmarks/bench_cli_pcp.py                 # 50,000,000 rows
    python benchmarks/bench_cli_pcp.py --rows 2000000  # quick check

The file is written to a temporary directory (``--directory`` to choose one) and deleted at the
end unless ``--keep`` is given. ``--compare-src DIR`` also times read-only passes of another
version's ``deweight.io`` under ``DIR`` (e.g. ``git archive <commit> src | tar -x -C /tmp/old``
then ``--compare-src /tmp/old/src``), interleaved with this version's (each pass in a fresh
process that imports its version, with the page cache shared), and reports the median of the paired time ratios: on a shared machine that is steadier than two runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deweight.io import open_catalog
from deweight.priors import prediction_consistent_prior

COLUMNS = ["p_galaxy", "p_star", "p_qso"]
#: Composition of the synthetic sky; the classifier below assumes a flat prior instead.
SKY_PRIOR = np.array([0.446, 0.550, 0.004])


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def write_catalogue(path: Path, n_rows: int, row_group_rows: int, seed: int) -> float:
    """Write ``n_rows`` synthetic float32 probability rows; return the seconds taken.

    Rows are Bayes-rule probabilities under a flat prior for three overlapping Gaussian classes
    drawn with ``SKY_PRIOR``, so the prediction-consistent prior differs from the model prior and
    the solver needs several passes, as with a real catalogue. The file is uncompressed with
    plain encoding: random floats do not compress, and decoding then is a memory copy.
    """
    rng = np.random.default_rng(seed)
    means = np.array([0.0, 1.2, 2.4], dtype=np.float32)
    # Non-nullable columns carry no definition levels, which halves Arrow's decoding time.
    schema = pa.schema([pa.field(name, pa.float32(), nullable=False) for name in COLUMNS])
    start = time.perf_counter()
    temporary = path.with_name(path.name + ".partial")
    with pq.ParquetWriter(
        temporary,
        schema,
        compression="none",
        use_dictionary=False,
        write_statistics=False,
        data_page_size=1 << 24,  # few, large pages: less per-page decoding overhead
    ) as writer:
        for first in range(0, n_rows, row_group_rows):
            k = min(row_group_rows, n_rows - first)
            true = rng.choice(3, size=k, p=SKY_PRIOR)
            feature = rng.standard_normal(k, dtype=np.float32) + means[true]
            log_likelihood = -0.5 * (feature[:, None] - means) ** 2
            probs = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            writer.write_table(
                pa.table(
                    {name: probs[:, i].astype(np.float32) for i, name in enumerate(COLUMNS)},
                    schema=schema,
                ),
                row_group_size=row_group_rows,
            )
    os.replace(temporary, path)
    return time.perf_counter() - start


class TimedPasses:
    """Chunk source that records the wall time of every pass the solver makes."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.pass_seconds: list[float] = []

    def iter_chunks(self):
        start = time.perf_counter()
        yield from self.catalog.iter_chunks()
        self.pass_seconds.append(time.perf_counter() - start)


def read_only_pass(catalog) -> float:
    """Seconds for one pass that only reads blocks (the I/O floor of a streaming pass)."""
    start = time.perf_counter()
    for _ in catalog.iter_chunks():
        pass
    return time.perf_counter() - start


_READ_PASS_SCRIPT = """
import sys, time
from deweight.io import open_catalog
catalog = open_catalog(sys.argv[1], sys.argv[3:], chunk_rows=int(sys.argv[2]), reuse_buffer=True)
start = time.perf_counter()
for _ in catalog.iter_chunks():
    pass
print(time.perf_counter() - start)
"""


def _read_pass_in(src: Path, path: Path, chunk_rows: int) -> float:
    """Seconds for one read-only pass by the ``deweight.io`` under ``src``, in a fresh process.

    A fresh process imports that version whole, whatever its layout (the module ``io.py`` of
    older versions or the package ``io/`` of newer ones); only the pass itself is timed.
    """
    import subprocess
    import sys

    command = [sys.executable, "-c", _READ_PASS_SCRIPT, str(path), str(chunk_rows), *COLUMNS]
    environment = {**os.environ, "PYTHONPATH": str(src)}
    output = subprocess.run(command, env=environment, check=True, capture_output=True, text=True)
    return float(output.stdout.split()[-1])


def compare_read_passes(path: Path, other_src: Path, chunk_rows: int, rounds: int) -> dict:
    """Interleave read-only passes of this ``deweight.io`` and the one under ``other_src``."""
    import deweight

    this_src = Path(deweight.__file__).resolve().parents[1]
    catalogs = {"this": this_src, "other": other_src}
    seconds = {name: [] for name in catalogs}
    for round_index in range(rounds):
        order = ("this", "other") if round_index % 2 == 0 else ("other", "this")
        for name in order:
            seconds[name].append(_read_pass_in(catalogs[name], path, chunk_rows))
    ratios = [a / b for a, b in zip(seconds["this"], seconds["other"], strict=True)]
    return {
        "other_src": str(other_src),
        "rounds": rounds,
        "read_only_seconds_median": {k: round(statistics.median(v), 4) for k, v in seconds.items()},
        "ratio_this_to_other_read_seconds_median": round(statistics.median(ratios), 3),
    }


def baseline(path: Path, model_prior: np.ndarray, prior: np.ndarray, n_passes: int, args) -> dict:
    """pandas.read_parquet of the whole file, then plain NumPy Eq. 14 recursion passes.

    Also times the library's solver on the same in-memory array, which separates the cost of
    its arithmetic (log-likelihood, gradient and Hessian in float64 on every pass) from the
    cost of streaming.
    """
    start = time.perf_counter()
    frame = pd.read_parquet(path, columns=COLUMNS)
    probs = frame.to_numpy()
    read_seconds = time.perf_counter() - start
    del frame
    # Row-major, as the numba kernels want it (pandas hands out a column-major array).
    rows = np.ascontiguousarray(probs)
    start = time.perf_counter()
    in_memory = prediction_consistent_prior(rows, model_prior, method=args.method, tol=args.tol)
    library_seconds = time.perf_counter() - start
    del rows
    pass_seconds = []
    estimate = prior.copy()
    for _ in range(n_passes):
        start = time.perf_counter()
        weights = (estimate / model_prior).astype(probs.dtype)
        denominators = probs @ weights
        estimate = estimate * (probs / denominators[:, None]).mean(axis=0, dtype=np.float64)
        pass_seconds.append(time.perf_counter() - start)
    return {
        "read_seconds": read_seconds,
        "pass_seconds": pass_seconds,
        "dtype": str(probs.dtype),
        "library_seconds_per_pass": library_seconds / in_memory.passes,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--row-group-rows", type=int, default=1 << 22)
    parser.add_argument("--chunk-rows", type=int, default=1 << 22)
    parser.add_argument("--method", default="newton", choices=["newton", "em", "squarem"])
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--baseline-passes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--directory", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--compare-src", type=Path, default=None)
    parser.add_argument("--compare-rounds", type=int, default=40)
    args = parser.parse_args(argv)

    load_before = load_average()
    with tempfile.TemporaryDirectory(dir=args.directory) as scratch:
        path = Path(scratch) / "bench_probabilities.parquet"
        write_seconds = write_catalogue(path, args.rows, args.row_group_rows, args.seed)
        size_mb = path.stat().st_size / 1e6

        catalog = open_catalog(path, COLUMNS, chunk_rows=args.chunk_rows, reuse_buffer=True)
        warm_seconds = read_only_pass(catalog)  # fills the page cache
        read_seconds = min(read_only_pass(catalog) for _ in range(2))

        model_prior = np.full(3, 1.0 / 3.0)
        # Compile (or load from cache) the float32 numba kernels outside the timed region.
        warm_up = next(catalog.iter_chunks())[:1000].copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 1000 rows may well put a class on the boundary
            prediction_consistent_prior(warm_up, model_prior, method=args.method, tol=args.tol)
        # As `deweight pcp` does: the solver validates the rows during its first pass.
        streamed = open_catalog(path, COLUMNS, chunk_rows=args.chunk_rows, reuse_buffer=True)
        timed = TimedPasses(streamed)
        start = time.perf_counter()
        result = prediction_consistent_prior(
            timed, model_prior, method=args.method, tol=args.tol, progress=False
        )
        solve_seconds = time.perf_counter() - start

        base = baseline(path, model_prior, model_prior, args.baseline_passes, args)
        compared = None
        if args.compare_src is not None:
            compared = compare_read_passes(
                path, args.compare_src, args.chunk_rows, args.compare_rounds
            )
        if args.keep:
            kept = Path.cwd() / path.name
            os.replace(path, kept)
            print(f"kept {kept}")
    load_after = load_average()

    n = args.rows
    passes = timed.pass_seconds
    later = passes[1:] or passes  # pass 1 also validates every row and allocates the buffer
    streaming_rate = n / statistics.median(later)
    base_pass_rate = n / statistics.median(base["pass_seconds"])
    base_read_and_pass = base["read_seconds"] + statistics.median(base["pass_seconds"])
    report = {
        "rows": n,
        "file_megabytes": round(size_mb, 1),
        "row_group_rows": args.row_group_rows,
        "chunk_rows": args.chunk_rows,
        "method": args.method,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "write_seconds": round(write_seconds, 3),
        "warm_read_seconds": round(warm_seconds, 3),
        "read_only_pass_rows_per_second": round(n / read_seconds),
        "pcp_iterations": int(result.iterations),
        "pcp_converged": bool(result.converged),
        "pcp_passes": len(passes),
        "pcp_total_seconds": round(solve_seconds, 3),
        "pcp_pass_seconds": [round(s, 3) for s in passes],
        "pcp_first_pass_rows_per_second": round(n / passes[0]),
        "pcp_rows_per_second_per_pass": round(streaming_rate),
        "pcp_prior": [round(float(v), 6) for v in result.prior],
        "baseline_read_seconds": round(base["read_seconds"], 3),
        "baseline_pass_seconds": [round(s, 3) for s in base["pass_seconds"]],
        "baseline_in_memory_rows_per_second_per_pass": round(base_pass_rate),
        "baseline_read_plus_one_pass_rows_per_second": round(n / base_read_and_pass),
        "library_in_memory_rows_per_second_per_pass": round(n / base["library_seconds_per_pass"]),
        "ratio_streaming_pass_to_library_in_memory_pass": round(
            streaming_rate * base["library_seconds_per_pass"] / n, 2
        ),
        "ratio_streaming_pass_to_in_memory_pass": round(streaming_rate / base_pass_rate, 2),
        "ratio_streaming_pass_to_read_plus_pass": round(
            streaming_rate / (n / base_read_and_pass), 2
        ),
    }
    if compared is not None:
        report["compare"] = compared
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
