"""Figs. 1-3 of Lake & Tsai (2022): the analytic illustrations, drawn from tidy tables.

The numbers come from :mod:`deweight.illustrations` (no training); this module only plots
them. Figs. 1 and 2 show two Gaussian classes, unweighted and weighted, and what a weighted
model implies on unweighted data; Fig. 3 shows slices of the simulated feature space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.integrate import trapezoid

from deweight.figures.style import (
    _BLACK,
    _CHANNEL_NAMES,
    _GREY,
    _HALF_PROBABILITY_LINESTYLES,
    _ILLUSTRATION_HATCHES,
    _ILLUSTRATION_SOURCE,
    _SIMULATION_SOURCE,
    ILLUSTRATION_CLASS_COLOURS,
    SIMULATION_CLASS_CHANNELS,
    _Drawn,
    _figure_function,
    _format_percent,
    _require_columns,
)

_FIG1_COLUMNS = (
    "x",
    "L0",
    "L1",
    "L0_weighted",
    "L1_weighted",
    "P0",
    "P1",
    "P0_weighted",
    "P1_weighted",
)
_FIG2_COLUMNS = (*_FIG1_COLUMNS, "L_total", "L0_apparent", "L1_apparent")
_FIG2_SUMMARY_COLUMNS = ("class", "true_fraction", "model_prior", "implied_fraction")
_FIG3_COLUMNS = (
    "slice",
    "horizontal_feature",
    "vertical_feature",
    "horizontal",
    "vertical",
    "log10_density",
    "P0",
    "P1",
    "P2",
)
# --------------------------------------------------------------------------------------------
# Figures 1 and 2: two Gaussian classes
# --------------------------------------------------------------------------------------------


def _crossovers(x: np.ndarray, difference: np.ndarray) -> list[float]:
    """Return the x values where ``difference`` changes sign, by linear interpolation."""
    sign = np.sign(difference)
    crossings = []
    for index in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        x0, x1 = x[index], x[index + 1]
        d0, d1 = difference[index], difference[index + 1]
        crossings.append(float(x0 - d0 * (x1 - x0) / (d1 - d0)))
    crossings.extend(float(value) for value in x[sign == 0])
    return sorted(crossings)


@dataclass(frozen=True)
class _Panel:
    """One column of Fig. 1 or 2: the columns it draws and how its titles and legend name them.

    ``density_label`` is a template of the class number ``{i}``; ``abundance`` is the column of
    Fig. 2's summary that the title states (Fig. 1 integrates the densities instead);
    ``quantity`` is what Fig. 2's CSV calls the densities.
    """

    name: str
    title: str
    densities: tuple[str, str]
    density_label: str
    probabilities: tuple[str, str]
    probability_symbol: str
    abundance_name: str
    abundance: str = ""
    quantity: str = "density"
    bar: bool = True
    reference: tuple[str, ...] = ()

    def curves(self, table: pd.DataFrame) -> tuple[list[np.ndarray], ...]:
        """The panel's densities, probabilities and reference (true) densities, as arrays."""
        return tuple(
            [table[column].to_numpy(dtype=float) for column in columns]
            for columns in (self.densities, self.probabilities, self.reference)
        )


def _weighting_panel(name: str, weighted: bool, title: str, abundance_name: str, abundance=""):
    """A panel of class densities and probabilities, unweighted or weighted (Eq. 8)."""
    suffix, mark = ("_weighted", "_w") if weighted else ("", "")
    return _Panel(
        name=name,
        title=title,
        densities=(f"L0{suffix}", f"L1{suffix}"),
        density_label=f"$\\mathcal{{L}}{mark}({{i}}, x)$",
        probabilities=(f"P0{suffix}", f"P1{suffix}"),
        probability_symbol=f"P{mark}",
        abundance_name=abundance_name,
        abundance=abundance,
    )


