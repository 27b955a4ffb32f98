"""``deweight pcp``: the prediction-consistent prior of a catalogue, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from deweight import io
from deweight._formats import DEFAULT_CHUNK_ROWS
from deweight._progress import Progress
from deweight.cli.inputs import checked_prior, flat_prior, open_catalog
from deweight.cli.messages import (
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    CommandError,
    naming_the_file,
)
from deweight.cli.tables import aligned, finite_or_none, percent


class ProgressCatalog:
    """Wraps a :class:`deweight.io.Catalog` so that every pass is reported as ``pass N``.

    The statistics code sees an ordinary chunk source (``iter_chunks()``); each call starts a
    new pass.
    """

    def __init__(self, catalog: io.Catalog, progress: Progress):
        self._catalog = catalog
        self._progress = progress
        self.passes = 0

    def __getattr__(self, name):
        return getattr(self._catalog, name)

    def iter_chunks(self) -> Iterator[np.ndarray]:
        self.passes += 1
        self._progress.start(f"pass {self.passes}", self._catalog.n_rows)
        for chunk in self._catalog.iter_chunks():
            yield chunk
            self._progress.update(chunk.shape[0])
        self._progress.finish()


def prior_from_counts(counts: Sequence[float], n_classes: int) -> np.ndarray:
    """Model prior from training-set class counts, ``n_i / N`` (Eq. 3 of Lake & Tsai 2022)."""
    array = np.asarray(counts, dtype=float)
    if array.size != n_classes:
        raise CommandError(
            f"--train-counts has {array.size} entries but --prob-cols names {n_classes} classes"
        )
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise CommandError(f"--train-counts must be positive numbers, got {list(counts)}")
    return array / array.sum()


def model_prior(args, n_classes: int) -> np.ndarray:
    """The model prior of ``--flat``, ``--train-counts`` or ``--model-prior``."""
    if args.flat:
        return flat_prior(n_classes)
    if args.train_counts is not None:
        return prior_from_counts(args.train_counts, n_classes)
    return checked_prior(args.model_prior, n_classes, "--model-prior")


def solve_pcp(args, catalog: io.Catalog, prior: np.ndarray):
    """Run the prediction-consistent-prior solver over the catalogue, streaming."""
    from deweight.priors import prediction_consistent_prior

    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    try:
        source = ProgressCatalog(catalog, progress)
        # The solver validates the rows on its first pass, naming the row within the file.
        options = {"method": args.method, "tol": args.tol, "atol": args.atol, "progress": False}
        if args.max_iter is not None:
            options["max_iter"] = args.max_iter
        with naming_the_file(catalog.path, catalog.columns):
            return prediction_consistent_prior(source, prior, **options)
    finally:
        progress.close()


def pcp_report(result, classes: Sequence[str], catalog_path: Path) -> str:
    """The PCP result as a readable table."""
    header = ("class", "model prior", "mean prob.", "PCP", "±1σ")
    rows = [
        (
            name,
            percent(result.model_prior[index]),
            percent(result.mean_probability[index]),
            percent(result.prior[index]),
            percent(result.stderr[index]),
        )
        for index, name in enumerate(classes)
    ]
    lines = [
        f"Prediction-consistent prior (Eq. 14, Lake & Tsai 2022) of {catalog_path}",
        f"rows: {result.n_rows:,}   method: {result.method}   iterations: {result.iterations}   "
        f"passes: {result.passes}   "
        f"converged: {'yes' if result.converged else 'NO'}   "
        f"log-likelihood: {result.log_likelihood:.6g}   time: {result.seconds:.2f} s",
        "",
        *aligned([header, *rows]),
    ]
    return "\n".join(lines)


def pcp_json(result, classes: Sequence[str], catalog_path: Path) -> dict:
    """The PCP result as a JSON object."""

    def listed(values):
        # JSON has no NaN or infinity: an undefined standard error (a class no row supports,
        # or a direction the predictions do not identify) is written as null.
        return [finite_or_none(value) for value in np.asarray(values, dtype=float).ravel()]

    return {
        "catalog": str(catalog_path),
        "classes": list(classes),
        "n_rows": int(result.n_rows),
        "method": result.method,
        "iterations": int(result.iterations),
        "passes": int(result.passes),
        "converged": bool(result.converged),
        "log_likelihood": float(result.log_likelihood),
        "seconds": float(result.seconds),
        "model_prior": listed(result.model_prior),
        "mean_probability": listed(result.mean_probability),
        "prior": listed(result.prior),
        "stderr": listed(result.stderr),
        "covariance": [listed(row) for row in np.asarray(result.covariance)],
    }


def run(args) -> int:
    """``deweight pcp``."""
    from deweight.cli import partitioned

    classes = args.prob_cols
    prior = model_prior(args, len(classes))
    if partitioned.wanted(args):
        result, path = partitioned.pcp(args, prior)
        return _print_result(args, result, classes, path)
    catalog = open_catalog(
        args,
        classes,
        chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS,
        validate=False,  # done by the solver during its first pass, at no extra cost
        reuse_buffer=True,
    )
    result = solve_pcp(args, catalog, prior)
    return _print_result(args, result, classes, catalog.path)


def _print_result(args, result, classes: Sequence[str], path: Path) -> int:
    """Print the result as a table or JSON; the exit status."""
    if args.json:
        print(json.dumps(pcp_json(result, classes, path), indent=2))
    else:
        print(pcp_report(result, classes, path))
    if not result.converged:
        # The solver's ConvergenceWarning, printed after the table, says by how much.
        return EXIT_NOT_CONVERGED
    return EXIT_OK
