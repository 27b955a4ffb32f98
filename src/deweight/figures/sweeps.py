"""Figs. 6-9 of Lake & Tsai (2022): metrics against training-set size, one plotting core.

Figs. 6, 8 and 9 (:func:`plot_overshoot`) show the overshoot of completeness, reliability
and F1 (Eqs. 9-11); Fig. 7 (:func:`plot_kl`) the mean KL divergence (Eq. 21). The recipe
overlays (:func:`plot_overshoot_recipes`, :func:`plot_kl_recipes`) are the same figures with
one more dimension, the training recipe, drawn as the line style: every one of the four goes
through :func:`_draw_overshoot` or :func:`_draw_kl`, which draw each panel with
:func:`_draw_panel`. A figure without a recipe column has the single recipe ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from deweight.figures.style import (
    _GREY,
    CASE_STYLES,
    METRIC_LABELS,
    _abundance_lookup,
    _case_legend_handles,
    _choose_cases,
    _choose_classes,
    _class_name_lookup,
    _Drawn,
    _figure_function,
    _format_percent,
    _log_size_axis,
    _require_columns,
)

_OVERSHOOT_COLUMNS = (
    "case",
    "size",
    "class",
    "metric",
    "observed",
    "predicted",
    "sigma",
    "overshoot",
    "z",
)
_KL_COLUMNS = ("case", "size", "class", "mean_kl", "sem_kl", "n")
_OVERSHOOT_KEYS = ("case", "size", "class", "metric")
_KL_KEYS = ("case", "size", "class")
_KL_LABEL = r"mean $D_\mathrm{KL}(P_\mathrm{true}\,\|\,P_\mathrm{model})$ (nats)"

#: How each training recipe is drawn when two are overlaid: the paper's recipe solid with
#: filled markers, the fast one dotted with open markers; the case keeps its colour.
RECIPE_STYLES: dict[str, dict] = {
    "paper": {"linestyle": "-", "fillstyle": "full", "linewidth": 1.7, "label": "paper recipe"},
    "fast": {"linestyle": ":", "fillstyle": "none", "linewidth": 1.4, "label": "fast recipe"},
}
#: The recipe of a table without a ``recipe`` column: one set of lines, in the case's style.
_NO_RECIPE: tuple[None] = (None,)
# Drawing order of the paper's overshoot figures (zero line, bands, lines); the other
# figures keep matplotlib's (bands under lines, in the order drawn).
_OVERSHOOT_LAYERS = (1, 2, 3)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _check_recipes(table: pd.DataFrame) -> list[str]:
    """Return the recipes of ``table`` in :data:`RECIPE_STYLES` order, refusing unknown ones."""
    present = {str(recipe) for recipe in pd.unique(table["recipe"])}
    unknown = sorted(present - set(RECIPE_STYLES))
    if unknown:
        raise ValueError(f"unknown recipe(s) {unknown}; known recipes are {list(RECIPE_STYLES)}")
    return [recipe for recipe in RECIPE_STYLES if recipe in present]


def _sweep_table(
    df: pd.DataFrame, columns: Sequence[str], keys: Sequence[str], *, by_recipe: bool
) -> tuple[pd.DataFrame, list]:
    """Check and copy a table of values against size; return it and its recipes.

    With ``by_recipe`` the table has a ``recipe`` column too and ``keys`` are unique per
    recipe; without, its one recipe is ``None``.
    """
    extra = ["recipe"] if by_recipe else []
    _require_columns(df, [*extra, *columns], "df")
    table = df.loc[:, [*extra, *columns]].copy()
    table["class"] = table["class"].astype(int)
    if not np.all(table["size"].to_numpy(dtype=float) > 0):
        raise ValueError("every training-set size must be positive (the x axis is logarithmic)")
    duplicated = table.duplicated([*extra, *keys])
    if duplicated.any():
        first = table.loc[duplicated, [*extra, *keys]].iloc[0].to_dict()
        raise ValueError(f"df has more than one row for {first}; aggregate repeats first")
    if "metric" in columns:
        unknown = sorted(set(table["metric"]) - set(METRIC_LABELS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; expected {list(METRIC_LABELS)}")
    return table, (_check_recipes(table) if by_recipe else list(_NO_RECIPE))


@dataclass(frozen=True)
class _Sweep:
    """A checked table of one figure and what it shows: cases, classes, recipes, class names.

    ``recipes`` is ``[None]`` for a table without a recipe column.
    """

    table: pd.DataFrame
    cases: list[str]
    classes: list[int]
    recipes: list
    name_of: Callable[[int], str]

    @property
    def overlay(self) -> bool:
        """Whether recipes are overlaid (a recipe dimension) rather than one set of lines."""
        return self.recipes != list(_NO_RECIPE)


def _select(table, recipes, cases, class_order, class_names) -> _Sweep:
    """Keep the chosen cases and classes, and name the classes."""
    chosen_cases = _choose_cases(table, cases)
    classes = _choose_classes(table, class_order)
    name_of = _class_name_lookup(class_names)
    table = table[table["case"].isin(chosen_cases) & table["class"].isin(classes)]
    table["class_name"] = [name_of(value) for value in table["class"]]
    return _Sweep(table, chosen_cases, classes, recipes, name_of)


def _rows(table: pd.DataFrame, recipe: str | None, case: str, **equal) -> pd.DataFrame:
    """The rows of one recipe and case (and the ``equal`` column values), by size."""
    keep = table["case"] == case
    if recipe is not None:
        keep &= table["recipe"] == recipe
    for column, value in equal.items():
        keep &= table[column] == value
    return table[keep].sort_values("size")


def _plotted(sweep: _Sweep, columns: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """The rows plotted, sorted by ``by`` then size; ``class_name`` follows ``class``.

    The recipe overlays keep the input's column order with ``recipe`` first and
    ``class_name`` last, as they always have.
    """
    if sweep.overlay:
        data = sweep.table.sort_values(["recipe", *by, "size"], kind="stable")
    else:
        data = sweep.table.sort_values([*by, "size"], kind="stable")
        data = data.loc[:, [*columns[:3], "class_name", *columns[3:]]]
    return data.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The plotting core
# --------------------------------------------------------------------------------------------


def _line_style(case: str, recipe: str | None) -> tuple[dict, float]:
    """The plot keywords of one case (colour, marker) under one recipe (line), band alpha."""
    style = CASE_STYLES[case]
    if recipe is None:
        line = {"linestyle": style["linestyle"], "markersize": 3.5, "linewidth": 1.5}
        return {"color": style["color"], "marker": style["marker"], **line}, 0.18
    recipe_line = RECIPE_STYLES[recipe]
    return {
        "color": style["color"],
        "linestyle": recipe_line["linestyle"],
        "linewidth": recipe_line["linewidth"],
        "marker": style["marker"],
        "fillstyle": recipe_line["fillstyle"],
        "markersize": 4.5,
    }, 0.12


def _draw_series(ax, rows, value, error, style, band_alpha, *, log_y, layers) -> None:
    """Draw one line of ``value`` against size with a +-``error`` band.

    On a log axis (``log_y``) a non-positive mean leaves a gap, and where ``mean - error``
    is not positive the band's lower edge is drawn at a tenth of the mean, because a log
    axis cannot show zero.
    """
    size = rows["size"].to_numpy(dtype=float)
    mean = rows[value].to_numpy(dtype=float)
    spread = rows[error].to_numpy(dtype=float)
    if log_y:
        mean = np.where(mean > 0, mean, np.nan)
        lower = np.where(mean - spread > 0, mean - spread, mean / 10.0)
    else:
        lower = mean - spread
    band, line = ({}, {}) if layers is None else ({"zorder": layers[1]}, {"zorder": layers[2]})
    ax.fill_between(
        size, lower, mean + spread, color=style["color"], alpha=band_alpha, linewidth=0, **band
    )
    ax.plot(size, mean, **style, **line)


def _draw_panel(ax, sweep: _Sweep, panel: dict, value, error, *, log_y, layers=None) -> None:
    """Draw every case of every recipe in one panel (the rows whose columns equal ``panel``)."""
    for recipe in sweep.recipes:
        for case in sweep.cases:
            rows = _rows(sweep.table, recipe, case, **panel)
            if not rows.empty:
                style, band_alpha = _line_style(case, recipe)
                _draw_series(ax, rows, value, error, style, band_alpha, log_y=log_y, layers=layers)


def _legend(fig, sweep: _Sweep, *, with_ideal: bool, ncol: int | None = None) -> None:
    """Cases (colour, marker; with the zero line if drawn), then the recipes (line style)."""
    handles = _case_legend_handles(sweep.cases, with_ideal=with_ideal)
    if sweep.overlay:
        for handle in handles:
            handle.set_linestyle("-")
        for recipe in sweep.recipes:
            line = RECIPE_STYLES[recipe]
            handles.append(
                Line2D(
                    [],
                    [],
                    color=_GREY,
                    linestyle=line["linestyle"],
                    linewidth=line["linewidth"],
                    marker="o",
                    fillstyle=line["fillstyle"],
                    markersize=4.5,
                    label=line["label"],
                )
            )
    fig.legend(
        handles=handles, loc="outside lower center", ncol=ncol or len(handles), frameon=False
    )


def _draw_overshoot(sweep: _Sweep, figsize, headings, title: str) -> _Drawn:
    """Rows of metrics, columns of classes: the overshoot with +-1 sigma bands and zero line.

    ``headings`` titles the columns. The recipe overlays have none; they keep matplotlib's
    order of drawing, its tick sizes and a legend in four columns, as they always have.
    """
    table = sweep.table
    metrics = [metric for metric in METRIC_LABELS if metric in set(table["metric"])]
    fig = Figure(figsize=figsize(len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), len(sweep.classes), sharex=True, squeeze=False)
    ideal = CASE_STYLES["ideal"]
    layers = None if sweep.overlay else _OVERSHOOT_LAYERS
    zero = {} if layers is None else {"zorder": layers[0]}
    for column, class_index in enumerate(sweep.classes):
        if headings:
            axes[0, column].set_title(headings[column])
        for row, metric in enumerate(metrics):
            ax = axes[row, column]
            ax.axhline(
                0.0, color=ideal["color"], linestyle=ideal["linestyle"], linewidth=1.0, **zero
            )
            panel = {"class": class_index, "metric": metric}
            _draw_panel(ax, sweep, panel, "overshoot", "sigma", log_y=False, layers=layers)
            _log_size_axis(ax)
            if not sweep.overlay:
                ax.tick_params(axis="y", labelsize=8.5)
            if column == 0:
                ax.set_ylabel(f"{METRIC_LABELS[metric]}\novershoot")
            if row == len(metrics) - 1:
                ax.set_xlabel("training-set size")
    _legend(fig, sweep, with_ideal=not sweep.overlay, ncol=4 if sweep.overlay else None)
    return _Drawn(fig, title, _plotted(sweep, _OVERSHOOT_COLUMNS, ["case", "class", "metric"]))


def _draw_kl(sweep: _Sweep, height: float, title: str) -> _Drawn:
    """One log-log panel per class: mean KL divergence against size, +-1 standard error."""
    fig = Figure(figsize=(3.9 * len(sweep.classes) + 0.6, height), layout="constrained")
    axes = fig.subplots(1, len(sweep.classes), squeeze=False)[0]
    for position, (ax, class_index) in enumerate(zip(axes, sweep.classes, strict=True)):
        _draw_panel(ax, sweep, {"class": class_index}, "mean_kl", "sem_kl", log_y=True)
        _log_size_axis(ax)
        ax.set_yscale("log")
        ax.set_title(f"({chr(ord('a') + position)}) {sweep.name_of(class_index)}")
        ax.set_xlabel("training-set size")
        if position == 0:
            ax.set_ylabel(_KL_LABEL)
    _legend(fig, sweep, with_ideal=False)
    return _Drawn(fig, title, _plotted(sweep, _KL_COLUMNS, ["case", "class"]))


def _heading(name: str, abundance: float) -> str:
    """A class column's title: its name, and its abundance where known, e.g. "AGN (2.1%)"."""
    return f"{name} ({_format_percent(abundance)})" if np.isfinite(abundance) else name