_FIG1_PANELS = (
    _weighting_panel("a", False, "(a) unweighted", "abundance $P(i)$"),
    _weighting_panel(
        "b", True, "(b) weighted to balance, $w_i = 1/P(i)$", "weighted abundance $P_w(i)$"
    ),
)
_FIG2_PANELS = (
    _weighting_panel("a", False, "(a) unweighted data", "true abundance $P(i)$", "true_fraction"),
    _weighting_panel(
        "b", True, "(b) weighted data, $w_i = 1/P(i)$", "model prior $P_w(i)$, Eq. 7", "model_prior"
    ),
    _Panel(
        name="c",
        title="(c) weighted model on unweighted, unlabelled data",
        densities=("L0_apparent", "L1_apparent"),
        density_label=r"$P_w({i}|x)\,\mathcal{L}(x)$",
        probabilities=("P0_weighted", "P1_weighted"),
        probability_symbol="P_w",
        abundance_name="mean $P_w(i|x)$, Eq. 13",
        abundance="implied_fraction",
        quantity="apparent_density",
        bar=False,
        reference=("L0", "L1"),
    ),
)


def _draw_curves(
    ax_density, ax_probability, x, densities, probabilities, labels, symbol, reference
):
    """The class densities (filled; dotted true ones in ``reference``) and probabilities."""
    for density, colour, label in zip(densities, ILLUSTRATION_CLASS_COLOURS, labels, strict=True):
        ax_density.fill_between(x, density, color=colour, alpha=0.3, linewidth=0)
        ax_density.plot(x, density, color=colour, linewidth=1.8, label=label)
    for i, density in enumerate(reference):
        colour = ILLUSTRATION_CLASS_COLOURS[i]
        label = f"true $\\mathcal{{L}}({i}, x)$"
        ax_density.plot(x, density, color=colour, linewidth=1.2, linestyle=":", label=label)
    for i, (probability, colour) in enumerate(
        zip(probabilities, ILLUSTRATION_CLASS_COLOURS, strict=True)
    ):
        ax_probability.plot(
            x,
            probability,
            color=colour,
            linewidth=1.8,
            linestyle="-" if i == 0 else "--",
            label=f"${symbol}({i}|x)$",
        )


def _draw_boundaries(ax_density, ax_probability, x, probabilities) -> None:
    """Dotted vertical lines where the probabilities cross: the Bayes classifier's boundaries."""
    boundaries = _crossovers(x, probabilities[0] - probabilities[1])
    for boundary in boundaries:
        for ax in (ax_density, ax_probability):
            ax.axvline(boundary, color=_GREY, linestyle=":", linewidth=1.2)
    if boundaries:
        # A legend entry, not loose text, so it can never land on a curve.
        label = "Bayes boundary, x = " + ", ".join(f"{value:.2f}" for value in boundaries)
        ax_probability.plot([], [], color=_GREY, linestyle=":", linewidth=1.2, label=label)


def _draw_bar(ax, x, densities, bar_x: float, symbol: str) -> None:
    """A striped bar at ``bar_x`` stacking the class densities there, annotated with shares.

    The fraction of the bar in each colour is that class's probability (Eq. 1), as in the
    paper's Fig. 1.
    """
    heights = [float(np.interp(bar_x, x, density)) for density in densities]
    width = 0.02 * (x.max() - x.min())
    bottom = 0.0
    for i, height in enumerate(heights):
        ax.bar(
            bar_x,
            height,
            width=width,
            bottom=bottom,
            color=ILLUSTRATION_CLASS_COLOURS[i],
            hatch=_ILLUSTRATION_HATCHES[i],
            edgecolor="white",
            linewidth=0.0,
            zorder=3,
        )
        bottom += height
    ax.bar(bar_x, bottom, width=width, fill=False, edgecolor=_BLACK, linewidth=0.8, zorder=4)
    shares = [height / bottom for height in heights]
    ax.annotate(
        f"bar at x = {bar_x:g}:\n"
        + "\n".join(f"${symbol}({i}|x)$ = {share:.2f}" for i, share in enumerate(shares)),
        xy=(bar_x + width / 2, bottom),
        # Right of centre and below the top: clear of both class peaks for any weighting.
        xytext=(0.98, 0.62),
        textcoords="axes fraction",
        ha="right",
        va="top",
        fontsize=9,
        arrowprops={"arrowstyle": "-", "color": _GREY, "linewidth": 0.8},
    )


