"""``deweight calibrate``: a calibration map fitted on a labelled file, applied to a catalogue."""

from __future__ import annotations

import numpy as np

from deweight import io
from deweight.cli.inputs import class_indices, open_catalog
from deweight.cli.messages import EXIT_OK, CommandError
from deweight.cli.output import CORRECT_CHUNK_ROWS, checked_output, new_columns, write_columns


def labelled_rows(args, labelled: io.Catalog) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities and true class indices of the labelled file, every class present.

    The labelled rows (a development set) are held in memory: the fit needs every row at each
    of its iterations. Only the catalogue the calibration is applied to is streamed.
    """
    classes = args.prob_cols
    blocks, labels = [], []
    for chunk in labelled.iter_batches([args.true_col]):
        blocks.append(np.array(chunk.values, dtype=np.float64))
        labels.append(
            class_indices(
                chunk.extra[args.true_col], classes, column=args.true_col, offset=chunk.offset
            )
        )
    if not blocks:
        raise CommandError(f"{labelled.path} has no rows to calibrate on")
    probs, truth = np.concatenate(blocks), np.concatenate(labels)
    seen = np.bincount(truth, minlength=len(classes))
    if np.any(seen == 0):
        absent = [classes[index] for index in np.flatnonzero(seen == 0)]
        raise CommandError(
            f"{labelled.path}: column {args.true_col!r} has no row of class(es) "
            f"{', '.join(absent)}; every class needs a labelled row to be calibrated"
        )
    return probs, truth


def _print_fit(args, calibrator, n_rows: int, labelled: io.Catalog) -> None:
    """The fitted map: NLL before and after, temperature, biases, scales, prior."""
    classes = args.prob_cols
    print(
        f"calibration ({args.method}) on {n_rows:,} labelled rows of {labelled.path}: "
        f"NLL {calibrator.nll_before_:.6g} -> {calibrator.nll_after_:.6g} per row"
    )
    print(f"temperature: {calibrator.temperature_:.6g}")
    if args.method in ("bcts", "vs"):
        biases = zip(classes, calibrator.biases_, strict=True)
        print("biases: " + ", ".join(f"{name} {value:+.6g}" for name, value in biases))
    if args.method == "vs":
        scales = zip(classes, calibrator.scales_, strict=True)
        print("scales: " + ", ".join(f"{name} {value:.6g}" for name, value in scales))
    if calibrator.prior_ is not None:
        print(
            "model prior of the calibrated columns (the labelled balance; use it as --old-prior "
            "of correct and --model-prior of pcp): "
            + ",".join(f"{value:.6g}" for value in calibrator.prior_)
        )


def run(args) -> int:
    """``deweight calibrate``: fit a :class:`deweight.Calibrator`, write calibrated columns."""
    from deweight.calibration import Calibrator

    classes = args.prob_cols
    chunk_rows = args.chunk_rows or CORRECT_CHUNK_ROWS
    labelled = open_catalog(args, classes, chunk_rows=chunk_rows)
    labelled.check_columns([args.true_col])
    target = labelled
    if args.apply_to is not None:
        target = io.open_catalog(
            args.apply_to, classes, chunk_rows=chunk_rows, validate=True, atol=args.atol
        )
    output = checked_output(args)
    # Checked before any pass over the data, so a bad suffix fails at once. An empty labelled
    # file is reported by labelled_rows.
    names = new_columns(
        args, target, output, verb="calibrate", check_empty=args.apply_to is not None
    )
    probs, truth = labelled_rows(args, labelled)
    calibrator = Calibrator(args.method).fit(probs, truth, atol=args.atol)
    _print_fit(args, calibrator, truth.size, labelled)
    write_columns(
        args, target, output, names, lambda values: calibrator.transform(values, atol=args.atol)
    )
    return EXIT_OK