def _recipes_text(recipes: Sequence[str]) -> str:
    """The recipes compared, for a title: "paper recipe vs fast recipe"."""
    return " vs ".join(RECIPE_STYLES[recipe]["label"] for recipe in recipes)


# --------------------------------------------------------------------------------------------
# Figures 6, 8 and 9: overshoot of the performance metrics
# --------------------------------------------------------------------------------------------


@_figure_function()
def plot_overshoot(
    df: pd.DataFrame,
    *,
    class_names: Mapping[int, str] | Sequence[str],
    class_order: Sequence[int] | None = None,
    abundances: Mapping[int, float] | Sequence[float] | None = None,
    cases: Sequence[str] | None = None,
    title: str | None = None,
) -> _Drawn:
    """Draw the overshoot of completeness, reliability and F1 against training-set size.

    Figs. 6, 8 and 9 of Lake & Tsai (2022). The overshoot is the observed metric minus the one
    the model's own probabilities predict (Eqs. 9-10); the shaded band is +-1 sigma of the
    prediction (Eq. 11). Rows are the metrics, columns the classes. Accurate probabilities give
    zero overshoot (the grey "ideal" line). Each panel has its own y range, because the rare
    classes swing far more than the common ones; the x axis (log) is shared.

    Parameters
    ----------
    df : pandas.DataFrame
        Long table, one row per case, size, class and metric, with columns ``case`` (a key of
        :data:`CASE_STYLES`), ``size`` (training-set size), ``class`` (int), ``metric``
        ("completeness", "reliability" or "f1"), ``observed``, ``predicted``, ``sigma``
        (standard deviation of the predicted metric), ``overshoot`` and ``z``. The CSV holds
        the rows plotted (these columns plus ``class_name``), sorted by case, class, metric
        and size.
    class_names : mapping or sequence
        Name of each class number, e.g. ``["galaxy", "star", "AGN"]``.
    class_order : sequence of int, optional
        Classes to show, as columns from left to right; default all present, by number.
    abundances : mapping or sequence of float, optional
        Abundance (fraction) of each class in the training data, shown in the column titles,
        e.g. "AGN (2.1%)".
    cases : sequence of str, optional
        Cases to draw, in legend order; default those present, in the paper's order.
    title : str, optional
        First title line; a default describing the figure is used when omitted.

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a case or metric is unknown,
        a (case, size, class, metric) appears twice, a size is not positive, or a class has no
        name.
    """
    table, recipes = _sweep_table(df, _OVERSHOOT_COLUMNS, _OVERSHOOT_KEYS, by_recipe=False)
    sweep = _select(table, recipes, cases, class_order, class_names)
    abundance_of = _abundance_lookup(abundances)
    headings = [_heading(sweep.name_of(c), abundance_of(c)) for c in sweep.classes]
    width = 2.9 * len(sweep.classes) + 1.0
    title = title or (
        "Overshoot (observed − predicted) of completeness, reliability and F1 score, ±1σ bands"
    )

    def figsize(n_metrics: int) -> tuple[float, float]:
        return width, 2.35 * n_metrics + 1.5

    return _draw_overshoot(sweep, figsize, headings, title)