def _draw_two_class_panel(
    ax_density,
    ax_probability,
    x: np.ndarray,
    panel: _Panel,
    columns: pd.DataFrame,
    bar_x: float | None,
) -> None:
    """Draw one column of Fig. 1 or 2: class densities above, class probabilities below."""
    densities, probabilities, reference = panel.curves(columns)
    labels = [panel.density_label.replace("{i}", str(i)) for i in range(2)]
    symbol = panel.probability_symbol
    _draw_curves(ax_density, ax_probability, x, densities, probabilities, labels, symbol, reference)
    _draw_boundaries(ax_density, ax_probability, x, probabilities)
    if panel.bar and bar_x is not None and x.min() <= bar_x <= x.max():
        _draw_bar(ax_density, x, densities, bar_x, symbol)
    ax_density.set_ylim(bottom=0)
    ax_density.set_ylabel("density per unit x")
    ax_density.legend(loc="upper left", frameon=False)
    ax_probability.set_ylim(-0.03, 1.03)
    ax_probability.set_ylabel("probability")
    ax_probability.set_xlabel("feature x")
    ax_probability.legend(loc="center left", frameon=False, fontsize=8.5)
    ax_probability.set_xlim(x.min(), x.max())


def _integrated_fractions(x: np.ndarray, densities: Sequence[np.ndarray]) -> np.ndarray:
    """Return each density's share of the summed integral over the grid (trapezoid rule)."""
    integrals = np.array([trapezoid(density, x) for density in densities])
    return integrals / integrals.sum()


def _sorted_by_x(table: pd.DataFrame) -> pd.DataFrame:
    """Return ``table`` sorted by x, rejecting non-finite x values."""
    if not np.all(np.isfinite(table["x"].to_numpy(dtype=float))):
        raise ValueError("column 'x' contains a non-finite value")
    return table.sort_values("x", kind="stable").reset_index(drop=True)


def _abundance_text(shares: Sequence[float]) -> str:
    """Format a two-class abundance as "90% : 10% (ratio 9.00)"."""
    ratio = shares[0] / shares[1] if shares[1] > 0 else float("inf")
    return f"{_format_percent(shares[0])} : {_format_percent(shares[1])} (ratio {ratio:.2f})"


@_figure_function(source_label=_ILLUSTRATION_SOURCE)
def plot_fig1(df: pd.DataFrame, *, bar_x: float | None = 1.5) -> _Drawn:
    """Draw Fig. 1 of Lake & Tsai (2022): how weighting shifts two-class probabilities.

    Panel (a) is unweighted, panel (b) weighted to balance the classes. The top row shows the
    class densities ``L(i, x)`` (filled), the bottom row the class probabilities ``P(i|x)``
    (Eqs. 1 and 8). A striped bar at ``bar_x`` stacks the class densities there: the share of
    each colour is that class's probability. Dotted vertical lines mark the Bayes boundaries
    (where the probabilities cross). Panel titles give each class's share of the integrated
    density, i.e. the (weighted) prior.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`deweight.illustrations.two_gaussian_illustration`; needs columns ``x``,
        ``L0``, ``L1``, ``L0_weighted``, ``L1_weighted``, ``P0``, ``P1``, ``P0_weighted``,
        ``P1_weighted``. The CSV holds these columns, sorted by x.
    bar_x : float or None, default 1.5
        Where to draw the striped bar; None for no bar.

    Raises
    ------
    ValueError
        If a required column is missing (the message names it) or x is not finite.
    """
    _require_columns(df, _FIG1_COLUMNS, "df")
    table = _sorted_by_x(df.loc[:, list(_FIG1_COLUMNS)])
    return _draw_fig1(table, bar_x)


