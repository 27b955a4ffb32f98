"""Bookkeeping of the rows that each quality cut removes: the cut-flow of a prepared catalogue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["CutFlow", "CutFlowStep"]


@dataclass(frozen=True)
class CutFlowStep:
    """One entry of a :class:`CutFlow`.

    Attributes
    ----------
    step : str
        Short machine-readable name of the cut, e.g. ``"zwarning"``.
    reason : str
        Human-readable statement of why the rows were removed.
    removed : int
        Number of rows the cut removed.
    remaining : int
        Number of rows left after the cut.
    """

    step: str
    reason: str
    removed: int
    remaining: int


class CutFlow:
    """Record of rows in, rows removed by each cut (with its reason), and rows out.

    A cut-flow is what lets a reader check a prepared catalogue against the paper's numbers
    (e.g. Table 3 of Lake & Tsai 2022): every row that enters is either in the output or counted
    against exactly one reason.

    Parameters
    ----------
    rows_in : int
        Number of rows that entered the preparation.
    name : str, optional
        What the cut-flow describes (e.g. the task name); shown in :meth:`summary`.

    Examples
    --------
    >>> flow = CutFlow(10, name="demo")
    >>> table = pd.DataFrame({"snr": np.arange(10.0)})
    >>> table = flow.apply(table, table["snr"] > 5, "snr", "SNR <= 5")
    >>> flow.rows_out
    4
    """

    def __init__(self, rows_in: int, name: str = "") -> None:
        rows_in = int(rows_in)
        if rows_in < 0:
            raise ValueError(f"rows_in must be non-negative, got {rows_in}")
        self.name = name
        self.rows_in = rows_in
        self._steps: list[CutFlowStep] = []

    @property
    def rows_out(self) -> int:
        """Number of rows left after every recorded cut."""
        return self._steps[-1].remaining if self._steps else self.rows_in

    @property
    def steps(self) -> tuple[CutFlowStep, ...]:
        """The recorded cuts, in the order they were applied."""
        return tuple(self._steps)

    def record(self, step: str, reason: str, removed: int) -> None:
        """Record that a cut removed ``removed`` rows.

        Parameters
        ----------
        step : str
            Short name of the cut.
        reason : str
            Why the rows were removed.
        removed : int
            Number of rows removed; zero is recorded too, so that a reader sees the cut was made.

        Raises
        ------
        ValueError
            If ``removed`` is negative or larger than the rows remaining.
        """
        removed = int(removed)
        if removed < 0 or removed > self.rows_out:
            raise ValueError(
                f"cut {step!r} cannot remove {removed} rows when {self.rows_out} remain"
            )
        self._steps.append(CutFlowStep(step, reason, removed, self.rows_out - removed))

    def apply(
        self, table: pd.DataFrame, keep: np.ndarray | pd.Series, step: str, reason: str
    ) -> pd.DataFrame:
        """Keep the rows of ``table`` where ``keep`` is true and record the others as removed.

        Parameters
        ----------
        table : pandas.DataFrame
            The rows currently remaining; its length must equal :attr:`rows_out`.
        keep : array_like of bool, shape (len(table),)
            True for rows that pass the cut. Missing values count as failing.
        step, reason : str
            See :meth:`record`.

        Returns
        -------
        pandas.DataFrame
            The rows that pass, with the original index.

        Raises
        ------
        ValueError
            If ``table`` or ``keep`` does not have :attr:`rows_out` rows.
        """
        if len(table) != self.rows_out:
            raise ValueError(
                f"cut {step!r}: table has {len(table)} rows but the cut-flow has "
                f"{self.rows_out} remaining"
            )
        keep_array = np.asarray(pd.Series(keep).fillna(False), dtype=bool).reshape(-1)
        if keep_array.shape[0] != len(table):
            raise ValueError(
                f"cut {step!r}: mask has {keep_array.shape[0]} entries, table {len(table)}"
            )
        self.record(step, reason, int((~keep_array).sum()))
        return table.loc[keep_array]

    def removed_by_step(self) -> dict[str, int]:
        """Rows removed, summed per step name."""
        totals: dict[str, int] = {}
        for entry in self._steps:
            totals[entry.step] = totals.get(entry.step, 0) + entry.removed
        return totals

    def to_frame(self) -> pd.DataFrame:
        """The cut-flow as a table.

        Returns
        -------
        pandas.DataFrame
            Columns ``step``, ``reason``, ``removed``, ``remaining``. The first row is the input
            (``step="input"``, ``removed=0``, ``remaining=rows_in``); the last ``remaining`` is
            :attr:`rows_out`.
        """
        rows = [("input", "rows read", 0, self.rows_in)]
        rows += [(s.step, s.reason, s.removed, s.remaining) for s in self._steps]
        return pd.DataFrame(rows, columns=["step", "reason", "removed", "remaining"])

    def to_dict(self) -> dict:
        """A JSON-serialisable form, e.g. for Parquet metadata."""
        return {
            "name": self.name,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "steps": [
                {"step": s.step, "reason": s.reason, "removed": s.removed, "remaining": s.remaining}
                for s in self._steps
            ],
        }

    def summary(self) -> str:
        """A plain-text table of the cut-flow, for logs."""
        title = f"cut-flow {self.name}".rstrip()
        return f"{title}\n{self.to_frame().to_string(index=False)}"

    def __repr__(self) -> str:
        return (
            f"CutFlow(name={self.name!r}, rows_in={self.rows_in}, rows_out={self.rows_out}, "
            f"steps={len(self._steps)})"
        )
