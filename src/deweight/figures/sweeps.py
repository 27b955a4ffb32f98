"""Figs. 6-9 of Lake & Tsai (2022): overshoot and KL divergence against training-set size.

:func:`plot_overshoot` (Figs. 6, 8, 9) and :func:`plot_kl` (Fig. 7), and the same figures with the
two training recipes overlaid (:func:`plot_overshoot_recipes`, :func:`plot_kl_recipes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from deweight.figures.style import (
    _GREY,
    _KL_COLUMNS,
    _OVERSHOOT_COLUMNS,
    CASE_STYLES,
    METRIC_LABELS,
    PathLike,
    _abundance_lookup,
    _case_legend_handles,
    _choose_cases,
    _choose_classes,
    _class_name_lookup,
    _format_percent,
    _log_size_axis,
    _require_columns,
    _suptitle,
    _with_style,
    save_figure,
)

# --------------------------------------------------------------------------------------------
# Figures 6, 8 and 9: overshoot of the performance metrics
# --------------------------------------------------------------------------------------------


@_with_style
def plot_overshoot(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str,
    class_names: Mapping[int, str] | Sequence[str],
    class_order: Sequence[int] | None = None,
    abundances: Mapping[int, float] | Sequence[float] | None = None,
    cases: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> Figure:
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
        (standard deviation of the predicted metric), ``overshoot`` and ``z``.
    pdf_path, png_path, csv_path : str or path-like
        Outputs. The CSV holds the rows plotted (the input columns plus ``class_name``), sorted
        by case, class, metric and size.
    source_label : str
        Second title line saying where the data come from, e.g.
        "Simulation (Lake & Tsai 2022 §3.2)".
    class_names : mapping or sequence
        Name of each class number, e.g. ``["galaxy", "star", "AGN"]``.
    class_order : sequence of int, optional
        Classes to show, as columns from left to right (e.g. by decreasing abundance); default
        all classes present, by number.
    abundances : mapping or sequence of float, optional
        Abundance (fraction) of each class in the training data, shown in the column titles,
        e.g. "AGN (2.1%)".
    cases : sequence of str, optional
        Cases to draw, in legend order; default those present, in the paper's order.
    title : str, optional
        First title line; a default describing the figure is used when omitted.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a case or metric is unknown,
        a (case, size, class, metric) appears twice, a size is not positive, or a class has no
        name.
    """
    _require_columns(df, _OVERSHOOT_COLUMNS, "df")
    table = df.loc[:, list(_OVERSHOOT_COLUMNS)].copy()
    table["class"] = table["class"].astype(int)
    unknown_metrics = sorted(set(table["metric"]) - set(METRIC_LABELS))
    if unknown_metrics:
        raise ValueError(f"unknown metric(s) {unknown_metrics}; expected {list(METRIC_LABELS)}")
    if not np.all(table["size"].to_numpy(dtype=float) > 0):
        raise ValueError("every training-set size must be positive (the x axis is logarithmic)")
    keys = ["case", "size", "class", "metric"]
    duplicated = table.duplicated(keys)
    if duplicated.any():
        first = table.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"df has more than one row for {first}; aggregate repeats first")
    chosen_cases = _choose_cases(table, cases)
    classes = _choose_classes(table, class_order)
    name_of = _class_name_lookup(class_names)
    abundance_of = _abundance_lookup(abundances)
    metrics = [metric for metric in METRIC_LABELS if metric in set(table["metric"])]
    table = table[table["case"].isin(chosen_cases) & table["class"].isin(classes)]
    table["class_name"] = [name_of(value) for value in table["class"]]

    n_rows, n_columns = len(metrics), len(classes)
    fig = Figure(figsize=(2.9 * n_columns + 1.0, 2.35 * n_rows + 1.5), layout="constrained")
    axes = fig.subplots(n_rows, n_columns, sharex=True, squeeze=False)
    ideal = CASE_STYLES["ideal"]
    for column, class_index in enumerate(classes):
        abundance = abundance_of(class_index)
        heading = name_of(class_index)
        if np.isfinite(abundance):
            heading += f" ({_format_percent(abundance)})"
        axes[0, column].set_title(heading)
        for row, metric in enumerate(metrics):
            ax = axes[row, column]
            ax.axhline(
                0.0, color=ideal["color"], linestyle=ideal["linestyle"], linewidth=1.0, zorder=1
            )
            for case in chosen_cases:
                style = CASE_STYLES[case]
                rows = table[
                    (table["case"] == case)
                    & (table["class"] == class_index)
                    & (table["metric"] == metric)
                ].sort_values("size")
                if rows.empty:
                    continue
                size = rows["size"].to_numpy(dtype=float)
                overshoot = rows["overshoot"].to_numpy(dtype=float)
                sigma = rows["sigma"].to_numpy(dtype=float)
                ax.fill_between(
                    size,
                    overshoot - sigma,
                    overshoot + sigma,
                    color=style["color"],
                    alpha=0.18,
                    linewidth=0,
                    zorder=2,
                )
                ax.plot(
                    size,
                    overshoot,
                    color=style["color"],
                    linestyle=style["linestyle"],
                    marker=style["marker"],
                    markersize=3.5,
                    linewidth=1.5,
                    zorder=3,
                )
            _log_size_axis(ax)
            ax.tick_params(axis="y", labelsize=8.5)
            if column == 0:
                ax.set_ylabel(f"{METRIC_LABELS[metric]}\novershoot")
            if row == n_rows - 1:
                ax.set_xlabel("training-set size")
    fig.legend(
        handles=_case_legend_handles(chosen_cases, with_ideal=True),
        loc="outside lower center",
        ncol=len(chosen_cases) + 1,
        frameon=False,
    )
    _suptitle(
        fig,
        title
        or "Overshoot (observed − predicted) of completeness, reliability and F1 score, ±1σ bands",
        source_label,
    )
    data = table.sort_values(["case", "class", "metric", "size"], kind="stable")
    data = data.loc[:, [*_OVERSHOOT_COLUMNS[:3], "class_name", *_OVERSHOOT_COLUMNS[3:]]]
    save_figure(fig, data.reset_index(drop=True), pdf_path, png_path, csv_path, dpi=dpi)
    return fig


