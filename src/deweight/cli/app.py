""":func:`main`: the ``deweight`` command's entry point (``deweight = "deweight.cli:main"``)."""

from __future__ import annotations

import importlib
import traceback
import warnings
from collections.abc import Sequence

from deweight.cli.messages import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CommandError,
    describe,
    report,
    with_class_names,
)
from deweight.cli.parser import build_parser


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
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Imported only now: the command's module imports NumPy and deweight.io (Arrow).
            command = importlib.import_module(f"deweight.cli.{args.command}")
            return command.run(args)
    except KeyboardInterrupt:
        report("error", "interrupted")
        return EXIT_INTERRUPTED
    except (CommandError, ValueError, OSError, ImportError, ArithmeticError) as error:
        if debug:
            traceback.print_exc()
        report("error", describe(error))
        return EXIT_ERROR
    except Exception as error:  # an unexpected failure is still one line unless --debug
        if debug:
            traceback.print_exc()
        report("error", f"{type(error).__name__}: {error} (rerun with --debug for details)")
        return EXIT_ERROR
    finally:
        # Warnings (e.g. a class no example supports) come after the output they qualify.
        classes = getattr(args, "prob_cols", None)
        for warning in caught:
            report("warning", with_class_names(str(warning.message), classes))
