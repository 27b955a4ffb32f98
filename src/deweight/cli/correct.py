"""``deweight correct``: the catalogue with its probabilities moved to a new prior (Eq. 12)."""

from __future__ import annotations

import numpy as np

from deweight.cli.inputs import checked_prior, flat_prior, open_catalog
from deweight.cli.messages import EXIT_NOT_CONVERGED, EXIT_OK, report
from deweight.cli.output import CORRECT_CHUNK_ROWS, checked_output, new_columns, write_columns
from deweight.cli.pcp import solve_pcp
from deweight.cli.tables import percent


def _new_prior(args, solve, old_prior: np.ndarray) -> np.ndarray | None:
    """The prior to impose; ``None`` when the prediction-consistent prior did not converge.

    ``solve(old_prior)`` computes the prediction-consistent prior when it is asked for.
    """
    classes = args.prob_cols
    if args.new_prior == "flat":
        return flat_prior(len(classes))
    if args.new_prior != "pcp":
        return checked_prior(args.new_prior, len(classes), "--new-prior", allow_zero=True)
    result = solve(old_prior)
    summary = ", ".join(
        f"{name} {percent(value)} ± {percent(error)}"
        for name, value, error in zip(classes, result.prior, result.stderr, strict=True)
    )
    print(
        f"prediction-consistent prior after {result.iterations} iterations"
        f"{'' if result.converged else ' (NOT converged)'}: {summary}"
    )
    if not result.converged:
        report("warning", "the solver did not converge; not writing a corrected catalogue")
        return None
    return np.asarray(result.prior, dtype=float)


def run(args) -> int:
    """``deweight correct``."""
    from deweight.cli import partitioned
    from deweight.priors import replace_prior

    classes = args.prob_cols
    if args.old_prior == "flat":
        old_prior = flat_prior(len(classes))
    else:
        old_prior = checked_prior(args.old_prior, len(classes), "--old-prior")
    if partitioned.wanted(args):
        written = partitioned.correct(
            args, old_prior, lambda solve: _new_prior(args, solve, old_prior)
        )
        return EXIT_NOT_CONVERGED if written is None else EXIT_OK
    output = checked_output(args)
    catalog = open_catalog(args, classes, chunk_rows=args.chunk_rows or CORRECT_CHUNK_ROWS)
    # Checked before any pass over the data, so a bad suffix fails at once.
    names = new_columns(args, catalog, output, verb="correct")
    new_prior = _new_prior(args, lambda prior: solve_pcp(args, catalog, prior), old_prior)
    if new_prior is None:
        return EXIT_NOT_CONVERGED
    write_columns(
        args, catalog, output, names, lambda values: replace_prior(values, old_prior, new_prior)
    )
    return EXIT_OK
