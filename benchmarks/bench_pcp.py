"""Benchmark: prediction-consistent prior (Eq. 14) on a catalogue-sized probability table.

Builds a float32 table of ``--rows`` x ``--classes`` model probabilities in memory (the default
size is the 111,293,033 rows of the Clarke et al. 2020 catalogue) and, in one process, times

(a) the paper's recursion written plainly in NumPy on the row-major table,
    ``w = probs * q; w /= w.sum(1, keepdims=True); p_new = w.mean(0)``, until the mean absolute
    change of the prior is below ``--tol``; and
(b) :func:`deweight.priors.prediction_consistent_prior` (``--methods``, default newton).

For each it prints seconds per iteration (per pass over the table), iterations, total seconds
(for the library, the median of ``--repeat`` runs) and peak memory above the table, and finally
the ratio of the two totals.

How the table is built
----------------------
Class ``i`` has density Dirichlet(1 + b e_i) over the simplex (b = ``SHARPNESS`` = 2). These
densities share one normalising constant, so for a point ``x`` the Bayes posterior under a flat
model prior is ``x_i**b / sum_j x_j**b``. Each row draws a true class from the known prior
(``--prior``), draws ``x`` from that class's Dirichlet (as normalised Gamma variates; the
normalisation cancels, so the row is ``g**b / sum(g**b)`` with ``g_j ~ Gamma(1 + b [j = i])``),
and stores the posterior as float32. The rows are therefore exact model posteriors of a known
mixture, and the PCP with a flat model prior must recover the prior within its standard error.

Memory
------
Peak memory is measured two ways, both as the increase over the memory in use just before the
timed call (the table itself): ``tracemalloc`` (every NumPy allocation, not numba's small
internal ones) and the resident set size sampled every 2 ms by a background thread (everything).

Usage::

    python benchmarks/bench_pcp.py                          # 111,293,033 rows, ~2.5 GB peak
    python benchmarks/bench_pcp.py --rows 10_000_000
    python benchmarks/bench_pcp.py --rows 10_000_000 --methods newton,squarem,em
    python benchmarks/bench_pcp.py --skip-baseline
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import tracemalloc

import numpy as np

from deweight.priors import prediction_consistent_prior

SHARPNESS = 2.0
GENERATION_CHUNK_ROWS = 2_000_000
DEFAULT_THREE_CLASS_PRIOR = (0.60, 0.35, 0.05)
BOUNDARY_ALPHA = (2.0, 2.0, 0.3)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def resident_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak NumPy-allocated (tracemalloc) and resident memory above the level at ``start()``."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        while not self._stop.is_set():
            self.peak_resident = max(self.peak_resident, resident_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.base_resident = resident_bytes()
        self.peak_resident = self.base_resident
        tracemalloc.start()
        self.base_traced = tracemalloc.get_traced_memory()[0]
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_resident = max(self.peak_resident, resident_bytes())
        self.extra_traced = tracemalloc.get_traced_memory()[1] - self.base_traced
        tracemalloc.stop()
        self.extra_resident = self.peak_resident - self.base_resident
        return False


def build_table(n_rows: int, prior: np.ndarray, seed: int) -> np.ndarray:
    """Float32 posteriors (flat model prior) of a Dirichlet mixture with the given prior."""
    n_classes = prior.size
    table = np.empty((n_rows, n_classes), dtype=np.float32)
    rng = np.random.default_rng(seed)
    shapes = 1.0 + SHARPNESS * np.eye(n_classes)
    for start in range(0, n_rows, GENERATION_CHUNK_ROWS):
        stop = min(start + GENERATION_CHUNK_ROWS, n_rows)
        labels = rng.choice(n_classes, size=stop - start, p=prior)
        gamma = rng.standard_gamma(shapes[labels])
        np.power(gamma, SHARPNESS, out=gamma)
        gamma /= gamma.sum(axis=1, keepdims=True)
        table[start:stop] = gamma
    return table


def plain_recursion(probs: np.ndarray, model_prior: np.ndarray, tol: float, max_iter: int):
    """The recursion of Eq. 14 as one would write it directly in NumPy (the baseline)."""
    prior = model_prior.copy()
    ratio = prior / model_prior
    iteration_seconds = []
    converged = False
    for _ in range(max_iter):
        started = time.perf_counter()
        weighted = probs * ratio  # float32 * float64 -> a float64 copy of the whole table
        weighted /= weighted.sum(1, keepdims=True)
        updated = weighted.mean(0)
        del weighted
        change = float(np.mean(np.abs(updated - prior)))
        prior = updated
        ratio = prior / model_prior
        iteration_seconds.append(time.perf_counter() - started)
        if change < tol:
            converged = True
            break
    return prior, iteration_seconds, converged


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:,.0f} MB"


def build_boundary_table(n_rows: int, alpha: np.ndarray, seed: int) -> np.ndarray:
    """Float32 rows drawn directly from Dirichlet(``alpha``), read as flat-prior posteriors.

    With ``alpha = (2, 2, 0.3)`` the third class gets little probability in most rows, and the
    maximum-likelihood (prediction-consistent) prior under a flat model prior puts it on the
    boundary 0: the case where a solver must stop a class at zero rather than in the interior.
    """
    table = np.empty((n_rows, alpha.size), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n_rows, GENERATION_CHUNK_ROWS):
        stop = min(start + GENERATION_CHUNK_ROWS, n_rows)
        gamma = rng.standard_gamma(alpha, size=(stop - start, alpha.size))
        gamma /= gamma.sum(axis=1, keepdims=True)
        table[start:stop] = gamma
    return table


def plain_read_seconds(table: np.ndarray, repeat: int = 3) -> tuple[float, float]:
    """Median seconds of plain NumPy reads of the whole table.

    Returns the time of ``table.sum(axis=0)`` (per-column sums, what a user would write) and of
    ``table.sum()`` (one flat, vectorised sum: the closest NumPy gets to memory speed).
    """
    by_column, flat = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        table.sum(axis=0)
        by_column.append(time.perf_counter() - started)
        started = time.perf_counter()
        table.sum()
        flat.append(time.perf_counter() - started)
    return float(np.median(by_column)), float(np.median(flat))


def run_case(case: str, table: np.ndarray, model_prior, true_prior, args, target: float):
    """Time the library (and optionally the plain recursion) on one table; return table rows."""
    table_bytes = table.nbytes
    by_column, flat = plain_read_seconds(table)
    read = min(by_column, flat)
    print(
        f"[{case}] one plain NumPy read of the table (median of 3): table.sum(axis=0) "
        f"{by_column:.3f} s ({table_bytes / by_column / 1e9:.1f} GB/s), table.sum() "
        f"{flat:.3f} s ({table_bytes / flat / 1e9:.1f} GB/s); 'plain read' below is the faster"
    )
    rows = []
    for method in args.methods:
        # Memory is measured on the first run; the time reported is the median of the runs,
        # because on a shared machine single runs vary with the other processes' load.
        seconds = []
        for repeat in range(args.repeat):
            if repeat == 0:
                with PeakMemory() as memory:
                    result = prediction_consistent_prior(
                        table, model_prior, method=method, tol=args.tol
                    )
            else:
                result = prediction_consistent_prior(
                    table, model_prior, method=method, tol=args.tol
                )
            seconds.append(result.seconds)
        median = float(np.median(seconds))
        per_pass = median / result.passes
        verdict = "met" if median <= target else "NOT met"
        print(
            f"[{case}] library {method}: median {median:.2f} s of {args.repeat} runs "
            f"({', '.join(f'{value:.2f}' for value in seconds)}), {result.passes} passes "
            f"({per_pass:.3f} s/pass = {per_pass / read:.2f} plain reads), "
            f"{result.iterations} iterations, converged={result.converged}; target "
            f"<= {target:g} s {verdict}; peak above table: traced "
            f"{megabytes(memory.extra_traced)}, resident {megabytes(memory.extra_resident)}"
        )
        print(f"  prior {result.prior.round(9).tolist()}  stderr {result.stderr.tolist()}")
        if true_prior is not None:
            z = (result.prior - true_prior) / result.stderr
            print(f"  (prior - true) / stderr = {np.round(z, 2).tolist()}")
        rows.append(
            (
                f"{case}: library ({method})",
                per_pass,
                result.passes,
                median,
                memory,
                read,
                result.prior,
            )
        )

    if not args.skip_baseline:
        with PeakMemory() as memory:
            baseline_prior, seconds, converged = plain_recursion(
                table, model_prior, args.tol, args.baseline_max_iter
            )
        total = float(np.sum(seconds))
        print(
            f"[{case}] plain NumPy recursion: {total:.1f} s, {len(seconds)} iterations "
            f"({np.mean(seconds):.3f} s/iteration), converged={converged}; peak above table: "
            f"traced {megabytes(memory.extra_traced)}, resident {megabytes(memory.extra_resident)}"
        )
        for label, _, _, library_total, _, _, library_prior in rows:
            print(
                f"  {label}: {total / library_total:.1f}x faster; max |prior difference| "
                f"{np.abs(library_prior - baseline_prior).max():.2e}"
            )
        rows.append(
            (
                f"{case}: plain NumPy recursion",
                np.mean(seconds),
                len(seconds),
                total,
                memory,
                read,
                None,
            )
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=lambda text: int(text.replace("_", "")), default=111_293_033)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument(
        "--prior",
        type=lambda text: np.array([float(v) for v in text.split(",")]),
        help="interior case: true class prior, comma separated (default 0.60,0.35,0.05 for "
        "3 classes, else proportional to 2^-i)",
    )
    parser.add_argument(
        "--boundary-alpha",
        type=lambda text: np.array([float(v) for v in text.split(",")]),
        default=np.array(BOUNDARY_ALPHA),
        help="boundary case: Dirichlet parameters of the rows (default 2,2,0.3)",
    )
    parser.add_argument(
        "--cases", default="interior,boundary", help="comma-separated: interior,boundary"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--methods", default="newton", help="comma-separated: newton,squarem,em")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-max-iter", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per library method")
    parser.add_argument(
        "--target-seconds", type=float, default=1.5, help="target per solve (default 1.5)"
    )
    args = parser.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - {"interior", "boundary"})
    if unknown:
        parser.error(f"unknown case(s) {unknown}")

    if args.prior is None:
        if args.classes == 3:
            prior = np.array(DEFAULT_THREE_CLASS_PRIOR)
        else:
            prior = 0.5 ** np.arange(args.classes)
    else:
        prior = args.prior
    if prior.size != args.classes:
        parser.error(f"--prior has {prior.size} entries for {args.classes} classes")
    prior = prior / prior.sum()

    print(f"load average at start: {load_average()}  (cpus: {os.cpu_count()})")
    # Compile (or load from numba's on-disk cache) the kernels outside the timed region.
    started = time.perf_counter()
    prediction_consistent_prior(
        build_table(10_000, prior, args.seed), np.full(prior.size, 1 / prior.size)
    )
    print(f"numba warm-up (compile or cache load): {time.perf_counter() - started:.2f} s")

    rows = []
    for case in cases:
        started = time.perf_counter()
        if case == "interior":
            table = build_table(args.rows, prior, args.seed)
            true_prior = prior
            described = f"Dirichlet-mixture posteriors, true prior {np.round(prior, 4).tolist()}"
        else:
            table = build_boundary_table(args.rows, args.boundary_alpha, args.seed)
            true_prior = None
            described = f"rows ~ Dirichlet({', '.join(f'{a:g}' for a in args.boundary_alpha)})"
        n_classes = table.shape[1]
        print(
            f"[{case}] table: {table.shape[0]:,} x {n_classes} float32 = "
            f"{megabytes(table.nbytes)}, built in {time.perf_counter() - started:.1f} s; "
            f"{described}; flat model prior"
        )
        model_prior = np.full(n_classes, 1.0 / n_classes)
        rows += run_case(case, table, model_prior, true_prior, args, args.target_seconds)
        table_bytes = table.nbytes
        del table  # one table in memory at a time

    print(f"load average at end: {load_average()}")
    print()
    print(
        "| case: implementation | s / pass | passes | total s | pass / plain read "
        "| peak above table (traced / RSS) | peak RSS / table |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, per_pass, passes, total, memory, read, _ in rows:
        print(
            f"| {label} | {per_pass:.3f} | {passes} | {total:.2f} | {per_pass / read:.2f} | "
            f"{megabytes(memory.extra_traced)} / {megabytes(memory.extra_resident)} | "
            f"{(table_bytes + memory.extra_resident) / table_bytes:.2f} |"
        )


if __name__ == "__main__":
    main()