def _draw_fig1(table: pd.DataFrame, bar_x) -> _Drawn:
    """Fig. 1 of a checked table: two panels of densities over probabilities."""
    x = table["x"].to_numpy(dtype=float)
    fig = Figure(figsize=(11.0, 6.4), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, height_ratios=(2, 1))
    for column, panel in enumerate(_FIG1_PANELS):
        _draw_two_class_panel(axes[0, column], axes[1, column], x, panel, table, bar_x)
        shares = _integrated_fractions(x, panel.curves(table)[0])
        axes[0, column].set_title(
            f"{panel.title}\n{panel.abundance_name}: {_abundance_text(shares)}"
        )
    title = "Fig. 1: classification of two Gaussian classes, unweighted and weighted"
    return _Drawn(fig, title, table)


@_figure_function(source_label=_ILLUSTRATION_SOURCE)
def plot_fig2(
    df_curves: pd.DataFrame, df_summary: pd.DataFrame, *, bar_x: float | None = 1.5
) -> _Drawn:
    """Draw Fig. 2 of Lake & Tsai (2022): the prediction-consistent-prior illustration.

    Panels (a) and (b) repeat Fig. 1. Panel (c) applies the weighted model to unweighted,
    unlabelled data: the filled curves are the "apparent" class densities
    ``P_w(i|x) L(x)``, the dotted ones the true class densities. Each panel states a class
    abundance ratio: (a) the true prior ``P(i)``, (b) the weighted model's prior ``P_w(i)``
    (Eq. 7) and (c) the mean model probability over the unlabelled data (Eq. 13). That (b) and
    (c) disagree is the sign that the model's prior is wrong for these data.

    Parameters
    ----------
    df_curves : pandas.DataFrame
        ``curves`` from :func:`deweight.illustrations.pcp_illustration`: the Fig. 1 columns
        plus ``L_total``, ``L0_apparent``, ``L1_apparent``.
    df_summary : pandas.DataFrame
        ``summary`` from the same function: columns ``class``, ``true_fraction``,
        ``model_prior``, ``implied_fraction``, one row for class 0 and one for class 1.
    bar_x : float or None, default 1.5
        Where to draw the striped bar in panels (a) and (b).
    The CSV is long: columns ``panel`` ("a", "b", "c"), ``quantity`` ("density",
    "probability", "apparent_density", "true_density" or "abundance"), ``class``, ``x``
    (empty for abundances) and ``value``.

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), the summary does not have
        exactly classes 0 and 1, or x is not finite.
    """
    _require_columns(df_curves, _FIG2_COLUMNS, "df_curves")
    _require_columns(df_summary, _FIG2_SUMMARY_COLUMNS, "df_summary")
    curves = _sorted_by_x(df_curves.loc[:, list(_FIG2_COLUMNS)])
    summary = df_summary.loc[:, list(_FIG2_SUMMARY_COLUMNS)].copy()
    if sorted(summary["class"].astype(int).tolist()) != [0, 1]:
        raise ValueError(
            "df_summary must have one row for class 0 and one for class 1, "
            f"got classes {summary['class'].tolist()}"
        )
    summary = summary.set_index(summary["class"].astype(int)).sort_index()
    return _draw_fig2(curves, summary, bar_x)


def _fig2_rows(panel: _Panel, x: np.ndarray, curves: pd.DataFrame, abundance) -> list:
    """The long rows of Fig. 2's CSV for one panel: its curves, then its abundances."""
    densities, probabilities, reference = panel.curves(curves)
    series = [(panel.quantity, densities), ("probability", probabilities)]
    if reference:
        series.append(("true_density", reference))
    rows = [
        pd.DataFrame(
            {"panel": panel.name, "quantity": quantity, "class": i, "x": x, "value": values[i]}
        )
        for quantity, values in series
        for i in range(2)
    ]
    abundances = {"panel": panel.name, "quantity": "abundance", "class": [0, 1], "x": np.nan}
    return [*rows, pd.DataFrame({**abundances, "value": abundance})]


