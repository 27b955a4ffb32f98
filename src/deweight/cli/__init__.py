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

What lives where
----------------
``app``
    :func:`main`: parse, run the command, report errors and warnings as one line each.
``parser``
    :func:`build_parser`, the options shared by the commands; ``arguments`` holds the types
    that parse option values.
``output``
    The one place for the output of the commands that write files (``correct``, ``calibrate``):
    the options ``-o``/``--output-format``/``--suffix``, the checks made before any work, and
    the atomic write of the new columns.
``messages``
    Exit statuses, :class:`CommandError`, and the rewriting of library messages for the command
    line (file and column names instead of ``probs``, class names instead of indices).
``inputs``
    Opening a catalogue, priors given as options, class columns turned into indices.
``tables``
    Numbers and aligned text tables as printed.
``pcp``, ``correct``, ``calibrate``, ``metrics``
    One module per command, each with ``run(args)``; :func:`main` imports the one named on the
    command line only after it has parsed, so ``--help`` and a malformed command line import
    neither NumPy nor Arrow (tests/test_cli.py checks that).
"""

from deweight.cli.app import main
from deweight.cli.parser import build_parser

__all__ = ["main", "build_parser"]
