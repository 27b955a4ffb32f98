"""Compare the classifier's "fast" training recipe with the paper's (Section 3.1).

For each training-set size and variant ("base": the representative training set;
"weighted": the same set with w_i = 1/P(i), Eq. 19) both recipes fit the simulation's
2,658-parameter network, and each fit is scored by its mean Kullback-Leibler divergence (Eq. 21)
from the analytic posterior on a 20,000-row test set. The analytic posterior uses the prior the
model was trained with (Eq. 7), i.e. Eq. 8 for the weighted fit, so the score measures how well
the fit learned what it was asked to learn, not the weighting bias.

The training sets are nested prefixes of one simulated draw, as in the workflow's size sweep.
Times are wall-clock and process CPU seconds with the given number of torch threads; on a shared
machine the CPU time is the better guide to what one dedicated core would take.

Usage::

    nice python benchmarks/bench_recipes.py                      # 1e3, 3e3, 1e4
    nice python benchmarks/bench_recipes.py --with-1e5           # plus one run at 1e5
    nice python benchmarks/bench_recipes.py --fast-only --sizes 1000000 --variants base

Prints a Markdown table; ``--output`` also writes every fit as a CSV row.

Many seeds, to compare two versions of the fast recipe paired by seed: ``--seeds`` fits every
size and variant once per seed, each seed with its own simulated draw (``draw_datasets(seed)``)
and ``Classifier(seed=seed)``; run it once with each version's package on ``PYTHONPATH`` and
compare the two CSVs with ``--paired``::

    PYTHONPATH=old/src python benchmarks/bench_recipes.py --fast-only --seeds 1 2 3 4 5 6 7 8 \
        --sizes 1000 10000 100000 1000000 --output old.csv
    PYTHONPATH=src python benchmarks/bench_recipes.py --fast-only --seeds 1 2 3 4 5 6 7 8 \
        --sizes 1000 10000 100000 1000000 --output new.csv
    python benchmarks/bench_recipes.py --paired old.csv new.csv
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import rel_entr

from deweight._files import atomic_path
from deweight.errors import ConvergenceWarning
from deweight.model import Classifier
from deweight.simulate import DEFAULT_SEED, draw_datasets, true_posterior

DEFAULT_SIZES = (1_000, 3_000, 10_000)
N_TEST = 20_000


def mean_kl(p_true: np.ndarray, p_model: np.ndarray) -> float:
    """Mean over test rows of D_KL(P_true || P_model), Eq. 21, in nats.

    ``scipy.special.rel_entr`` is the summand ``p ln(p/q)`` with the ``0 ln 0 = 0`` convention.
    """
    return float(np.mean(rel_entr(p_true, p_model).sum(axis=1)))


def fit_and_score(recipe, restarts, X, y, weights, X_test, threads, seed) -> dict:
    """Fit one classifier and return its score, times and convergence."""
    classifier = Classifier(recipe=recipe, restarts=restarts, seed=seed, threads=threads)
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(X, y, sample_weight=weights)
    wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
    truth = true_posterior(X_test, classifier.prior_)
    report = classifier.fit_report_
    return {
        "kl": mean_kl(truth, classifier.predict_proba(X_test)),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "restarts": restarts,
        "steps": max(s for s in report["steps"] if s is not None),
        "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
    }


def markdown(results: pd.DataFrame) -> str:
    """One row per (size, variant): both recipes side by side, with the two ratios."""
    wide = results.pivot_table(
        index=["size", "variant"],
        columns="recipe",
        values=["kl", "wall_seconds", "cpu_seconds", "restarts"],
    )
    lines = [
        "| N train | variant | KL paper | KL fast | KL fast/paper | CPU paper (s) | CPU fast (s) "
        "| CPU paper/fast | paper restarts |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (size, variant), row in wide.iterrows():
        kl_paper, kl_fast = row.get(("kl", "paper"), np.nan), row.get(("kl", "fast"), np.nan)
        t_paper = row.get(("cpu_seconds", "paper"), np.nan)
        t_fast = row.get(("cpu_seconds", "fast"), np.nan)
        restarts = row.get(("restarts", "paper"), np.nan)
        lines.append(
            f"| {size:,} | {variant} | {kl_paper:.5f} | {kl_fast:.5f} | {kl_fast / kl_paper:.2f} "
            f"| {t_paper:.1f} | {t_fast:.1f} | {t_paper / t_fast:.1f} | "
            f"{'' if np.isnan(restarts) else int(restarts)} |"
        )
    return "\n".join(lines)


def paired_table(before: pd.DataFrame, after: pd.DataFrame) -> str:
    """Mean and median KL of two runs over the same seeds, per (size, variant), as Markdown.

    Only (size, variant, seed) present in both runs count. "geo. mean after/before" is
    ``exp`` of the mean over seeds of ``ln(KL after / KL before)``, and "95 % interval" the
    same ``exp`` of that mean's two-sided t interval (seeds - 1 degrees of freedom); "after
    lower" counts the seeds where ``after`` is lower. Steps and CPU seconds are means per fit.
    """
    keys = ["size", "variant", "seed"]
    columns = ["kl", "cpu_seconds", "steps"]
    both = before[keys + columns].merge(
        after[keys + columns], on=keys, suffixes=("_before", "_after")
    )
    lines = [
        "| N train | variant | seeds | mean KL before | mean KL after | median KL before "
        "| median KL after | geo. mean after/before | 95 % interval | after lower "
        "| steps before → after | CPU s before → after |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for (size, variant), group in both.groupby(["size", "variant"]):
        log_ratio = np.log(group["kl_after"] / group["kl_before"])
        n = len(group)
        centre = log_ratio.mean()
        half = stats.t.ppf(0.975, n - 1) * log_ratio.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        lines.append(
            f"| {size:,} | {variant} | {n} | {group['kl_before'].mean():.6f} "
            f"| {group['kl_after'].mean():.6f} | {group['kl_before'].median():.6f} "
            f"| {group['kl_after'].median():.6f} | {np.exp(centre):.3f} "
            f"| {np.exp(centre - half):.3f}–{np.exp(centre + half):.3f} "
            f"| {int((log_ratio < 0).sum())}/{n} "
            f"| {group['steps_before'].mean():,.0f} → {group['steps_after'].mean():,.0f} "
            f"| {group['cpu_seconds_before'].mean():.2f} → {group['cpu_seconds_after'].mean():.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--with-1e5", action="store_true", help="add one run at 10^5 rows")
    parser.add_argument("--variants", nargs="+", default=["base", "weighted"])
    parser.add_argument("--paper-restarts", type=int, default=5)
    parser.add_argument(
        "--paper-restarts-1e5",
        type=int,
        default=1,
        help="paper restarts at 10^5 rows (one restart there takes ~10 minutes)",
    )
    parser.add_argument("--fast-restarts", type=int, default=5)
    parser.add_argument("--fast-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="one simulated draw and fit per seed (see above)"
    )
    parser.add_argument(
        "--draw-rows",
        type=int,
        help="rows to draw (default the largest size): a smaller draw is not a prefix of a larger",
    )
    parser.add_argument(
        "--paired", nargs=2, type=Path, metavar=("BEFORE", "AFTER"), help="compare two CSVs"
    )
    parser.add_argument("--output", type=Path, help="also write every fit to this CSV")
    args = parser.parse_args(argv)
    if args.paired:
        before, after = (pd.read_csv(path) for path in args.paired)
        print(paired_table(before, after))
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

    sizes = sorted(set(args.sizes) | ({100_000} if args.with_1e5 else set()))
    rows = []
    for seed in args.seeds or [args.seed]:
        run(args, sizes, seed, rows)
    results = pd.DataFrame(rows)
    if args.fast_only:
        print(results.to_string(index=False))
    else:
        print(markdown(results))
    return 0


def run(args, sizes: list[int], seed: int, rows: list[dict]) -> None:
    """Fit every size and variant on the draw of ``seed``, appending one row per fit."""
    n_train = max(sizes) if args.draw_rows is None else max(args.draw_rows, max(sizes))
    data = draw_datasets(seed=seed, n_train=n_train, n_biased=0, n_test=N_TEST)
    X_all, y_all = data["train"]
    X_test, _ = data["test"]
    for size in sizes:
        X, y = X_all[:size], y_all[:size]
        for variant in args.variants:
            weights = None
            if variant == "weighted":
                fractions = np.bincount(y, minlength=3) / size
                weights = 1.0 / fractions[y]  # Eq. 19
            recipes = ["fast"] if args.fast_only else ["paper", "fast"]
            for recipe in recipes:
                if recipe == "paper":
                    restarts = args.paper_restarts_1e5 if size >= 100_000 else args.paper_restarts
                else:
                    restarts = args.fast_restarts
                result = fit_and_score(recipe, restarts, X, y, weights, X_test, args.threads, seed)
                rows.append(
                    {"size": size, "variant": variant, "recipe": recipe, "seed": seed, **result}
                )
                print(rows[-1], file=sys.stderr, flush=True)
                if args.output:
                    with atomic_path(args.output) as temporary:
                        pd.DataFrame(rows).to_csv(temporary, index=False)


if __name__ == "__main__":
    sys.exit(main())
