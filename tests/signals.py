"""Signal handling for test children that must be interrupted.

A test run started from a background job of a non-interactive shell (``bash -c 'pytest ... &'``)
begins with SIGINT ignored, and every child inherits the ignored signal: a Python child then
installs no ``KeyboardInterrupt`` handler and Snakemake never sees a Ctrl-C. A test that sends
SIGINT to a child therefore starts it with ``preexec_fn=default_sigint``.
"""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """Restore the default SIGINT action in a child before it executes its program.

    Run between fork and exec (``subprocess.Popen(..., preexec_fn=default_sigint)``): the new
    program starts with SIGINT at its default, so a Python child installs its
    ``KeyboardInterrupt`` handler as it does under a terminal, and its own children inherit the
    default action.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
