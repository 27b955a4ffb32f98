"""Benchmark: this checkout's hot loops against another checkout's, bit for bit and in time.

For refactors that must change neither a result bit nor the speed of

(a) the numba kernels of one likelihood pass (``deweight/priors/_kernels.py``: the generic
    kernel and the one unrolled for three classes), and
(b) :func:`deweight.model.augment_quadratic` (``deweight/model/features.py``), NumPy and torch,

this script loads the baseline's copy of each file by path (``--baseline-src``, e.g. a clone of
main's ``src``) beside this checkout's, in the same process. It first checks that both give the
same bytes on random inputs, including rows whose ``s_m`` is zero, NaN, tiny or huge, with and
without validation (any difference makes it exit with status 1), then times them alternately,
``--repeat`` times each, and prints the median seconds and the ratio this / baseline (below 1
means this checkout is faster).

Both kernel files are copied (with their timestamps) into one directory, ``--kernel-dir`` or a
temporary one, and imported from there, so that both are compiled alike and numba's on-disk
cache is written there, not into either tree. With a fresh directory both are compiled in the
run; run twice with the same ``--kernel-dir`` to time both as loaded from numba's cache, which
is what the library runs after its first use on a machine (the two can differ in speed:
see benchmarks/README.md).

Usage::

    python benchmarks/bench_hot_loops.py --baseline-src /work/main/src
    python benchmarks/bench_hot_loops.py --baseline-src /work/main/src --only kernels --repeat 15
    python benchmarks/bench_hot_loops.py --baseline-src /work/main/src --kernel-dir /tmp/k  # twice
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deweight.model import features as new_features
from deweight.priors import _kernels as new_kernels


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def load_module(path: Path, name: str):
    """Import the Python file ``path`` as a module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def simplex_rows(rng, n_rows: int, n_classes: int, dtype) -> np.ndarray:
    """Row-major Dirichlet(1, ..., 1) probability vectors of ``dtype``."""
    return rng.dirichlet(np.ones(n_classes), size=n_rows).astype(dtype)


