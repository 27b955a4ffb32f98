"""Reliability figures (beyond the paper): each case's probability against the truth, per class.

Drawn from the table of :func:`deweight.reliability.reliability_curve` (with ``model`` naming
the case): one panel per class, the model's mean probability in each bin on the x axis, the
reference on the y axis (the analytic posterior on the simulation, the observed fraction of
the class on labelled data) with its interval, and the diagonal a calibrated model follows.
The style (cases' colours and markers, titles, atomic PDF + PNG + CSV) is that of
:mod:`deweight.figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from deweight.figures.style import (
    CASE_STYLES,
    _case_legend_handles,
    _check_cases,
    _class_name_lookup,
    _Drawn,
    _figure_function,
    _require_columns,
    display_class_name,
)
from deweight.reliability import RELIABILITY_COLUMNS

__all__ = ["plot_reliability"]

_REFERENCE_LABELS = {
    "analytic": "mean analytic posterior P(k|x) in the bin",
    "observed": "observed fraction of class k in the bin",
}


@_figure_function()
def plot_reliability(
    df: pd.DataFrame,
    *,
    reference: str,
    class_names: Mapping[int, str] | Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    title: str | None = None,
) -> _Drawn:
    """Draw the reliability curves of each case, one panel per class.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``model`` (the case) and :data:`deweight.reliability.RELIABILITY_COLUMNS`.
        The CSV holds the rows plotted with a ``class_name`` column.
    reference : {"analytic", "observed"}
        What the y axis is (the analytic posterior, or the observed class fraction).
    class_names : mapping or sequence, optional
        Name of each class number. By default the table's own ``class_name`` column, shown as
        a figure shows a class (:func:`~deweight.figures.display_class_name`: bll -> BL Lac).
    cases : sequence of str, optional
        Cases to draw, in legend order; default those present, in the table's order.
    title : str, optional
        First title line.

    Raises
    ------
    ValueError
        If a column is missing (named), a case is unknown, ``reference`` is not one of the two,
        or, without ``class_names``, the table gives a class two names.
    """
    if reference not in _REFERENCE_LABELS:
        raise ValueError(f"reference must be one of {list(_REFERENCE_LABELS)}, got {reference!r}")
    _require_columns(df, ("model", *RELIABILITY_COLUMNS), "df")
    chosen = list(cases) if cases is not None else list(dict.fromkeys(df["model"]))
    _check_cases(chosen, "model")
    name_of = _class_name_lookup(_names_in(df) if class_names is None else class_names)
    table = df[df["model"].isin(chosen)].copy()
    table["class"] = table["class"].astype(int)
    table["class_name"] = [name_of(c) for c in table["class"]]
    classes = sorted(table["class"].unique())
    columns = min(len(classes), 3)
    rows = -(-len(classes) // columns)
    fig = Figure(figsize=(3.9 * columns + 0.6, 3.9 * rows + 1.2), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for position, class_index in enumerate(classes):
        _draw_class_panel(axes[position], table, chosen, class_index, position, name_of, reference)
    for ax in axes[len(classes) :]:
        ax.set_visible(False)
    fig.legend(
        handles=_case_legend_handles(chosen, with_ideal=False),
        loc="outside lower center",
        ncol=len(chosen),
        frameon=False,
    )
    keep = ["model", "class", "class_name", *RELIABILITY_COLUMNS[1:]]
    extra = [c for c in table.columns if c not in keep]
    data = table.loc[:, [*extra, *keep]].sort_values(["model", "class", "bin"], kind="stable")
    title = title or "Reliability: model probability against the truth"
    return _Drawn(fig, title, data.reset_index(drop=True))


def _names_in(df: pd.DataFrame) -> dict[int, str]:
    """Each class's display name from the table's ``class_name`` column."""
    _require_columns(df, ("class_name",), "df (or pass class_names)")
    pairs = df.loc[:, ["class", "class_name"]].drop_duplicates()
    twice = pairs["class"].astype(int).duplicated(keep=False)
    if twice.any():
        named = pairs[twice].sort_values("class").to_dict("records")
        raise ValueError(f"df gives a class more than one class_name: {named}")
    names = zip(pairs["class"], pairs["class_name"], strict=True)
    return {int(class_index): display_class_name(name) for class_index, name in names}


def _draw_class_panel(ax, table, cases, class_index, position, name_of, reference) -> None:
    """One class: each case's points with vertical intervals, and the diagonal."""
    ax.plot([0, 1], [0, 1], color=CASE_STYLES["ideal"]["color"], linewidth=1.0, zorder=0)
    for case in cases:
        style = CASE_STYLES[case]
        rows = table[(table["model"] == case) & (table["class"] == class_index)]
        rows = rows.sort_values("bin")
        if rows.empty:
            continue
        x = rows["mean_probability"].to_numpy(dtype=float)
        y = rows["reference"].to_numpy(dtype=float)
        below = np.clip(y - rows["reference_low"].to_numpy(dtype=float), 0, None)
        above = np.clip(rows["reference_high"].to_numpy(dtype=float) - y, 0, None)
        ax.errorbar(
            x,
            y,
            yerr=[below, above],
            color=style["color"],
            linestyle=style["linestyle"],
            marker=style["marker"],
            markersize=3.5,
            linewidth=1.3,
            capsize=2,
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_title(f"({chr(ord('a') + position)}) {name_of(class_index)}")
    ax.set_xlabel("mean model probability of the class in the bin")
    if position % 3 == 0:
        ax.set_ylabel(_REFERENCE_LABELS[reference].replace("class k", "the class"))
