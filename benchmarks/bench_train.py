"""Time one default fit of the classifier against a plain PyTorch loop doing the same arithmetic.

In one process, on one simulated training set (Section 3.2, ``draw_datasets``), this runs

1. ``Classifier(restarts=5, threads=1).fit(X, y)``: the default ``fast`` recipe, timed from
   raw features to a fitted model;
2. a plain mini-batch loop: the same scaling and augmentation (Section 3.1), one
   ``_StickBreakingNetwork`` of the same shape, ``torch.optim.Adam`` at the same learning rate
   and weight decay, the loss of Eq. 5 through autograd, random batches of the fit's batch size,
   for as many steps as it takes to pass the same number of examples through a forward and
   backward pass as the fit did (``fit_report_["examples_processed"]``, which counts each
   restart), with no held-out evaluation and no schedule.

Both are scored by the mean Kullback-Leibler divergence (Eq. 21) from the analytic posterior
(``deweight.simulate.true_posterior`` under the prior each model learnt, Eq. 7) on a test set.
The ratio fit / plain says what the recipe's bookkeeping (restarts, held-out evaluation,
learning-rate schedule, best-state copies) costs beyond the arithmetic of the same examples;
the target is <= 1.5. The plain loop is float32 throughout, while the fit's first-layer
products may be bfloat16 (its ``first_layer_dtype``, printed with it), so a ratio below one
also counts that.
Both run with subnormal floats flushed (the fit sets this itself), so the ratio does not
count that setting.

``--compare-with SRC`` also runs the same fit with the package found under ``SRC`` (e.g. an
older checkout's ``src``) in a subprocess, before and after the fit here, and prints the ratio.

Usage::

    python benchmarks/bench_train.py                        # 10^6 rows, 5 restarts, 1 thread
    python benchmarks/bench_train.py --rows 100000 --compare-with /path/to/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
from scipy.special import rel_entr

from deweight.errors import ConvergenceWarning
from deweight.model import (
    Classifier,
    RangeScaler,
    _StickBreakingNetwork,
    augment_quadratic,
    weighted_cross_entropy,
)
from deweight.priors import effective_prior
from deweight.simulate import DEFAULT_SEED, draw_datasets, true_posterior

N_TEST = 20_000


def mean_kl(p_true: np.ndarray, p_model: np.ndarray) -> float:
    """Mean over rows of D_KL(P_true || P_model), Eq. 21, in nats."""
    return float(np.mean(rel_entr(p_true, p_model).sum(axis=1)))


def load_data(rows: int, seed: int):
    data = draw_datasets(seed=seed, n_train=rows, n_biased=0, n_test=N_TEST)
    return data["train"], data["test"][0]


def timed_fit(X, y, X_test, restarts: int, seed: int) -> dict:
    """Fit with the default recipe; return wall and CPU seconds, KL and the fit's report."""
    classifier = Classifier(restarts=restarts, seed=seed, threads=1, progress=False)
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(X, y)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report = classifier.fit_report_
    truth = true_posterior(X_test, classifier.prior_)
    return {
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "kl": mean_kl(truth, classifier.predict_proba(X_test)),
        "steps": max(s for s in report["steps"] if s is not None),
        "batch_size": report["batch_size"],
        "examples_processed": report.get("examples_processed"),
        "device": report["device"],
        "first_layer_dtype": report.get("first_layer_dtype", "float32"),
    }


