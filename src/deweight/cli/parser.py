"""The argument parser of the ``deweight`` command (standard library only, so that ``--help`` and a
malformed command line answer at once)."""

from __future__ import annotations

import argparse

from deweight._formats import DEFAULT_CHUNK_ROWS, FORMATS
from deweight.cli.arguments import (
    class_columns,
    numbers,
    positive_float,
    positive_int,
    prior_or_keyword,
)
from deweight.cli.output import CORRECT_CHUNK_ROWS, add_output_arguments

#: Each command's one-line help (in ``deweight --help``) and its description. Each command is
#: run by ``deweight.cli.<command>.run(args)``.
_TEXTS = {
    "pcp": (
        "prediction-consistent prior of a catalogue",
        (
            "Compute the prediction-consistent prior (Eq. 14 of Lake & Tsai 2022): the class "
            "prior under which the mean of the re-priored probabilities equals the prior. "
            "Printed with its standard error, the model prior and the plain mean probability "
            "(Eq. 13), in percent."
        ),
    ),
    "correct": (
        "replace the prior of the probabilities (deweight / debias) into new columns",
        (
            "Write the catalogue with probabilities moved from the old prior to the new one "
            "(Eq. 12 of Lake & Tsai 2022) in new columns named COLUMN+SUFFIX. The output is "
            "written to a temporary file and renamed into place only when complete."
        ),
    ),
    "metrics": (
        "predicted completeness, reliability and F1 (and overshoot against truth)",
        (
            "Predict each class's completeness, reliability and F1 score from the "
            "probabilities (Eqs. 9-11 of Lake & Tsai 2022) with 1-sigma uncertainties. With "
            "--true-col also the observed metrics, the overshoot (observed - predicted) and "
            "its z-score. Class columns may hold class indices 0..C-1 (in the order of "
            "--prob-cols) or the class names, i.e. the names given to --prob-cols."
        ),
    ),
    "calibrate": (
        "calibrate probabilities on a labelled file (temperature / bias scaling)",
        (
            "Fit a calibration map (bias-corrected temperature scaling by default) to the "
            "probabilities and true classes of the labelled file CATALOG by maximum likelihood, "
            "print the fitted temperature and biases and the negative log-likelihood before "
            "and after, and write the calibrated probabilities of --apply-to (default: CATALOG "
            "itself) in new columns COLUMN+SUFFIX. The calibrated columns carry the labelled "
            "file's class balance as their prior (printed): use it as the old / model prior of "
            "correct and pcp. The labelled file is read into memory; the catalogue is streamed "
            "and written to a temporary file renamed into place only when complete."
        ),
    ),
}


def _add_command(subcommands, name: str, parents) -> argparse.ArgumentParser:
    """The sub-parser of command ``name``, with its help and description."""
    help_text, description = _TEXTS[name]
    return subcommands.add_parser(name, parents=parents, help=help_text, description=description)


def _common_options() -> argparse.ArgumentParser:
    """The options every command takes: the catalogue, its class columns, how it is read."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "catalog",
        metavar="CATALOG",
        help="Parquet, FITS or CSV file; for pcp, correct and metrics also a directory: a HATS "
        "catalogue or Parquet files, one partition each",
    )
    common.add_argument(
        "--prob-cols",
        required=True,
        type=class_columns,
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
        type=positive_int,
        default=None,
        metavar="N",
        help=f"rows read at a time (default {DEFAULT_CHUNK_ROWS:,}; "
        f"{CORRECT_CHUNK_ROWS:,} for correct)",
    )
    common.add_argument(
        "--atol",
        type=positive_float,
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
    return common


def _solver_options() -> argparse.ArgumentParser:
    """The options of the prediction-consistent-prior solver (``pcp``, ``correct``)."""
    solver = argparse.ArgumentParser(add_help=False)
    solver.add_argument(
        "--method",
        choices=("newton", "em", "squarem"),
        default="newton",
        help="solver for the prediction-consistent prior (default newton)",
    )
    solver.add_argument(
        "--tol", type=positive_float, default=1e-8, help="convergence tolerance (default 1e-8)"
    )
    solver.add_argument(
        "--max-iter",
        type=positive_int,
        default=None,
        metavar="N",
        help="most solver iterations (passes over the catalogue)",
    )
    return solver


def _cluster_options() -> argparse.ArgumentParser:
    """Where a partitioned catalogue is processed (``pcp``, ``correct``, ``metrics``)."""
    cluster = argparse.ArgumentParser(add_help=False)
    where = cluster.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="address of a running dask.distributed scheduler to do the passes (CATALOG a "
        "directory; needs deweight[scale])",
    )
    where.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="start a local Dask cluster of N worker processes (CATALOG a directory)",
    )
    return cluster


def _add_pcp(subcommands, parents) -> None:
    pcp = _add_command(subcommands, "pcp", parents)
    model = pcp.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model-prior",
        type=numbers,
        metavar="P,Q,R",
        help="prior the classifier's probabilities were computed with (sums to 1)",
    )
    model.add_argument(
        "--flat", action="store_true", help="the classifier assumed equal priors (balanced)"
    )
    model.add_argument(
        "--train-counts",
        type=numbers,
        metavar="N,M,K",
        help="training-set class counts; the model prior is counts/total (Eq. 3)",
    )
    pcp.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_correct(subcommands, parents) -> None:
    correct = _add_command(subcommands, "correct", parents)
    correct.add_argument(
        "--old-prior",
        required=True,
        type=prior_or_keyword(("flat",)),
        metavar="P,Q,R|flat",
        help="prior the probabilities were computed with",
    )
    correct.add_argument(
        "--new-prior",
        required=True,
        type=prior_or_keyword(("flat", "pcp")),
        metavar="P,Q,R|flat|pcp",
        help="prior to impose; 'pcp' computes the prediction-consistent prior first",
    )
    add_output_arguments(correct, suffix="_corrected", directories=True)


def _add_metrics(subcommands, parents) -> None:
    metrics = _add_command(subcommands, "metrics", parents)
    metrics.add_argument(
        "--assigned-col", required=True, metavar="COL", help="column of assigned classes"
    )
    metrics.add_argument("--true-col", metavar="COL", help="column of true classes")
    metrics.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_calibrate(subcommands, parents) -> None:
    calibrate = _add_command(subcommands, "calibrate", parents)
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
    add_output_arguments(calibrate, suffix="_calibrated")


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
    common, solver, cluster = _common_options(), _solver_options(), _cluster_options()
    _add_pcp(subcommands, [common, solver, cluster])
    _add_correct(subcommands, [common, solver, cluster])
    _add_metrics(subcommands, [common, cluster])
    _add_calibrate(subcommands, [common])
    return parser
