"""The ``deweight`` command: prediction-consistent priors, prior replacement and predicted metrics
for catalogues on disk, streamed so that a catalogue may be larger than memory.

Subcommands (run ``deweight SUBCOMMAND --help`` for every option):

``deweight pcp CATALOG --prob-cols a,b,c (--model-prior p,q,r | --flat | --train-counts n,m,k)``
    The prediction-consistent prior (Eq. 14 of Lake & Tsai 2022) of the classifier
    probabilities in the named columns, with its standard error, beside the model prior and the
    mean probability (Eq. 13).
``deweight correct CATALOG --prob-cols ... --old-prior ... --new-prior ... -o OUT``
    The catalogue with the probabilities moved from the old prior to the new one (Eq. 12) in
    new columns named after the old ones plus a suffix. ``--new-prior pcp`` computes the
    prediction-consistent prior first, with the old prior as the model prior.
``deweight calibrate LABELLED --prob-cols ... --true-col COL [--apply-to CATALOG] -o OUT``
    Calibrated probabilities (bias-corrected temperature scaling by default), fitted on a
    labelled file, in new columns; prints the temperature, biases and the NLL before and after.
``deweight metrics CATALOG --prob-cols ... --assigned-col COL [--true-col COL]``
    Completeness, reliability and F1 predicted from the probabilities (Eqs. 9-11) with their
    1-sigma uncertainties; with the true classes also the observed metrics and the overshoot.

Exit status: 0 on success, 1 on an error (reported as one ``deweight: error: ...`` line on
standard error; ``--debug`` shows the traceback instead), 2 on a malformed command line, 3 when
the prior solver did not converge (its last iterate is still printed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deweight._formats import DEFAULT_CHUNK_ROWS, FORMATS
from deweight._progress import Progress

# NumPy and deweight.io (Arrow) are imported by main() once the command line has parsed, so
# that "deweight --help" and a malformed command line answer at once (tests/test_cli.py checks
# what --help imports); each subcommand then imports only the statistics it uses.
if TYPE_CHECKING:
    import numpy as np

    from deweight import io

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_CONVERGED = 3

#: Rows per block when writing a catalogue with every column (``correct``): a wide catalogue of
#: 2**20 rows is already a few hundred megabytes.
CORRECT_CHUNK_ROWS = 1 << 20


class CommandError(Exception):
    """An error to report to the user as one line, without a traceback."""


# --------------------------------------------------------------------------------------------
# Parsing of option values.
# --------------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    """Split ``"a,b,c"`` into names, rejecting empty ones."""
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def _class_columns(text: str) -> list[str]:
    """``--prob-cols``: at least two distinct column names, one per class."""
    names = _names(text)
    if len(names) < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} names one class column; give the probability columns of at least two "
            "classes (over one class every prior is 1, so there is nothing to estimate or "
            "correct)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"column(s) {', '.join(repeated)} named twice in {text!r}")
    return names


def _numbers(text: str) -> list[float]:
    """Split ``"0.2,0.3,0.5"`` into floats."""
    try:
        values = [float(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    return values


def _prior_or_keyword(keywords: Sequence[str]):
    """Argument type accepting a comma-separated prior or one of ``keywords``."""

    def parse(text: str):
        if text.strip().lower() in keywords:
            return text.strip().lower()
        try:
            return _numbers(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated probabilities or one of {', '.join(keywords)}, "
                f"got {text!r}"
            ) from None

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _checked_prior(values, n_classes: int, option: str, *, allow_zero: bool = False) -> np.ndarray:
    """Validate a prior given on the command line; errors name the option."""
    from deweight._validation import check_prior

    return check_prior(
        np.asarray(values, dtype=float), n_classes, name=option, allow_zero=allow_zero
    )


def _prior_from_counts(counts: Sequence[float], n_classes: int) -> np.ndarray:
    """Model prior from training-set class counts, ``n_i / N`` (Eq. 3 of Lake & Tsai 2022)."""
    array = np.asarray(counts, dtype=float)
    if array.size != n_classes:
        raise CommandError(
            f"--train-counts has {array.size} entries but --prob-cols names {n_classes} classes"
        )
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise CommandError(f"--train-counts must be positive numbers, got {list(counts)}")
    return array / array.sum()


# --------------------------------------------------------------------------------------------
# Progress display.
# --------------------------------------------------------------------------------------------


class _ProgressCatalog:
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


# --------------------------------------------------------------------------------------------
# Subcommands.
# --------------------------------------------------------------------------------------------


def _open(
    args,
    columns: Sequence[str],
    *,
    chunk_rows: int,
    validate: bool = True,
    reuse_buffer: bool = False,
):
    return io.open_catalog(
        args.catalog,
        columns,
        chunk_rows=chunk_rows,
        file_format=args.format,
        validate=validate,
        atol=args.atol,
        reuse_buffer=reuse_buffer,
    )


def _model_prior(args, n_classes: int) -> np.ndarray:
    if args.flat:
        return np.full(n_classes, 1.0 / n_classes)
    if args.train_counts is not None:
        return _prior_from_counts(args.train_counts, n_classes)
    return _checked_prior(args.model_prior, n_classes, "--model-prior")


def _solve_pcp(args, catalog: io.Catalog, model_prior: np.ndarray):
    """Run the prediction-consistent-prior solver over the catalogue, streaming."""
    from deweight.priors import prediction_consistent_prior

    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    try:
        source = _ProgressCatalog(catalog, progress)
        # The solver validates the rows on its first pass, naming the row within the file.
        options = {"method": args.method, "tol": args.tol, "atol": args.atol, "progress": False}
        if args.max_iter is not None:
            options["max_iter"] = args.max_iter
        try:
            return prediction_consistent_prior(source, model_prior, **options)
        except ValueError as error:
            located = _located(str(error), catalog.path, catalog.columns)
            if located == str(error):
                raise
            raise CommandError(located) from error
    finally:
        progress.close()


#: How rows are counted in messages, said once per message.
ROWS_COUNTED = "rows count from 0, the first data row being row 0"

_ROW_MESSAGE = re.compile(
    r"^(?:probs|\S.* columns \S+|(?P<column>column '[^']*')) row (?P<row>\d+) "
)


def _located(message: str, path: Path, columns: Sequence[str]) -> str:
    """Reword a library error about the probability table to name the file and columns.

    The statistics code names its input ``probs`` and counts rows from 0; on the command line
    the input is a file and its columns, so say which, and how rows are counted.
    """
    where = f"{path} (columns {', '.join(columns)})"
    if message.startswith("probs has no rows"):
        return f"{where} has no rows; there is nothing to compute from"
    match = _ROW_MESSAGE.match(message)
    if match is None:
        return message
    named = match["column"] or f"columns {', '.join(columns)}"
    return f"{path}, {named}: row {match['row']} ({ROWS_COUNTED}) {message[match.end() :]}"


def _percent(value: float) -> str:
    return f"{100.0 * value:.4f}%"


def _pcp_report(result, classes: Sequence[str], catalog_path: Path) -> str:
    """The PCP result as a readable table."""
    header = ("class", "model prior", "mean prob.", "PCP", "±1σ")
    rows = [
        (
            name,
            _percent(result.model_prior[index]),
            _percent(result.mean_probability[index]),
            _percent(result.prior[index]),
            _percent(result.stderr[index]),
        )
        for index, name in enumerate(classes)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"Prediction-consistent prior (Eq. 14, Lake & Tsai 2022) of {catalog_path}",
        f"rows: {result.n_rows:,}   method: {result.method}   iterations: {result.iterations}   "
        f"passes: {result.passes}   "
        f"converged: {'yes' if result.converged else 'NO'}   "
        f"log-likelihood: {result.log_likelihood:.6g}   time: {result.seconds:.2f} s",
        "",
        "  ".join(
            title.ljust(width) if i == 0 else title.rjust(width)
            for i, (title, width) in enumerate(zip(header, widths, strict=True))
        ),
    ]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _pcp_json(result, classes: Sequence[str], catalog_path: Path) -> dict:
    def listed(values):
        # JSON has no NaN or infinity: an undefined standard error (a class no row supports,
        # or a direction the predictions do not identify) is written as null.
        return [_finite_or_none(value) for value in np.asarray(values, dtype=float).ravel()]

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


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _run_pcp(args) -> int:
    classes = args.prob_cols
    model_prior = _model_prior(args, len(classes))
    catalog = _open(
        args,
        classes,
        chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS,
        validate=False,  # done by the solver during its first pass, at no extra cost
        reuse_buffer=True,
    )
    result = _solve_pcp(args, catalog, model_prior)
    if args.json:
        print(json.dumps(_pcp_json(result, classes, catalog.path), indent=2))
    else:
        print(_pcp_report(result, classes, catalog.path))
    if not result.converged:
        # The solver's ConvergenceWarning, printed after the table, says by how much.
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _run_correct(args) -> int:
    from deweight.priors import replace_prior

    classes = args.prob_cols
    n_classes = len(classes)
    if args.old_prior == "flat":
        old_prior = np.full(n_classes, 1.0 / n_classes)
    else:
        old_prior = _checked_prior(args.old_prior, n_classes, "--old-prior")
    output = Path(args.output)
    _check_output(output)
    catalog = _open(args, classes, chunk_rows=args.chunk_rows or CORRECT_CHUNK_ROWS)
    if _has_no_rows(args, catalog):
        raise CommandError(
            f"{catalog.path} has no rows; not writing {output} (an empty catalogue has nothing "
            "to correct)"
        )
    new_names = [name + args.suffix for name in classes]
    # Checked before any pass over the data, so a bad suffix fails at once.
    clashing = [name for name in new_names if name in catalog.columns_available]
    if clashing:
        raise CommandError(
            f"{catalog.path} already has column(s) {', '.join(clashing)}; choose another --suffix"
        )
    status = EXIT_OK
    if args.new_prior == "pcp":
        result = _solve_pcp(args, catalog, old_prior)
        new_prior = np.asarray(result.prior, dtype=float)
        summary = ", ".join(
            f"{name} {_percent(value)} ± {_percent(error)}"
            for name, value, error in zip(classes, result.prior, result.stderr, strict=True)
        )
        print(
            f"prediction-consistent prior after {result.iterations} iterations"
            f"{'' if result.converged else ' (NOT converged)'}: {summary}"
        )
        if not result.converged:
            _report("warning", "the solver did not converge; not writing a corrected catalogue")
            return EXIT_NOT_CONVERGED
    elif args.new_prior == "flat":
        new_prior = np.full(n_classes, 1.0 / n_classes)
    else:
        new_prior = _checked_prior(args.new_prior, n_classes, "--new-prior", allow_zero=True)

    rows_done = 0

    def corrected(values: np.ndarray) -> np.ndarray:
        # Blocks arrive in order; replace_prior counts rows within its block, so shift its
        # row numbers to the file's.
        nonlocal rows_done
        try:
            result = replace_prior(values, old_prior, new_prior)
        except ValueError as error:
            shifted = re.sub(
                r"^probs row (\d+)",
                lambda match: f"probs row {rows_done + int(match[1])}",
                str(error),
            )
            raise ValueError(shifted) from error
        rows_done += values.shape[0]
        return result

    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    progress.start(f"writing {output.name}", catalog.n_rows)
    try:
        n_rows = io.write_catalog_with_columns(
            catalog,
            output,
            new_names,
            corrected,
            file_format=args.output_format,
            on_rows=progress.update,
        )
        progress.finish()
    except OSError as error:
        # The writer works on a hidden temporary file beside the output; name the output.
        hidden = error.filename and Path(error.filename).name.startswith(f".{output.name}.")
        if not hidden:
            raise
        raise CommandError(f"cannot write {output}: {error.strerror or error}") from error
    except ValueError as error:
        located = _located(str(error), catalog.path, classes)
        if located == str(error):
            raise
        raise CommandError(located) from error
    finally:
        progress.close()
    print(f"wrote {n_rows:,} rows to {output} with new column(s) {', '.join(new_names)}")
    return status


def _check_output(output: Path) -> None:
    """Refuse an output path that cannot be written, before any work, naming what is wrong."""
    directory = output.parent
    if output.is_dir():
        raise CommandError(f"cannot write {output}: it is a directory; give a file name")
    if not directory.exists():
        raise CommandError(
            f"cannot write {output}: directory {directory} does not exist (create it first)"
        )
    if not directory.is_dir():
        raise CommandError(f"cannot write {output}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write {output}: no permission to create files in {directory}")


def _has_no_rows(args, catalog) -> bool:
    """Whether the catalogue has no rows, reading at most one row of a CSV file to find out."""
    if catalog.n_rows is not None:
        return catalog.n_rows == 0
    peek = io.open_catalog(
        catalog.path, catalog.columns, chunk_rows=1, file_format=args.format, validate=False
    )
    return all(chunk.shape[0] == 0 for chunk in peek.iter_chunks())


def _plain(value):
    """A NumPy scalar as the Python value it holds, so that messages show ``'x'``, not
    ``np.str_('x')``."""
    return value.item() if hasattr(value, "item") else value


def _run_calibrate(args) -> int:
    """Fit a :class:`deweight.Calibrator` on a labelled file and write calibrated columns."""
    from deweight.calibration import Calibrator

    classes = args.prob_cols
    n_classes = len(classes)
    chunk_rows = args.chunk_rows or CORRECT_CHUNK_ROWS
    labelled = _open(args, classes, chunk_rows=chunk_rows)
    labelled.check_columns([args.true_col])
    target = labelled
    if args.apply_to is not None:
        target = io.open_catalog(
            args.apply_to, classes, chunk_rows=chunk_rows, validate=True, atol=args.atol
        )
    output = Path(args.output)
    _check_output(output)
    # An empty labelled file is reported below, where the labelled rows are read.
    if args.apply_to is not None and _has_no_rows(args, target):
        raise CommandError(
            f"{target.path} has no rows; not writing {output} (an empty catalogue has nothing "
            "to calibrate)"
        )
    new_names = [name + args.suffix for name in classes]
    # Checked before any pass over the data, so a bad suffix fails at once.
    clashing = [name for name in new_names if name in target.columns_available]
    if clashing:
        raise CommandError(
            f"{target.path} already has column(s) {', '.join(clashing)}; choose another --suffix"
        )
    # The labelled rows (a development set) are held in memory: the fit needs every row at
    # each of its iterations. Only the catalogue the calibration is applied to is streamed.
    blocks, labels = [], []
    for chunk in labelled.iter_batches([args.true_col]):
        blocks.append(np.array(chunk.values, dtype=np.float64))
        labels.append(
            _class_indices(
                chunk.extra[args.true_col], classes, column=args.true_col, offset=chunk.offset
            )
        )
    if not blocks:
        raise CommandError(f"{labelled.path} has no rows to calibrate on")
    probs, truth = np.concatenate(blocks), np.concatenate(labels)
    seen = np.bincount(truth, minlength=n_classes)
    if np.any(seen == 0):
        absent = [classes[index] for index in np.flatnonzero(seen == 0)]
        raise CommandError(
            f"{labelled.path}: column {args.true_col!r} has no row of class(es) "
            f"{', '.join(absent)}; every class needs a labelled row to be calibrated"
        )
    calibrator = Calibrator(args.method).fit(probs, truth, atol=args.atol)
    print(
        f"calibration ({args.method}) on {truth.size:,} labelled rows of {labelled.path}: "
        f"NLL {calibrator.nll_before_:.6g} -> {calibrator.nll_after_:.6g} per row"
    )
    print(f"temperature: {calibrator.temperature_:.6g}")
    if args.method in ("bcts", "vs"):
        print(
            "biases: "
            + ", ".join(
                f"{name} {value:+.6g}"
                for name, value in zip(classes, calibrator.biases_, strict=True)
            )
        )
    if args.method == "vs":
        print(
            "scales: "
            + ", ".join(
                f"{name} {value:.6g}"
                for name, value in zip(classes, calibrator.scales_, strict=True)
            )
        )
    if calibrator.prior_ is not None:
        print(
            "model prior of the calibrated columns (the labelled balance; use it as --old-prior "
            "of correct and --model-prior of pcp): "
            + ",".join(f"{value:.6g}" for value in calibrator.prior_)
        )

    def calibrated(values: np.ndarray) -> np.ndarray:
        return calibrator.transform(values, atol=args.atol)

    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    progress.start(f"writing {output.name}", target.n_rows)
    try:
        n_rows = io.write_catalog_with_columns(
            target,
            output,
            new_names,
            calibrated,
            file_format=args.output_format,
            on_rows=progress.update,
        )
        progress.finish()
    finally:
        progress.close()
    print(f"wrote {n_rows:,} rows to {output} with new column(s) {', '.join(new_names)}")
    return EXIT_OK


def _class_indices(
    values: np.ndarray, classes: Sequence[str], *, column: str, offset: int
) -> np.ndarray:
    """Turn a column of class indices or class names into int64 indices.

    Names are those of ``--prob-cols`` (the column of class ``i`` is its name); integer
    columns (or whole-number floats) are taken as indices ``0..C-1``.
    """
    n_classes = len(classes)
    described = f"class indices 0..{n_classes - 1} or names {', '.join(classes)}"

    def fail(position: int, reason: str) -> CommandError:
        return CommandError(
            f"column {column!r} row {offset + position} {reason}; expected {described}"
        )

    if values.dtype.kind in "OUS":
        import pandas as pd

        lookup = {name: index for index, name in enumerate(classes)}
        series = pd.Series(values, copy=False)
        as_text = series.map(lambda value: value if isinstance(value, str) else None)
        mapped = as_text.map(lookup)
        unknown = np.flatnonzero(mapped.isna().to_numpy())
        if unknown.size == 0:
            return mapped.to_numpy(dtype=np.int64)
        # A text column may still hold numbers (e.g. "0", 1 read as object); try those.
        numeric = pd.to_numeric(series, errors="coerce")
        mapped = mapped.fillna(numeric)
        unknown = np.flatnonzero(mapped.isna().to_numpy())
        if unknown.size:
            position = int(unknown[0])
            raise fail(position, f"holds {_plain(values[position])!r}")
        values = mapped.to_numpy(dtype=np.float64)
    if values.dtype.kind == "b" or values.dtype.kind not in "iuf":
        raise CommandError(f"column {column!r} has dtype {values.dtype}; expected {described}")
    if values.dtype.kind == "f":
        not_whole = np.flatnonzero(~(np.isfinite(values) & (values == np.round(values))))
        if not_whole.size:
            position = int(not_whole[0])
            raise fail(position, f"holds {_plain(values[position])!r}")
    outside = np.flatnonzero((values < 0) | (values >= n_classes))
    if outside.size:
        position = int(outside[0])
        raise fail(position, f"holds {_plain(values[position])!r}")
    return values.astype(np.int64, copy=False)


def _run_metrics(args) -> int:
    classes = args.prob_cols
    n_classes = len(classes)
    catalog = _open(args, classes, chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS)
    label_columns = [args.assigned_col] + ([args.true_col] if args.true_col else [])
    catalog.check_columns(label_columns)
    from deweight import metrics

    counts = None
    n_rows = 0
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    progress.start("reading", catalog.n_rows)
    try:
        for chunk in catalog.iter_batches(label_columns):
            n_rows += chunk.n_rows
            assigned = _class_indices(
                chunk.extra[args.assigned_col],
                classes,
                column=args.assigned_col,
                offset=chunk.offset,
            )
            chunk_counts = metrics.expected_counts(chunk.values, assigned)
            # The counts are sums over rows, so those of successive blocks add up.
            counts = chunk_counts if counts is None else counts + chunk_counts
            if args.true_col:
                true = _class_indices(
                    chunk.extra[args.true_col],
                    classes,
                    column=args.true_col,
                    offset=chunk.offset,
                )
                # Row = true class, column = assigned class.
                confusion += np.bincount(
                    true * n_classes + assigned, minlength=n_classes * n_classes
                ).reshape(n_classes, n_classes)
            progress.update(chunk.n_rows)
        progress.finish()
    except (ValueError, CommandError) as error:
        located = _located(str(error), catalog.path, classes)
        if located == str(error):
            raise
        raise CommandError(located) from error
    finally:
        progress.close()
    if counts is None or n_rows == 0:
        raise CommandError(
            f"{catalog.path} has no rows; there are no metrics to compute (columns "
            f"{', '.join(classes)})"
        )
    truth = confusion if args.true_col else None
    table = _metrics_table(metrics, counts, truth, classes)
    _warn_undefined_metrics(table, counts, truth, classes, args)
    if args.json:
        print(json.dumps(_metrics_json(table, catalog.path, args), indent=2))
    else:
        print(_metrics_report(table, catalog.path, args))
    return EXIT_OK


def _metrics_table(metrics, counts, confusion, classes):
    """Long table of predicted (and observed, overshoot) metrics per class and metric.

    Computed by :mod:`deweight.metrics` from the streamed sums: the expected counts (Eq. 9)
    and, with true classes, the confusion matrix.
    """
    import pandas as pd

    predicted = metrics.metrics_from_counts(counts)
    if confusion is None:
        table = pd.DataFrame.from_records(
            [
                {
                    "class": index,
                    "metric": metric,
                    "predicted": float(predicted[metric].iloc[index]),
                    "sigma": float(np.sqrt(predicted[f"{metric}_var"].iloc[index])),
                }
                for index in range(len(classes))
                for metric in metrics.METRICS
            ]
        )
    else:
        observed = metrics.observed_metrics_from_confusion(confusion)
        table = metrics.overshoot_from_metrics(observed, predicted)
        table = table[["class", "metric", "predicted", "sigma", "observed", "overshoot", "z"]]
    table["class"] = [classes[index] for index in table["class"]]
    return table


def _warn_undefined_metrics(table, counts, confusion, classes, args) -> None:
    """Say, naming the class column, why a metric is undefined (printed as nan)."""
    from deweight.errors import DeweightWarning

    for index, name in enumerate(classes):
        reasons = []
        if counts.etp[index] + counts.efn[index] <= 0:
            reasons.append("its probability is 0 in every row (predicted completeness and F1)")
        if counts.n_positive[index] <= 0:
            reasons.append(
                f"no row is assigned to it in column {args.assigned_col!r} (reliability)"
            )
        if confusion is not None and confusion[index].sum() == 0:
            reasons.append(
                f"no row has it as the true class in column {args.true_col!r} (observed "
                "completeness)"
            )
        undefined = table.loc[table["class"] == name].drop(columns=["class", "metric"])
        if reasons and undefined.isna().to_numpy().any():
            warnings.warn(
                f"class {name!r}: {'; '.join(reasons)}, so those metrics are undefined (nan)",
                DeweightWarning,
                stacklevel=2,
            )


def _metrics_report(table, catalog_path, args) -> str:
    with_truth = "observed" in table.columns
    lines = [
        f"Predicted metrics (Eqs. 9-11, Lake & Tsai 2022) of {catalog_path}, "
        f"assigned classes from {args.assigned_col!r}"
        + (f", true classes from {args.true_col!r}" if with_truth else ""),
        "",
    ]
    header = ["class", "metric", "predicted", "±1σ"]
    if with_truth:
        header += ["observed", "overshoot", "z"]
    rows = []
    for record in table.itertuples(index=False):
        row = [record[0], record[1], f"{record.predicted:.5f}", f"{record.sigma:.5f}"]
        if with_truth:
            row += [f"{record.observed:.5f}", f"{record.overshoot:+.5f}", f"{record.z:+.2f}"]
        rows.append(row)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(
                str(cell).ljust(width) if i < 2 else str(cell).rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)


def _metrics_json(table, catalog_path, args) -> dict:
    def clean(value):
        # JSON has no NaN; an undefined metric (no examples) is null.
        return _finite_or_none(value) if isinstance(value, float) else value

    return {
        "catalog": str(catalog_path),
        "assigned_col": args.assigned_col,
        "true_col": args.true_col,
        "metrics": [
            {key: clean(value) for key, value in record.items()}
            for record in table.to_dict(orient="records")
        ],
    }


# --------------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------------


def _add_output_arguments(subcommand: argparse.ArgumentParser, *, suffix: str) -> None:
    """The output options of a command that writes new probability columns to a file."""
    subcommand.add_argument("-o", "--output", required=True, metavar="OUT", help="output file")
    subcommand.add_argument(
        "--output-format",
        choices=FORMATS,
        default=None,
        help="format of OUT (default: from its file name)",
    )
    subcommand.add_argument(
        "--suffix", default=suffix, help=f"added to each column name (default {suffix})"
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``deweight`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="deweight",
        description=(
            "Detect and correct training-set composition bias in classifier probabilities "
            "(Lake & Tsai 2022). Catalogues may be Parquet, FITS or CSV and are streamed."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("catalog", metavar="CATALOG", help="Parquet, FITS or CSV file")
    common.add_argument(
        "--prob-cols",
        required=True,
        type=_class_columns,
        metavar="A,B,C",
        help="columns holding each class's probability; their names name the classes",
    )
    common.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="format of CATALOG (default: from its file name)",
    )
    common.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"rows read at a time (default {DEFAULT_CHUNK_ROWS:,}; "
        f"{CORRECT_CHUNK_ROWS:,} for correct)",
    )
    common.add_argument(
        "--atol",
        type=_positive_float,
        default=1e-3,
        help="tolerance on each row's sum of probabilities (default 1e-3)",
    )
    common.add_argument(
        "--no-progress", action="store_true", help="do not show a progress bar on stderr"
    )
    # SUPPRESS keeps the sub-command's default from overwriting "deweight --debug pcp ...".
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )

    solver = argparse.ArgumentParser(add_help=False)
    solver.add_argument(
        "--method",
        choices=("newton", "em", "squarem"),
        default="newton",
        help="solver for the prediction-consistent prior (default newton)",
    )
    solver.add_argument(
        "--tol", type=_positive_float, default=1e-8, help="convergence tolerance (default 1e-8)"
    )
    solver.add_argument(
        "--max-iter",
        type=_positive_int,
        default=None,
        metavar="N",
        help="most solver iterations (passes over the catalogue)",
    )

    pcp = subcommands.add_parser(
        "pcp",
        parents=[common, solver],
        help="prediction-consistent prior of a catalogue",
        description=(
            "Compute the prediction-consistent prior (Eq. 14 of Lake & Tsai 2022): the class "
            "prior under which the mean of the re-priored probabilities equals the prior. "
            "Printed with its standard error, the model prior and the plain mean probability "
            "(Eq. 13), in percent."
        ),
    )
    model = pcp.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model-prior",
        type=_numbers,
        metavar="P,Q,R",
        help="prior the classifier's probabilities were computed with (sums to 1)",
    )
    model.add_argument(
        "--flat", action="store_true", help="the classifier assumed equal priors (balanced)"
    )
    model.add_argument(
        "--train-counts",
        type=_numbers,
        metavar="N,M,K",
        help="training-set class counts; the model prior is counts/total (Eq. 3)",
    )
    pcp.add_argument("--json", action="store_true", help="print the result as JSON")
    pcp.set_defaults(run=_run_pcp)

    correct = subcommands.add_parser(
        "correct",
        parents=[common, solver],
        help="replace the prior of the probabilities (deweight / debias) into new columns",
        description=(
            "Write the catalogue with probabilities moved from the old prior to the new one "
            "(Eq. 12 of Lake & Tsai 2022) in new columns named COLUMN+SUFFIX. The output is "
            "written to a temporary file and renamed into place only when complete."
        ),
    )
    correct.add_argument(
        "--old-prior",
        required=True,
        type=_prior_or_keyword(("flat",)),
        metavar="P,Q,R|flat",
        help="prior the probabilities were computed with",
    )
    correct.add_argument(
        "--new-prior",
        required=True,
        type=_prior_or_keyword(("flat", "pcp")),
        metavar="P,Q,R|flat|pcp",
        help="prior to impose; 'pcp' computes the prediction-consistent prior first",
    )
    _add_output_arguments(correct, suffix="_corrected")
    correct.set_defaults(run=_run_correct)

    metrics = subcommands.add_parser(
        "metrics",
        parents=[common],
        help="predicted completeness, reliability and F1 (and overshoot against truth)",
        description=(
            "Predict each class's completeness, reliability and F1 score from the "
            "probabilities (Eqs. 9-11 of Lake & Tsai 2022) with 1-sigma uncertainties. With "
            "--true-col also the observed metrics, the overshoot (observed - predicted) and "
            "its z-score. Class columns may hold class indices 0..C-1 (in the order of "
            "--prob-cols) or the class names, i.e. the names given to --prob-cols."
        ),
    )
    metrics.add_argument(
        "--assigned-col", required=True, metavar="COL", help="column of assigned classes"
    )
    metrics.add_argument("--true-col", metavar="COL", help="column of true classes")
    metrics.add_argument("--json", action="store_true", help="print the result as JSON")
    metrics.set_defaults(run=_run_metrics)

    calibrate = subcommands.add_parser(
        "calibrate",
        parents=[common],
        help="calibrate probabilities on a labelled file (temperature / bias scaling)",
        description=(
            "Fit a calibration map (bias-corrected temperature scaling by default) to the "
            "probabilities and true classes of the labelled file CATALOG by maximum likelihood, "
            "print the fitted temperature and biases and the negative log-likelihood before "
            "and after, and write the calibrated probabilities of --apply-to (default: CATALOG "
            "itself) in new columns COLUMN+SUFFIX. The calibrated columns carry the labelled "
            "file's class balance as their prior (printed): use it as the old / model prior of "
            "correct and pcp. The labelled file is read into memory; the catalogue is streamed "
            "and written to a temporary file renamed into place only when complete."
        ),
    )
    calibrate.add_argument(
        "--true-col",
        required=True,
        metavar="COL",
        help="column of true classes in CATALOG (indices 0..C-1 or the --prob-cols names)",
    )
    calibrate.add_argument(
        "--method",
        choices=("bcts", "ts", "vs", "none"),
        default="bcts",
        help="calibration map (default bcts)",
    )
    calibrate.add_argument(
        "--apply-to",
        metavar="CATALOGUE",
        default=None,
        help="catalogue to write calibrated columns for (default: CATALOG)",
    )
    _add_output_arguments(calibrate, suffix="_calibrated")
    calibrate.set_defaults(run=_run_calibrate)
    return parser


def _report(kind: str, message: str) -> None:
    """Print one line ``deweight: KIND: MESSAGE`` on standard error."""
    one_line = " ".join(str(message).split())
    print(f"deweight: {kind}: {one_line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deweight`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status: 0 success, 1 error, 2 malformed command line, 3 solver not converged.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        return int(exit_request.code or 0)
    debug = args.debug
    _import_numerics()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return args.run(args)
    except KeyboardInterrupt:
        _report("error", "interrupted")
        return 130
    except (CommandError, ValueError, OSError, ImportError, ArithmeticError) as error:
        if debug:
            traceback.print_exc()
        _report("error", _describe(error))
        return EXIT_ERROR
    except Exception as error:  # an unexpected failure is still one line unless --debug
        if debug:
            traceback.print_exc()
        _report("error", f"{type(error).__name__}: {error} (rerun with --debug for details)")
        return EXIT_ERROR
    finally:
        # Warnings (e.g. a class no example supports) come after the output they qualify.
        classes = getattr(args, "prob_cols", None)
        for warning in caught:
            _report("warning", _with_class_names(str(warning.message), classes))


_CLASS_INDICES = re.compile(r"\bclasses \[(\d+(?:, \d+)*)\]")


def _with_class_names(message: str, classes: Sequence[str] | None) -> str:
    """Replace the library's ``classes [0, 2]`` by the class columns' names."""
    if not classes:
        return message

    def named(match: re.Match) -> str:
        indices = [int(index) for index in match[1].split(", ")]
        if any(index >= len(classes) for index in indices):
            return match[0]
        noun = "class" if len(indices) == 1 else "classes"
        return f"{noun} {', '.join(classes[index] for index in indices)}"

    return _CLASS_INDICES.sub(named, message)


def _import_numerics() -> None:
    """Import NumPy and :mod:`deweight.io` into this module's namespace (see the top)."""
    global np, io
    import numpy as np

    from deweight import io


def _describe(error: BaseException) -> str:
    """A one-line description of an error for the user."""
    if isinstance(error, FileNotFoundError) and error.filename and not error.args[1:]:
        return str(error)
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    return str(error) or type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