def plain_loop(X, y, X_test, examples: int, batch_size: int, seed: int) -> dict:
    """The same network trained by a textbook PyTorch loop on ``examples`` examples."""
    torch.set_flush_denormal(True)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        scaler = RangeScaler().fit(X)
        features = augment_quadratic(torch.as_tensor(scaler.transform(X), dtype=torch.float32))
        labels = torch.as_tensor(y, dtype=torch.int64)
        weights = torch.ones(labels.numel())
        torch.manual_seed(seed)
        network = _StickBreakingNetwork(features.shape[1], (32,), 3)
        optimizer = torch.optim.Adam(network.parameters(), lr=2e-3, weight_decay=1e-4)
        steps = -(-examples // batch_size)
        order, position = torch.randperm(labels.numel()), 0
        for _ in range(steps):
            if position + batch_size > order.numel():
                order, position = torch.randperm(labels.numel()), 0
            batch = order[position : position + batch_size]
            position += batch_size
            optimizer.zero_grad()
            loss = weighted_cross_entropy(network(features[batch]), labels[batch], weights[batch])
            loss.backward()
            optimizer.step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_flush_denormal(False)
    with torch.no_grad():
        test = augment_quadratic(torch.as_tensor(scaler.transform(X_test), dtype=torch.float64))
        p_model = torch.exp(network.double()(test)).numpy()
    truth = true_posterior(X_test, effective_prior(y, None, 3))
    return {"wall_seconds": wall, "cpu_seconds": cpu, "kl": mean_kl(truth, p_model), "steps": steps}


def fit_elsewhere(src: str, rows: int, restarts: int, seed: int) -> dict:
    """Run ``timed_fit`` in a subprocess that imports deweight from ``src``."""
    env = {**os.environ, "PYTHONPATH": src}
    command = [sys.executable, __file__, "--fit-only", "--rows", str(rows)]
    command += ["--restarts", str(restarts), "--seed", str(seed)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def uptime() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--compare-with", metavar="SRC", help="also fit with deweight from SRC")
    parser.add_argument("--fit-only", action="store_true", help="print one fit as JSON and exit")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    (X, y), X_test = load_data(args.rows, args.seed)
    if args.fit_only:
        print(json.dumps(timed_fit(X, y, X_test, args.restarts, args.seed)))
        return 0

    print(f"{args.rows:,} rows, {args.restarts} restarts, 1 thread; {uptime()}", flush=True)
    other = []
    if args.compare_with:
        other.append(fit_elsewhere(args.compare_with, args.rows, args.restarts, args.seed))
        print(f"fit ({args.compare_with}): {json.dumps(other[-1])}", flush=True)
    fit = timed_fit(X, y, X_test, args.restarts, args.seed)
    print(f"fit: {json.dumps(fit)}", flush=True)
    plain = plain_loop(X, y, X_test, fit["examples_processed"], fit["batch_size"], args.seed)
    print(f"plain loop: {json.dumps(plain)}", flush=True)
    if args.compare_with:
        other.append(fit_elsewhere(args.compare_with, args.rows, args.restarts, args.seed))
        print(f"fit ({args.compare_with}): {json.dumps(other[-1])}", flush=True)

    print("\n| run | wall s | CPU s | steps | KL (Eq. 21) |\n|---|---:|---:|---:|---:|")
    print(
        f"| fit | {fit['wall_seconds']:.1f} | {fit['cpu_seconds']:.1f} | {fit['steps']:,} "
        f"| {fit['kl']:.6f} |"
    )
    print(
        f"| plain loop | {plain['wall_seconds']:.1f} | {plain['cpu_seconds']:.1f} | "
        f"{plain['steps']:,} | {plain['kl']:.6f} |"
    )
    for run in other:
        print(
            f"| fit, {args.compare_with} | {run['wall_seconds']:.1f} | {run['cpu_seconds']:.1f} "
            f"| {run['steps']:,} | {run['kl']:.6f} |"
        )
    ratio = fit["wall_seconds"] / plain["wall_seconds"]
    print(
        f"\nratio fit / plain loop (wall): {ratio:.2f} (target <= 1.5: "
        f"{'met' if ratio <= 1.5 else 'NOT met'}); CPU: "
        f"{fit['cpu_seconds'] / plain['cpu_seconds']:.2f}"
    )
    if other:
        old_wall = np.mean([run["wall_seconds"] for run in other])
        old_cpu = np.mean([run["cpu_seconds"] for run in other])
        print(
            f"speed-up over {args.compare_with} (mean of its {len(other)} fits): wall "
            f"{old_wall / fit['wall_seconds']:.2f}x, CPU {old_cpu / fit['cpu_seconds']:.2f}x "
            f"(target >= 4 at no higher KL)"
        )
    print(uptime())
    return 0


if __name__ == "__main__":
    sys.exit(main())