@_figure_function()
def plot_overshoot_recipes(
    df: pd.DataFrame,
    *,
    class_names: Mapping[int, str] | Sequence[str],
    class_index: int,
    cases: Sequence[str] | None = None,
) -> _Drawn:
    """One class's column of Fig. 6 (e.g. the rare class) with two training recipes overlaid.

    Rows are completeness, reliability and F1 overshoot (Eqs. 9-11) against training-set size,
    with +-1 sigma bands; the case is the colour and marker, the recipe the line style
    (:data:`RECIPE_STYLES`). Drawn by the same core as :func:`plot_overshoot`.

    Parameters
    ----------
    df : pandas.DataFrame
        The columns of :func:`plot_overshoot` plus ``recipe``. The CSV holds the rows plotted
        plus ``class_name``.
    class_names : mapping or sequence
        Name of each class number.
    class_index : int
        The class to show.
    cases : sequence of str, optional
        Cases to draw; default those present, in the paper's order.

    Raises
    ------
    ValueError
        If a column is missing, a recipe, case or metric is unknown, the class has no rows, or
        a (recipe, case, size, class, metric) appears twice.
    """
    table, recipes = _sweep_table(df, _OVERSHOOT_COLUMNS, _OVERSHOOT_KEYS, by_recipe=True)
    sweep = _select(table, recipes, cases, [int(class_index)], class_names)
    name = sweep.name_of(int(class_index))
    title = f"Overshoot of {name}, ±1σ bands: {_recipes_text(recipes)}"
    return _draw_overshoot(sweep, lambda n: (6.4, 2.5 * n + 1.6), None, title)