def _draw_fig2(curves, summary, bar_x) -> _Drawn:
    """Fig. 2 of checked tables: three panels of densities over probabilities."""
    x = curves["x"].to_numpy(dtype=float)
    fig = Figure(figsize=(15.0, 6.8), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, height_ratios=(2, 1))
    long_tables = []
    for index, panel in enumerate(_FIG2_PANELS):
        _draw_two_class_panel(axes[0, index], axes[1, index], x, panel, curves, bar_x)
        abundance = summary[panel.abundance].to_numpy(dtype=float)
        axes[0, index].set_title(
            f"{panel.title}\n{panel.abundance_name}: {_abundance_text(abundance)}"
        )
        long_tables += _fig2_rows(panel, x, curves, abundance)
    title = "Fig. 2: a weighted model's prior versus the abundance it implies on unweighted data"
    return _Drawn(fig, title, pd.concat(long_tables, ignore_index=True))


# --------------------------------------------------------------------------------------------
# Figure 3: slices of the simulated feature space
# --------------------------------------------------------------------------------------------


def _slice_grid(table: pd.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pivot one slice's ``value`` column into an image (rows = vertical, columns = horizontal)."""
    grid = table.pivot(index="vertical", columns="horizontal", values=value).sort_index()
    grid = grid.sort_index(axis=1)
    return grid.columns.to_numpy(dtype=float), grid.index.to_numpy(dtype=float), grid.to_numpy()


def _image_extent(horizontal: np.ndarray, vertical: np.ndarray) -> tuple[float, ...]:
    """Return an imshow extent whose pixels are centred on the grid points."""

    def edges(values: np.ndarray) -> tuple[float, float]:
        step = (values[-1] - values[0]) / max(len(values) - 1, 1)
        return values[0] - step / 2, values[-1] + step / 2

    return (*edges(horizontal), *edges(vertical))


@_figure_function(source_label=_SIMULATION_SOURCE)
def plot_fig3(slices_df: pd.DataFrame) -> _Drawn:
    """Draw Fig. 3 of Lake & Tsai (2022): slices through the simulated feature space.

    One row per slice (the table's order, normally (x0, x2) then (x0, x1)). Left: log10 of the
    total density. Right: the class probabilities as an RGB image, class 0 in green, class 1 in
    blue and class 2 in red, so each pixel's channels sum to full intensity and the share of
    each channel is that class's probability (as in the paper). Saturated colours are where
    one class dominates; mixtures show as blends. Black lines (solid, dashed, dotted for
    classes 0, 1, 2) mark where a class's probability is 0.5, so that the figure can be read
    without telling red from green.

    Parameters
    ----------
    slices_df : pandas.DataFrame
        From :func:`deweight.illustrations.simulation_slices`; needs columns ``slice``,
        ``horizontal_feature``, ``vertical_feature``, ``horizontal``, ``vertical``,
        ``log10_density``, ``P0``, ``P1``, ``P2``, with a full rectangular grid per slice.
        The CSV holds these columns, floats to six significant digits.

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a slice's grid has holes or
        a probability is negative or not finite.
    """
    _require_columns(slices_df, _FIG3_COLUMNS, "slices_df")
    table = slices_df.loc[:, list(_FIG3_COLUMNS)].reset_index(drop=True)
    probabilities = table[["P0", "P1", "P2"]].to_numpy(dtype=float)
    if np.any(probabilities < 0) or not np.all(np.isfinite(probabilities)):
        raise ValueError("P0, P1 and P2 must be finite and non-negative")
    for slice_name, part in table.groupby("slice", sort=False):
        if len(part) != part["horizontal"].nunique() * part["vertical"].nunique():
            raise ValueError(f"slice {slice_name!r} is not a full rectangular grid")
    return _draw_fig3(table)


def _draw_slice(fig, ax_density, ax_classes, part: pd.DataFrame) -> None:
    """One row of Fig. 3: a slice's log density and its class probabilities as RGB."""
    horizontal_name = str(part["horizontal_feature"].iloc[0])
    vertical_name = str(part["vertical_feature"].iloc[0])
    fixed = sorted({"x0", "x1", "x2", "x3"} - {horizontal_name, vertical_name})
    description = f"({horizontal_name}, {vertical_name}) with " + " = ".join(fixed) + " = 0"
    horizontal, vertical, log_density = _slice_grid(part, "log10_density")
    extent = _image_extent(horizontal, vertical)
    image = ax_density.imshow(
        log_density,
        origin="lower",
        extent=extent,
        cmap="viridis",
        aspect="equal",
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax_density, label="log$_{10}$ density", shrink=0.9)
    ax_density.set_title(f"total density, {description}")
    rgb = np.zeros((*log_density.shape, 3))
    for class_index, channel in SIMULATION_CLASS_CHANNELS.items():
        rgb[..., channel] = _slice_grid(part, f"P{class_index}")[2]
    # Rows already sum to one; dividing again only removes rounding so imshow never clips.
    rgb /= rgb.sum(axis=-1, keepdims=True)
    ax_classes.imshow(rgb, origin="lower", extent=extent, aspect="equal", interpolation="nearest")
    # The paper's red/green encoding is lost on red-green colour-blind readers, so the
    # line where each class reaches P = 0.5 is drawn too, in line styles that need no colour.
    for class_index, channel in SIMULATION_CLASS_CHANNELS.items():
        probability = rgb[..., channel]
        if probability.min() < 0.5 < probability.max():
            ax_classes.contour(
                horizontal,
                vertical,
                probability,
                levels=[0.5],
                colors=_BLACK,
                linestyles=[_HALF_PROBABILITY_LINESTYLES[class_index]],
                linewidths=1.4,
            )
    ax_classes.set_title(f"class probabilities, {description}")
    for ax in (ax_density, ax_classes):
        ax.set_xlabel(horizontal_name)
        ax.set_ylabel(vertical_name)


def _fig3_key() -> list:
    """Legend of Fig. 3: the colour of each class, then the line style of its P = 0.5 line."""
    key = [
        Patch(facecolor=np.eye(3)[channel], label=f"class {index} ({_CHANNEL_NAMES[channel]})")
        for index, channel in SIMULATION_CLASS_CHANNELS.items()
    ]
    return key + [
        Line2D(
            [],
            [],
            color=_BLACK,
            linestyle=_HALF_PROBABILITY_LINESTYLES[index],
            linewidth=1.4,
            label=f"$P({index}|x) = 0.5$",
        )
        for index in SIMULATION_CLASS_CHANNELS
    ]


def _draw_fig3(table: pd.DataFrame) -> _Drawn:
    """Fig. 3 of a checked table: one row of two images per slice, and the colour key."""
    slice_names = list(pd.unique(table["slice"]))
    fig = Figure(figsize=(10.0, 4.3 * len(slice_names) + 0.9), layout="constrained")
    axes = fig.subplots(len(slice_names), 2, squeeze=False)
    for row, slice_name in enumerate(slice_names):
        _draw_slice(fig, axes[row, 0], axes[row, 1], table[table["slice"] == slice_name])
    fig.legend(
        handles=_fig3_key(),
        loc="outside lower right",
        ncol=2,
        frameon=False,
        title="right column: share of red, green, blue = class probability $P(i|x)$",
    )
    # Six significant digits are far below what an image can show and keep the CSV of a
    # 201 x 201 grid to a few megabytes.
    title = "Fig. 3: slices of the simulated feature space"
    return _Drawn(fig, title, table, float_format="%.6g")