# --------------------------------------------------------------------------------------------
# Figure 7: mean Kullback-Leibler divergence
# --------------------------------------------------------------------------------------------


@_with_style
def plot_kl(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str,
    class_names: Mapping[int, str] | Sequence[str],
    class_order: Sequence[int] | None = None,
    cases: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw Fig. 7 of Lake & Tsai (2022): mean KL divergence from the true probabilities.

    One panel per class: the mean over that class's test examples of
    ``D_KL(P_true || P_model)`` (Eq. 21, nats) against training-set size, log-log, with a
    +-1 standard-error band. Where ``mean - sem`` is not positive the band's lower edge is
    drawn at a tenth of the mean, because a log axis cannot show zero.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``case``, ``size``, ``class`` (int), ``mean_kl`` (nats), ``sem_kl`` (standard
        error of the mean, nats) and ``n`` (examples averaged).
    pdf_path, png_path, csv_path : str or path-like
        Outputs. The CSV holds the rows plotted (input columns plus ``class_name``).
    source_label : str
        Second title line saying where the data come from.
    class_names : mapping or sequence
        Name of each class number.
    class_order : sequence of int, optional
        Classes to show, as panels from left to right; default all, by number.
    cases : sequence of str, optional
        Cases to draw, in legend order; default those present, in the paper's order.
    title : str, optional
        First title line.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a case is unknown, a
        (case, size, class) appears twice or a size is not positive.
    """
    _require_columns(df, _KL_COLUMNS, "df")
    table = df.loc[:, list(_KL_COLUMNS)].copy()
    table["class"] = table["class"].astype(int)
    if not np.all(table["size"].to_numpy(dtype=float) > 0):
        raise ValueError("every training-set size must be positive (the x axis is logarithmic)")
    keys = ["case", "size", "class"]
    duplicated = table.duplicated(keys)
    if duplicated.any():
        first = table.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"df has more than one row for {first}; aggregate repeats first")
    chosen_cases = _choose_cases(table, cases)
    classes = _choose_classes(table, class_order)
    name_of = _class_name_lookup(class_names)
    table = table[table["case"].isin(chosen_cases) & table["class"].isin(classes)]
    table["class_name"] = [name_of(value) for value in table["class"]]

    fig = Figure(figsize=(3.9 * len(classes) + 0.6, 4.6), layout="constrained")
    axes = fig.subplots(1, len(classes), squeeze=False)[0]
    for position, (ax, class_index) in enumerate(zip(axes, classes, strict=True)):
        for case in chosen_cases:
            style = CASE_STYLES[case]
            rows = table[(table["case"] == case) & (table["class"] == class_index)]
            rows = rows.sort_values("size")
            if rows.empty:
                continue
            size = rows["size"].to_numpy(dtype=float)
            mean = rows["mean_kl"].to_numpy(dtype=float)
            sem = rows["sem_kl"].to_numpy(dtype=float)
            # A non-positive mean cannot sit on a log axis; leave a gap rather than fake a value.
            mean = np.where(mean > 0, mean, np.nan)
            lower = np.where(mean - sem > 0, mean - sem, mean / 10.0)
            ax.fill_between(size, lower, mean + sem, color=style["color"], alpha=0.18, linewidth=0)
            ax.plot(
                size,
                mean,
                color=style["color"],
                linestyle=style["linestyle"],
                marker=style["marker"],
                markersize=3.5,
                linewidth=1.5,
            )
        _log_size_axis(ax)
        ax.set_yscale("log")
        ax.set_title(f"({chr(ord('a') + position)}) {name_of(class_index)}")
        ax.set_xlabel("training-set size")
        if position == 0:
            ax.set_ylabel(r"mean $D_\mathrm{KL}(P_\mathrm{true}\,\|\,P_\mathrm{model})$ (nats)")
    fig.legend(
        handles=_case_legend_handles(chosen_cases, with_ideal=False),
        loc="outside lower center",
        ncol=len(chosen_cases),
        frameon=False,
    )
    _suptitle(
        fig,
        title
        or "Mean Kullback–Leibler divergence of model from true probabilities, ±1 standard error",
        source_label,
    )
    data = table.sort_values(["case", "class", "size"], kind="stable")
    data = data.loc[:, [*_KL_COLUMNS[:3], "class_name", *_KL_COLUMNS[3:]]]
    save_figure(fig, data.reset_index(drop=True), pdf_path, png_path, csv_path, dpi=dpi)
    return fig


# --------------------------------------------------------------------------------------------
# Figures 6 and 7, recipe against recipe
# --------------------------------------------------------------------------------------------

#: How each training recipe is drawn when two are overlaid: the paper's recipe solid with
#: filled markers, the fast one dotted with open markers; the case keeps its colour.
RECIPE_STYLES: dict[str, dict] = {
    "paper": {"linestyle": "-", "fillstyle": "full", "linewidth": 1.7, "label": "paper recipe"},
    "fast": {"linestyle": ":", "fillstyle": "none", "linewidth": 1.4, "label": "fast recipe"},
}


def _check_recipes(table: pd.DataFrame) -> list[str]:
    """Return the recipes of ``table`` in :data:`RECIPE_STYLES` order, refusing unknown ones."""
    present = {str(recipe) for recipe in pd.unique(table["recipe"])}
    unknown = sorted(present - set(RECIPE_STYLES))
    if unknown:
        raise ValueError(f"unknown recipe(s) {unknown}; known recipes are {list(RECIPE_STYLES)}")
    return [recipe for recipe in RECIPE_STYLES if recipe in present]


def _recipe_table(df: pd.DataFrame, columns: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """Check and copy a recipe-comparison table (columns plus ``recipe``; unique ``keys``)."""
    _require_columns(df, ["recipe", *columns], "df")
    table = df.loc[:, ["recipe", *columns]].copy()
    table["class"] = table["class"].astype(int)
    if not np.all(table["size"].to_numpy(dtype=float) > 0):
        raise ValueError("every training-set size must be positive (the x axis is logarithmic)")
    duplicated = table.duplicated(["recipe", *keys])
    if duplicated.any():
        first = table.loc[duplicated, ["recipe", *keys]].iloc[0].to_dict()
        raise ValueError(f"df has more than one row for {first}; aggregate repeats first")
    return table


def _plot_recipe_lines(ax, rows: pd.DataFrame, case: str, recipe: str, value: str) -> None:
    """Draw one case of one recipe against training-set size, with a +-1 error band."""
    style, line = CASE_STYLES[case], RECIPE_STYLES[recipe]
    rows = rows.sort_values("size")
    size = rows["size"].to_numpy(dtype=float)
    mean = rows[value].to_numpy(dtype=float)
    error = rows["sem_kl" if value == "mean_kl" else "sigma"].to_numpy(dtype=float)
    if value == "mean_kl":
        mean = np.where(mean > 0, mean, np.nan)
        lower = np.where(mean - error > 0, mean - error, mean / 10.0)
    else:
        lower = mean - error
    ax.fill_between(size, lower, mean + error, color=style["color"], alpha=0.12, linewidth=0)
    ax.plot(
        size,
        mean,
        color=style["color"],
        linestyle=line["linestyle"],
        linewidth=line["linewidth"],
        marker=style["marker"],
        fillstyle=line["fillstyle"],
        markersize=4.5,
    )


def _recipe_legend(
    fig: Figure, cases: Sequence[str], recipes: Sequence[str], ncol: int | None = None
) -> None:
    """A legend of the cases (colour, marker) followed by the recipes (line style)."""
    handles = _case_legend_handles(cases, with_ideal=False)
    for handle in handles:
        handle.set_linestyle("-")
    for recipe in recipes:
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


@_with_style
def plot_kl_recipes(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str,
    class_names: Mapping[int, str] | Sequence[str],
    cases: Sequence[str] | None = None,
    dpi: int = 150,
) -> Figure:
    """Fig. 7 of Lake & Tsai (2022) with the curves of two training recipes overlaid.

    One panel per class, as :func:`plot_kl`; each case keeps its colour and marker, and the
    recipe is the line style (:data:`RECIPE_STYLES`).

    Parameters
    ----------
    df : pandas.DataFrame
        The columns of :func:`plot_kl` plus ``recipe`` ("paper" or "fast").
    pdf_path, png_path, csv_path : str or path-like
        Outputs; the CSV holds the rows plotted plus ``class_name``.
    source_label : str
        Second title line saying where the data come from.
    class_names : mapping or sequence
        Name of each class number.
    cases : sequence of str, optional
        Cases to draw; default those present, in the paper's order.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a column is missing, a recipe or case is unknown, or a (recipe, case, size, class)
        appears twice.
    """
    table = _recipe_table(df, _KL_COLUMNS, ["case", "size", "class"])
    recipes = _check_recipes(table)
    chosen_cases = _choose_cases(table, cases)
    classes = _choose_classes(table, None)
    name_of = _class_name_lookup(class_names)
    table = table[table["case"].isin(chosen_cases)]
    table["class_name"] = [name_of(value) for value in table["class"]]

    fig = Figure(figsize=(3.9 * len(classes) + 0.6, 4.9), layout="constrained")
    axes = fig.subplots(1, len(classes), squeeze=False)[0]
    for position, (ax, class_index) in enumerate(zip(axes, classes, strict=True)):
        for recipe in recipes:
            for case in chosen_cases:
                rows = table[
                    (table["recipe"] == recipe)
                    & (table["case"] == case)
                    & (table["class"] == class_index)
                ]
                if not rows.empty:
                    _plot_recipe_lines(ax, rows, case, recipe, "mean_kl")
        _log_size_axis(ax)
        ax.set_yscale("log")
        ax.set_title(f"({chr(ord('a') + position)}) {name_of(class_index)}")
        ax.set_xlabel("training-set size")
        if position == 0:
            ax.set_ylabel(r"mean $D_\mathrm{KL}(P_\mathrm{true}\,\|\,P_\mathrm{model})$ (nats)")
    _recipe_legend(fig, chosen_cases, recipes)
    _suptitle(
        fig,
        "Mean KL divergence from the true probabilities: "
        + " vs ".join(RECIPE_STYLES[r]["label"] for r in recipes),
        source_label,
    )
    data = table.sort_values(["recipe", "case", "class", "size"], kind="stable")
    save_figure(fig, data.reset_index(drop=True), pdf_path, png_path, csv_path, dpi=dpi)
    return fig


@_with_style
def plot_overshoot_recipes(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str,
    class_names: Mapping[int, str] | Sequence[str],
    class_index: int,
    cases: Sequence[str] | None = None,
    dpi: int = 150,
) -> Figure:
    """One class's column of Fig. 6 (e.g. the rare class) with two training recipes overlaid.

    Rows are completeness, reliability and F1 overshoot (Eqs. 9-11) against training-set size,
    with +-1 sigma bands; the recipe is the line style (:data:`RECIPE_STYLES`).

    Parameters
    ----------
    df : pandas.DataFrame
        The columns of :func:`plot_overshoot` plus ``recipe``.
    pdf_path, png_path, csv_path : str or path-like
        Outputs; the CSV holds the rows plotted plus ``class_name``.
    source_label : str
        Second title line saying where the data come from.
    class_names : mapping or sequence
        Name of each class number.
    class_index : int
        The class to show.
    cases : sequence of str, optional
        Cases to draw; default those present, in the paper's order.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a column is missing, a recipe, case or metric is unknown, the class has no rows, or
        a (recipe, case, size, class, metric) appears twice.
    """
    table = _recipe_table(df, _OVERSHOOT_COLUMNS, ["case", "size", "class", "metric"])
    unknown_metrics = sorted(set(table["metric"]) - set(METRIC_LABELS))
    if unknown_metrics:
        raise ValueError(f"unknown metric(s) {unknown_metrics}; expected {list(METRIC_LABELS)}")
    recipes = _check_recipes(table)
    chosen_cases = _choose_cases(table, cases)
    _choose_classes(table, [class_index])
    name_of = _class_name_lookup(class_names)
    table = table[table["case"].isin(chosen_cases) & (table["class"] == int(class_index))]
    table["class_name"] = name_of(int(class_index))
    metrics = [metric for metric in METRIC_LABELS if metric in set(table["metric"])]

    fig = Figure(figsize=(6.4, 2.5 * len(metrics) + 1.6), layout="constrained")
    axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
    ideal = CASE_STYLES["ideal"]
    for ax, metric in zip(axes, metrics, strict=True):
        ax.axhline(0.0, color=ideal["color"], linestyle=ideal["linestyle"], linewidth=1.0)
        for recipe in recipes:
            for case in chosen_cases:
                rows = table[
                    (table["recipe"] == recipe)
                    & (table["case"] == case)
                    & (table["metric"] == metric)
                ]
                if not rows.empty:
                    _plot_recipe_lines(ax, rows, case, recipe, "overshoot")
        _log_size_axis(ax)
        ax.set_ylabel(f"{METRIC_LABELS[metric]}\novershoot")
    axes[-1].set_xlabel("training-set size")
    _recipe_legend(fig, chosen_cases, recipes, ncol=4)
    _suptitle(
        fig,
        f"Overshoot of {name_of(int(class_index))}, ±1σ bands: "
        + " vs ".join(RECIPE_STYLES[r]["label"] for r in recipes),
        source_label,
    )
    data = table.sort_values(["recipe", "case", "metric", "size"], kind="stable")
    save_figure(fig, data.reset_index(drop=True), pdf_path, png_path, csv_path, dpi=dpi)
    return fig