# --------------------------------------------------------------------------------------------
# Figure 7: mean Kullback-Leibler divergence
# --------------------------------------------------------------------------------------------


@_figure_function()
def plot_kl(
    df: pd.DataFrame,
    *,
    class_names: Mapping[int, str] | Sequence[str],
    class_order: Sequence[int] | None = None,
    cases: Sequence[str] | None = None,
    title: str | None = None,
) -> _Drawn:
    """Draw Fig. 7 of Lake & Tsai (2022): mean KL divergence from the true probabilities.

    One panel per class: the mean over that class's test examples of
    ``D_KL(P_true || P_model)`` (Eq. 21, nats) against training-set size, log-log, with a
    +-1 standard-error band. Where ``mean - sem`` is not positive the band's lower edge is
    drawn at a tenth of the mean, because a log axis cannot show zero.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``case``, ``size``, ``class`` (int), ``mean_kl`` (nats), ``sem_kl`` (standard
        error of the mean, nats) and ``n`` (examples averaged). The CSV holds the rows plotted
        (these columns plus ``class_name``).
    class_names : mapping or sequence
        Name of each class number.
    class_order : sequence of int, optional
        Classes to show, as panels from left to right; default all, by number.
    cases : sequence of str, optional
        Cases to draw, in legend order; default those present, in the paper's order.
    title : str, optional
        First title line.

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a case is unknown, a
        (case, size, class) appears twice or a size is not positive.
    """
    table, recipes = _sweep_table(df, _KL_COLUMNS, _KL_KEYS, by_recipe=False)
    sweep = _select(table, recipes, cases, class_order, class_names)
    title = title or (
        "Mean Kullback–Leibler divergence of model from true probabilities, ±1 standard error"
    )
    return _draw_kl(sweep, 4.6, title)


