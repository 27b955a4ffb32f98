"""``deweight metrics``: completeness, reliability and F1 predicted from the probabilities
(Eqs. 9-11), and with the true classes the observed ones and the overshoot."""

from __future__ import annotations

import json
import warnings

import numpy as np

from deweight import metrics
from deweight._formats import DEFAULT_CHUNK_ROWS
from deweight._progress import Progress
from deweight.cli.inputs import class_indices, open_catalog
from deweight.cli.messages import EXIT_OK, CommandError, naming_the_file
from deweight.cli.tables import aligned, finite_or_none


def _indices(chunk, column: str, classes) -> np.ndarray:
    """The class indices of ``column`` in one block of rows."""
    return class_indices(chunk.extra[column], classes, column=column, offset=chunk.offset)


def _streamed_counts(args, catalog):
    """One pass: the expected counts (Eq. 9), the number of rows and, with ``--true-col``, the
    confusion matrix (row = true class, column = assigned class)."""
    classes = args.prob_cols
    n_classes = len(classes)
    label_columns = [args.assigned_col] + ([args.true_col] if args.true_col else [])
    catalog.check_columns(label_columns)
    counts, n_rows = None, 0
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    progress = Progress(unit="rows", enabled=not args.no_progress, large=True)
    progress.start("reading", catalog.n_rows)
    try:
        with naming_the_file(catalog.path, classes):
            for chunk in catalog.iter_batches(label_columns):
                n_rows += chunk.n_rows
                assigned = _indices(chunk, args.assigned_col, classes)
                chunk_counts = metrics.expected_counts(chunk.values, assigned)
                # The counts are sums over rows, so those of successive blocks add up.
                counts = chunk_counts if counts is None else counts + chunk_counts
                if args.true_col:
                    confusion += np.bincount(
                        _indices(chunk, args.true_col, classes) * n_classes + assigned,
                        minlength=n_classes * n_classes,
                    ).reshape(n_classes, n_classes)
                progress.update(chunk.n_rows)
        progress.finish()
    finally:
        progress.close()
    return counts, n_rows, confusion


def run(args) -> int:
    """``deweight metrics``."""
    from deweight.cli import partitioned

    classes = args.prob_cols
    if partitioned.wanted(args):
        counts, n_rows, confusion, path = partitioned.metric_sums(args)
    else:
        catalog = open_catalog(args, classes, chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS)
        counts, n_rows, confusion = _streamed_counts(args, catalog)
        path = catalog.path
    if counts is None or n_rows == 0:
        raise CommandError(
            f"{path} has no rows; there are no metrics to compute (columns {', '.join(classes)})"
        )
    truth = confusion if args.true_col else None
    table = metrics_table(counts, truth, classes)
    _warn_undefined_metrics(table, counts, truth, classes, args)
    if args.json:
        print(json.dumps(metrics_json(table, path, args), indent=2))
    else:
        print(metrics_report(table, path, args))
    return EXIT_OK


def metrics_table(counts, confusion, classes):
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


def metrics_report(table, catalog_path, args) -> str:
    """The metrics table as readable text."""
    with_truth = "observed" in table.columns
    header = ["class", "metric", "predicted", "±1σ"]
    if with_truth:
        header += ["observed", "overshoot", "z"]
    rows = []
    for record in table.itertuples(index=False):
        row = [record[0], record[1], f"{record.predicted:.5f}", f"{record.sigma:.5f}"]
        if with_truth:
            row += [f"{record.observed:.5f}", f"{record.overshoot:+.5f}", f"{record.z:+.2f}"]
        rows.append(row)
    lines = [
        f"Predicted metrics (Eqs. 9-11, Lake & Tsai 2022) of {catalog_path}, "
        f"assigned classes from {args.assigned_col!r}"
        + (f", true classes from {args.true_col!r}" if with_truth else ""),
        "",
        *aligned([header, *rows], left=2),
    ]
    return "\n".join(lines)


def metrics_json(table, catalog_path, args) -> dict:
    """The metrics table as a JSON object; an undefined metric (no examples) is null."""

    def clean(value):
        return finite_or_none(value) if isinstance(value, float) else value

    return {
        "catalog": str(catalog_path),
        "assigned_col": args.assigned_col,
        "true_col": args.true_col,
        "metrics": [
            {key: clean(value) for key, value in record.items()}
            for record in table.to_dict(orient="records")
        ],
    }
