"""The one progress display of deweight: a bar on a terminal, one line per task elsewhere.

Progress goes to standard error. On a terminal it is a tqdm bar (imported only then, so a
command that never shows one stays import-light). Anywhere else -- a log file, a batch job,
a Snakemake log (:func:`deweight._workflow.run_logged` sends standard error there) -- a redrawn
bar would fill the file with carriage returns, so each finished task writes one line instead:
what, how many, seconds and rate. Disabled, it does nothing.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Counts of one task (or of successive passes of one) reported on standard error.

    Parameters
    ----------
    desc : str, optional
        What is being counted; given, the first task starts at once (see :meth:`start`).
    total : int, optional
        Expected count of that task, when known.
    unit : str, default "it"
        The unit of the count, e.g. ``"rows"``.
    enabled : bool, default True
        False shows nothing.
    large : bool, default False
        Counts in the millions: the bar scales its unit (k, M) and the line gives the rate in
        millions per second.
    mininterval : float, default 0.5
        Seconds between redraws of the bar.

    Notes
    -----
    Use it as a context manager, or call :meth:`finish` at the end of each task and
    :meth:`close` at the end. The one-line summary is written by :meth:`finish` (or by
    leaving the ``with`` block without an exception), once per task.
    """

    def __init__(
        self,
        desc: str | None = None,
        total: int | None = None,
        *,
        unit: str = "it",
        enabled: bool = True,
        large: bool = False,
        mininterval: float = 0.5,
    ):
        self.enabled = bool(enabled)
        self.unit = unit
        self.large = bool(large)
        self.mininterval = mininterval
        self.desc = ""
        self.total = total
        self.n = 0
        self._postfix = ""
        self._bar = None
        self._started = time.perf_counter()
        self._reported = True
        if desc is not None:
            self.start(desc, total)

    # -- one task -------------------------------------------------------------------------------

    def start(self, desc: str, total: int | None = None) -> None:
        """Begin a task (a new pass): the count restarts at zero and the bar is reused."""
        self.desc, self.total, self.n, self._postfix = desc, total, 0, ""
        self._started, self._reported = time.perf_counter(), False
        if not self.enabled or not sys.stderr.isatty():
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total,
                desc=desc,
                unit=f" {self.unit}",
                unit_scale=self.large,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=self.mininterval,
                leave=False,
            )
        else:
            self._bar.set_description(desc, refresh=False)
            self._bar.reset(total=total)

    def update(self, n: int = 1) -> None:
        """Add ``n`` to the count."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix(self, **values) -> None:
        """Show ``key=value`` pairs after the bar (and at the end of the summary line)."""
        self.set_postfix_str(", ".join(f"{key}={value}" for key, value in values.items()))

    def set_postfix_str(self, text: str) -> None:
        """Show ``text`` after the bar (and at the end of the summary line)."""
        self._postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def finish(self) -> None:
        """End of a task: off a terminal, write its one-line summary (once)."""
        if not self.enabled or self._reported or self._bar is not None:
            self._reported = True
            return
        self._reported = True
        seconds = time.perf_counter() - self._started
        rate = self.n / seconds if seconds > 0 else float("inf")
        speed = (
            f"{rate / 1e6:.3g} million {self.unit}/s" if self.large else f"{rate:.3g} {self.unit}/s"
        )
        line = f"deweight: {self.desc}: {self.n:,} {self.unit} in {seconds:.2f} s ({speed})"
        if self._postfix:
            line += f"; {self._postfix}"
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Remove the bar (a task not finished by :meth:`finish` gets no summary line)."""
        self._reported = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.finish()
        self.close()