def same_bytes(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def kernel_cases(rng):
    """(label, probs, ratio) for the bit-identity check, ordinary and extreme."""
    for n_classes in (2, 3, 5):
        for dtype in (np.float32, np.float64):
            probs = simplex_rows(rng, 50_000, n_classes, dtype)
            probs[7] = 0.0  # not a probability vector: validation must flag it
            probs[9, 0] = np.nan
            ratio = rng.uniform(0.2, 3.0, n_classes)
            yield f"{n_classes} classes {np.dtype(dtype).name}", probs, ratio
            one_hot = np.zeros((40_000, n_classes), dtype)
            one_hot[np.arange(40_000), rng.integers(0, n_classes, 40_000)] = 1.0
            zero_first = ratio.copy()
            zero_first[0] = 0.0  # rows all on class 0: s_m = 0, log-likelihood -inf
            yield f"{n_classes} classes {np.dtype(dtype).name}, s=0 rows", one_hot, zero_first
            for scale in (1e-150, 1e-90, 1e90, 1e150, 1e250):
                label = f"{n_classes} classes {np.dtype(dtype).name}, ratio x {scale:g}"
                yield label, probs, ratio * scale
            yield f"{n_classes} classes {np.dtype(dtype).name}, NaN ratio", probs, ratio * np.nan


def check_kernels(new, old, rng) -> int:
    """Number of (case, kernel, validate) where the two checkouts' outputs differ."""
    failures = 0
    checked = 0
    for label, probs, ratio in kernel_cases(rng):
        kernels = [(new[0], old[0])]
        if probs.shape[1] == 3:
            kernels.append((new[1], old[1]))
        for new_kernel, old_kernel in kernels:
            for validate in (True, False):
                for block_rows in (new_kernels._KERNEL_BLOCK_ROWS, 1000):
                    args = (probs, ratio, validate, 1e-6, block_rows)
                    new_out, old_out = new_kernel(*args), old_kernel(*args)
                    checked += 1
                    if not all(same_bytes(a, b) for a, b in zip(new_out, old_out, strict=True)):
                        failures += 1
                        print(f"  DIFFERENT: {label}, validate={validate}, block={block_rows}")
    print(f"kernels: {checked - failures} of {checked} outputs bit-identical")
    return failures


def check_augment(old_augment, rng) -> int:
    failures = 0
    checked = 0
    for n_features in (1, 2, 4, 5):
        X = rng.uniform(-1, 1, (10_000, n_features))
        for convention in ("interpolation", "mathematician", "none"):
            inputs = (X, X.astype(np.float32), torch.from_numpy(X.astype(np.float32)))
            for data in (*inputs, torch.from_numpy(X), X[::2], X.astype(np.int64)):
                new_out = new_features.augment_quadratic(data, convention)
                old_out = old_augment(data, convention)
                checked += 1
                same = type(new_out) is type(old_out) and same_bytes(new_out, old_out)
                if not same:
                    failures += 1
                    kind = f"{type(data).__name__} {data.dtype}"
                    print(f"  DIFFERENT: {n_features} features, {convention}, {kind}")
    print(f"augment_quadratic: {checked - failures} of {checked} outputs bit-identical")
    return failures


def time_pair(label: str, new_call, old_call, repeat: int) -> None:
    """Time the two calls alternately; print median seconds and the ratio new / old."""
    new_call(), old_call()  # warm up (compilation, caches, page faults)
    times = {"new": [], "old": []}
    for index in range(repeat):
        order = (("new", new_call), ("old", old_call))
        for name, call in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    new_median, old_median = statistics.median(times["new"]), statistics.median(times["old"])
    print(
        f"{label:<46} this {new_median * 1e3:8.1f} ms  baseline {old_median * 1e3:8.1f} ms  "
        f"ratio {new_median / old_median:.3f}  (min ratio {min(times['new']) / min(times['old']):.3f})"
    )


def bench_kernels(new, old, rng, args) -> None:
    for n_rows, n_classes in ((args.rows_three, 3), (args.rows_five, 5)):
        probs = simplex_rows(rng, n_rows, n_classes, np.float32)
        ratio = rng.uniform(0.5, 2.0, n_classes)
        index = 1 if n_classes == 3 else 0
        for validate in (True, False):
            call_args = (probs, ratio, validate, 1e-6, new_kernels._KERNEL_BLOCK_ROWS)
            time_pair(
                f"pass kernel {n_rows:.0e} x {n_classes} float32 validate={validate}",
                lambda a=call_args, k=new[index]: k(*a),
                lambda a=call_args, k=old[index]: k(*a),
                args.repeat,
            )


def bench_augment(old_augment, rng, args) -> None:
    X = rng.uniform(-1, 1, (args.rows_augment, 5)).astype(np.float32)
    for convention in ("interpolation", "mathematician"):
        for data in (X, torch.from_numpy(X)):
            backend = "torch" if isinstance(data, torch.Tensor) else "numpy"
            time_pair(
                f"augment {args.rows_augment:.0e} x 5 float32 {backend} {convention}",
                lambda d=data, c=convention: new_features.augment_quadratic(d, c),
                lambda d=data, c=convention: old_augment(d, c),
                args.repeat,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, required=True, help="the baseline's src/")
    parser.add_argument("--only", choices=("kernels", "augment"), help="run one of the two")
    parser.add_argument("--rows-three", type=int, default=10_000_000)
    parser.add_argument("--rows-five", type=int, default=1_000_000)
    parser.add_argument("--rows-augment", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9, help="timed calls of each (default 9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernel-dir", type=Path, help="where the kernel files are compiled")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"load average before: {load_average()}; torch threads: {torch.get_num_threads()}")
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        if args.only != "augment":
            kernel_dir = args.kernel_dir or Path(scratch)
            kernel_dir.mkdir(parents=True, exist_ok=True)
            sources = {
                "this_kernels": Path(new_kernels.__file__),
                "baseline_kernels": args.baseline_src / "deweight/priors/_kernels.py",
            }
            kernels = {}
            for name, source in sources.items():
                shutil.copy2(source, kernel_dir / f"{name}.py")  # keeps the timestamp
                kernels[name] = load_module(kernel_dir / f"{name}.py", name)._compiled_kernels()
            new, old = kernels["this_kernels"], kernels["baseline_kernels"]
            import numba

            print(f"numba threads: {numba.get_num_threads()}; kernel files copied to {kernel_dir}")
            failures += check_kernels(new, old, rng)
            bench_kernels(new, old, rng, args)
        if args.only != "kernels":
            baseline_features = args.baseline_src / "deweight/model/features.py"
            old_augment = load_module(baseline_features, "baseline_features").augment_quadratic
            failures += check_augment(old_augment, rng)
            bench_augment(old_augment, rng, args)
    print(f"load average after: {load_average()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
