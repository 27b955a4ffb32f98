"""Benchmark: how fast the ``deweight`` command answers before it reads any data.

Times fresh processes (median of ``--repeat`` runs each), all in this one run so that they share
the machine's load:

* ``python -c pass``: the interpreter alone, the floor for any Python command;
* ``deweight --help``, ``deweight pcp --help``, and two malformed command lines (a missing
  argument, a negative ``--tol``): target at most 0.3 s each (issue 11, point 5);
* ``python -c "import numpy"`` and ``"import pandas"`` for scale;
* the first real command, ``deweight pcp`` on a small Parquet file, which imports NumPy, Arrow
  and numba and loads the compiled kernels from numba's on-disk cache (compiled once per
  machine; the first run on a new machine, or after the kernels' source changed, compiles them
  and is reported separately as "cold" when ``--cold`` is given).

Each command runs as ``python -m deweight ...`` with this checkout's ``src`` first on
``PYTHONPATH``, so the code measured is this checkout's. The installed ``deweight`` console script
runs the same import path (plus a few milliseconds for its launcher).

Usage::

    python benchmarks/bench_cli_startup.py
    python benchmarks/bench_cli_startup.py --repeat 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
TARGET_SECONDS = 0.3


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def timed(command: list[str], repeat: int, env: dict, expect: tuple[int, ...]) -> list[float]:
    """Wall seconds of ``repeat`` runs of ``command``; checks the exit status."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds.append(time.perf_counter() - started)
        if completed.returncode not in expect:
            raise SystemExit(
                f"{' '.join(command)} exited {completed.returncode}: {completed.stderr[-2000:]}"
            )
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default 5)")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="also time one pcp run with an empty numba cache (compiles the kernels)",
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SOURCE), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    python = sys.executable
    deweight = [python, "-m", "deweight"]

    with tempfile.TemporaryDirectory() as directory:
        catalogue = Path(directory) / "small.parquet"
        subprocess.run(
            [
                python,
                "-c",
                "import numpy as np, pyarrow as pa, pyarrow.parquet as pq\n"
                "rng = np.random.default_rng(0)\n"
                "p = rng.dirichlet([2, 2, 0.5], 100_000).astype(np.float32)\n"
                "pq.write_table(pa.table({'a': p[:, 0], 'b': p[:, 1], 'c': p[:, 2]}), "
                f"{str(catalogue)!r})",
            ],
            env=env,
            check=True,
        )
        pcp = [*deweight, "pcp", str(catalogue), "--prob-cols", "a,b,c", "--flat", "--no-progress"]
        cases = [
            ("python -c pass (interpreter alone)", [python, "-c", "pass"], (0,), False),
            ("deweight --help", [*deweight, "--help"], (0,), True),
            ("deweight pcp --help", [*deweight, "pcp", "--help"], (0,), True),
            ("deweight pcp (missing arguments)", [*deweight, "pcp"], (2,), True),
            (
                "deweight pcp ... --tol -1 (bad value)",
                [*deweight, "pcp", "x.parquet", "--prob-cols", "a,b", "--flat", "--tol", "-1"],
                (2,),
                True,
            ),
            ('python -c "import numpy"', [python, "-c", "import numpy"], (0,), False),
            ('python -c "import pandas"', [python, "-c", "import pandas"], (0,), False),
            ("deweight pcp on 100,000 rows (cached kernels)", pcp, (0,), False),
        ]
        # One untimed run first, so that the numba cache holds the kernels for the pcp case.
        subprocess.run(pcp, env=env, capture_output=True, check=True)

        print(f"load average at start: {load_average()}  (cpus: {os.cpu_count()})")
        results = []
        for label, command, expect, has_target in cases:
            seconds = timed(command, args.repeat, env, expect)
            results.append((label, statistics.median(seconds), min(seconds), has_target))
        cold = None
        if args.cold:
            cold_env = dict(env, NUMBA_CACHE_DIR=str(Path(directory) / "empty-numba-cache"))
            # The cache beside the source wins over NUMBA_CACHE_DIR when it is writable, so
            # the cold run uses a copy of the package in the temporary directory.
            copy = Path(directory) / "src"
            subprocess.run(["cp", "-r", str(SOURCE), str(copy)], check=True)
            for stale in copy.rglob("__pycache__"):
                subprocess.run(["rm", "-rf", str(stale)], check=True)
            cold_env["PYTHONPATH"] = str(copy)
            cold = timed(pcp, 1, cold_env, (0,))[0]
        print(f"load average at end: {load_average()}")

    floor = results[0][1]
    print()
    print("| command | median s | fastest s | minus interpreter s | target <= 0.3 s |")
    print("|---|---|---|---|---|")
    for label, median, fastest, has_target in results:
        verdict = ("met" if median <= TARGET_SECONDS else "NOT met") if has_target else ""
        print(f"| {label} | {median:.3f} | {fastest:.3f} | {median - floor:+.3f} | {verdict} |")
    if cold is not None:
        print(f"| deweight pcp, empty numba cache (compiles) | {cold:.3f} | | | |")


if __name__ == "__main__":
    main()