@_figure_function()
def plot_kl_recipes(
    df: pd.DataFrame,
    *,
    class_names: Mapping[int, str] | Sequence[str],
    cases: Sequence[str] | None = None,
) -> _Drawn:
    """Fig. 7 of Lake & Tsai (2022) with the curves of two training recipes overlaid.

    One panel per class, as :func:`plot_kl` and drawn by the same core; each case keeps its
    colour and marker, and the recipe is the line style (:data:`RECIPE_STYLES`).

    Parameters
    ----------
    df : pandas.DataFrame
        The columns of :func:`plot_kl` plus ``recipe`` ("paper" or "fast"). The CSV holds the
        rows plotted plus ``class_name``.
    class_names : mapping or sequence
        Name of each class number.
    cases : sequence of str, optional
        Cases to draw; default those present, in the paper's order.

    Raises
    ------
    ValueError
        If a column is missing, a recipe or case is unknown, or a (recipe, case, size, class)
        appears twice.
    """
    table, recipes = _sweep_table(df, _KL_COLUMNS, _KL_KEYS, by_recipe=True)
    sweep = _select(table, recipes, cases, None, class_names)
    title = f"Mean KL divergence from the true probabilities: {_recipes_text(recipes)}"
    return _draw_kl(sweep, 4.9, title)
