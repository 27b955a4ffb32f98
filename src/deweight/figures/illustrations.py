"""Figs. 1-3 of Lake & Tsai (2022): the two-Gaussian illustrations and slices of the simulation.

The numbers come from :mod:`deweight.illustrations` (analytic, nothing trained).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.integrate import trapezoid

from deweight.figures.style import (
    _BLACK,
    _CHANNEL_NAMES,
    _FIG1_COLUMNS,
    _FIG2_COLUMNS,
    _FIG2_SUMMARY_COLUMNS,
    _FIG3_COLUMNS,
    _GREY,
    _HALF_PROBABILITY_LINESTYLES,
    _ILLUSTRATION_HATCHES,
    _ILLUSTRATION_SOURCE,
    _SIMULATION_SOURCE,
    ILLUSTRATION_CLASS_COLOURS,
    SIMULATION_CLASS_CHANNELS,
    PathLike,
    _format_percent,
    _require_columns,
    _suptitle,
    _with_style,
    save_figure,
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


def _draw_two_class_panel(
    ax_density,
    ax_probability,
    x: np.ndarray,
    densities: Sequence[np.ndarray],
    probabilities: Sequence[np.ndarray],
    *,
    density_labels: Sequence[str],
    probability_symbol: str,
    bar_x: float | None,
    reference_densities: Sequence[np.ndarray] | None = None,
) -> None:
    """Draw one column of Fig. 1 or 2: class densities above, class probabilities below.

    The striped bar at ``bar_x`` stacks the two class densities there, so the fraction of the
    bar in each colour is that class's probability (Eq. 1), as in the paper's Fig. 1. Dotted
    vertical lines mark where the probabilities cross: the Bayes classifier's boundaries.
    """
    for density, colour, label in zip(
        densities, ILLUSTRATION_CLASS_COLOURS, density_labels, strict=True
    ):
        ax_density.fill_between(x, density, color=colour, alpha=0.3, linewidth=0)
        ax_density.plot(x, density, color=colour, linewidth=1.8, label=label)
    if reference_densities is not None:
        for i, (density, colour) in enumerate(
            zip(reference_densities, ILLUSTRATION_CLASS_COLOURS, strict=True)
        ):
            ax_density.plot(
                x,
                density,
                color=colour,
                linewidth=1.2,
                linestyle=":",
                label=f"true $\\mathcal{{L}}({i}, x)$",
            )
    for i, (probability, colour) in enumerate(
        zip(probabilities, ILLUSTRATION_CLASS_COLOURS, strict=True)
    ):
        ax_probability.plot(
            x,
            probability,
            color=colour,
            linewidth=1.8,
            linestyle="-" if i == 0 else "--",
            label=f"${probability_symbol}({i}|x)$",
        )
    boundaries = _crossovers(x, probabilities[0] - probabilities[1])
    for boundary in boundaries:
        for ax in (ax_density, ax_probability):
            ax.axvline(boundary, color=_GREY, linestyle=":", linewidth=1.2)
    if boundaries:
        # A legend entry, not loose text, so it can never land on a curve.
        ax_probability.plot(
            [],
            [],
            color=_GREY,
            linestyle=":",
            linewidth=1.2,
            label="Bayes boundary, x = " + ", ".join(f"{value:.2f}" for value in boundaries),
        )
    if bar_x is not None and x.min() <= bar_x <= x.max():
        heights = [float(np.interp(bar_x, x, density)) for density in densities]
        width = 0.02 * (x.max() - x.min())
        bottom = 0.0
        for i, height in enumerate(heights):
            ax_density.bar(
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
        ax_density.bar(
            bar_x, bottom, width=width, fill=False, edgecolor=_BLACK, linewidth=0.8, zorder=4
        )
        shares = [height / bottom for height in heights]
        ax_density.annotate(
            f"bar at x = {bar_x:g}:\n"
            + "\n".join(
                f"${probability_symbol}({i}|x)$ = {share:.2f}" for i, share in enumerate(shares)
            ),
            xy=(bar_x + width / 2, bottom),
            # Right of centre and below the top: clear of both class peaks for any weighting.
            xytext=(0.98, 0.62),
            textcoords="axes fraction",
            ha="right",
            va="top",
            fontsize=9,
            arrowprops={"arrowstyle": "-", "color": _GREY, "linewidth": 0.8},
        )
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


@_with_style
def plot_fig1(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    bar_x: float | None = 1.5,
    source_label: str = _ILLUSTRATION_SOURCE,
    dpi: int = 150,
) -> Figure:
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
        ``P1_weighted``.
    pdf_path, png_path, csv_path : str or path-like
        Outputs. The CSV holds the columns above, sorted by x.
    bar_x : float or None, default 1.5
        Where to draw the striped bar; None for no bar.
    source_label : str
        Second title line saying where the numbers come from.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a required column is missing (the message names it) or x is not finite.
    """
    _require_columns(df, _FIG1_COLUMNS, "df")
    table = _sorted_by_x(df.loc[:, list(_FIG1_COLUMNS)])
    x = table["x"].to_numpy(dtype=float)
    fig = Figure(figsize=(11.0, 6.4), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, height_ratios=(2, 1))
    panels = (
        ("", r"\mathcal{L}", "P", "(a) unweighted", "abundance $P(i)$"),
        (
            "_weighted",
            r"\mathcal{L}_w",
            "P_w",
            "(b) weighted to balance, $w_i = 1/P(i)$",
            "weighted abundance $P_w(i)$",
        ),
    )
    for column, (suffix, density_symbol, probability_symbol, name, abundance_name) in enumerate(
        panels
    ):
        densities = [table[f"L{i}{suffix}"].to_numpy(dtype=float) for i in range(2)]
        probabilities = [table[f"P{i}{suffix}"].to_numpy(dtype=float) for i in range(2)]
        _draw_two_class_panel(
            axes[0, column],
            axes[1, column],
            x,
            densities,
            probabilities,
            density_labels=[f"${density_symbol}({i}, x)$" for i in range(2)],
            probability_symbol=probability_symbol,
            bar_x=bar_x,
        )
        shares = _integrated_fractions(x, densities)
        axes[0, column].set_title(f"{name}\n{abundance_name}: {_abundance_text(shares)}")
    _suptitle(
        fig, "Fig. 1: classification of two Gaussian classes, unweighted and weighted", source_label
    )
    save_figure(fig, table, pdf_path, png_path, csv_path, dpi=dpi)
    return fig


@_with_style
def plot_fig2(
    df_curves: pd.DataFrame,
    df_summary: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    bar_x: float | None = 1.5,
    source_label: str = _ILLUSTRATION_SOURCE,
    dpi: int = 150,
) -> Figure:
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
    pdf_path, png_path, csv_path : str or path-like
        Outputs. The CSV is long: columns ``panel`` ("a", "b", "c"), ``quantity``
        ("density", "probability", "apparent_density", "true_density" or "abundance"),
        ``class``, ``x`` (empty for abundances) and ``value``.
    bar_x : float or None, default 1.5
        Where to draw the striped bar in panels (a) and (b).
    source_label : str
        Second title line saying where the numbers come from.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

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
    x = curves["x"].to_numpy(dtype=float)

    def column(name: str) -> np.ndarray:
        return curves[name].to_numpy(dtype=float)

    panels = (
        {
            "panel": "a",
            "title": "(a) unweighted data",
            "densities": [column("L0"), column("L1")],
            "density_labels": [r"$\mathcal{L}(0, x)$", r"$\mathcal{L}(1, x)$"],
            "density_quantity": "density",
            "probabilities": [column("P0"), column("P1")],
            "probability_symbol": "P",
            "abundance": summary["true_fraction"].to_numpy(dtype=float),
            "abundance_name": "true abundance $P(i)$",
            "bar_x": bar_x,
        },
        {
            "panel": "b",
            "title": "(b) weighted data, $w_i = 1/P(i)$",
            "densities": [column("L0_weighted"), column("L1_weighted")],
            "density_labels": [r"$\mathcal{L}_w(0, x)$", r"$\mathcal{L}_w(1, x)$"],
            "density_quantity": "density",
            "probabilities": [column("P0_weighted"), column("P1_weighted")],
            "probability_symbol": "P_w",
            "abundance": summary["model_prior"].to_numpy(dtype=float),
            "abundance_name": "model prior $P_w(i)$, Eq. 7",
            "bar_x": bar_x,
        },
        {
            "panel": "c",
            "title": "(c) weighted model on unweighted, unlabelled data",
            "densities": [column("L0_apparent"), column("L1_apparent")],
            "density_labels": [r"$P_w(0|x)\,\mathcal{L}(x)$", r"$P_w(1|x)\,\mathcal{L}(x)$"],
            "density_quantity": "apparent_density",
            "probabilities": [column("P0_weighted"), column("P1_weighted")],
            "probability_symbol": "P_w",
            "abundance": summary["implied_fraction"].to_numpy(dtype=float),
            "abundance_name": "mean $P_w(i|x)$, Eq. 13",
            "bar_x": None,
            "reference": [column("L0"), column("L1")],
        },
    )
    fig = Figure(figsize=(15.0, 6.8), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, height_ratios=(2, 1))
    long_tables = []
    for index, panel in enumerate(panels):
        _draw_two_class_panel(
            axes[0, index],
            axes[1, index],
            x,
            panel["densities"],
            panel["probabilities"],
            density_labels=panel["density_labels"],
            probability_symbol=panel["probability_symbol"],
            bar_x=panel["bar_x"],
            reference_densities=panel.get("reference"),
        )
        abundance = panel["abundance"]
        axes[0, index].set_title(
            f"{panel['title']}\n{panel['abundance_name']}: {_abundance_text(abundance)}"
        )
        series = [
            (panel["density_quantity"], panel["densities"]),
            ("probability", panel["probabilities"]),
        ]
        if "reference" in panel:
            series.append(("true_density", panel["reference"]))
        for quantity, curves_of_class in series:
            for i in range(2):
                long_tables.append(
                    pd.DataFrame(
                        {
                            "panel": panel["panel"],
                            "quantity": quantity,
                            "class": i,
                            "x": x,
                            "value": curves_of_class[i],
                        }
                    )
                )
        long_tables.append(
            pd.DataFrame(
                {
                    "panel": panel["panel"],
                    "quantity": "abundance",
                    "class": [0, 1],
                    "x": np.nan,
                    "value": abundance,
                }
            )
        )
    _suptitle(
        fig,
        "Fig. 2: a weighted model's prior versus the abundance it implies on unweighted data",
        source_label,
    )
    data = pd.concat(long_tables, ignore_index=True)
    save_figure(fig, data, pdf_path, png_path, csv_path, dpi=dpi)
    return fig


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


@_with_style
def plot_fig3(
    slices_df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str = _SIMULATION_SOURCE,
    dpi: int = 150,
) -> Figure:
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
    pdf_path, png_path, csv_path : str or path-like
        Outputs; the CSV holds the columns above, floats to six significant digits.
    source_label : str
        Second title line saying where the numbers come from.
    dpi : int, default 150
        PNG resolution.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), a slice's grid has holes or
        a probability is negative or not finite.
    """
    _require_columns(slices_df, _FIG3_COLUMNS, "slices_df")
    table = slices_df.loc[:, list(_FIG3_COLUMNS)].reset_index(drop=True)
    slice_names = list(pd.unique(table["slice"]))
    probabilities = table[["P0", "P1", "P2"]].to_numpy(dtype=float)
    if np.any(probabilities < 0) or not np.all(np.isfinite(probabilities)):
        raise ValueError("P0, P1 and P2 must be finite and non-negative")
    fig = Figure(figsize=(10.0, 4.3 * len(slice_names) + 0.9), layout="constrained")
    axes = fig.subplots(len(slice_names), 2, squeeze=False)
    for row, slice_name in enumerate(slice_names):
        part = table[table["slice"] == slice_name]
        horizontal_name = str(part["horizontal_feature"].iloc[0])
        vertical_name = str(part["vertical_feature"].iloc[0])
        fixed = sorted({"x0", "x1", "x2", "x3"} - {horizontal_name, vertical_name})
        description = f"({horizontal_name}, {vertical_name}) with " + " = ".join(fixed) + " = 0"
        if len(part) != part["horizontal"].nunique() * part["vertical"].nunique():
            raise ValueError(f"slice {slice_name!r} is not a full rectangular grid")
        horizontal, vertical, log_density = _slice_grid(part, "log10_density")
        extent = _image_extent(horizontal, vertical)
        image = axes[row, 0].imshow(
            log_density,
            origin="lower",
            extent=extent,
            cmap="viridis",
            aspect="equal",
            interpolation="nearest",
        )
        fig.colorbar(image, ax=axes[row, 0], label="log$_{10}$ density", shrink=0.9)
        axes[row, 0].set_title(f"total density, {description}")
        rgb = np.zeros((*log_density.shape, 3))
        for class_index, channel in SIMULATION_CLASS_CHANNELS.items():
            rgb[..., channel] = _slice_grid(part, f"P{class_index}")[2]
        # Rows already sum to one; dividing again only removes rounding so imshow never clips.
        rgb /= rgb.sum(axis=-1, keepdims=True)
        axes[row, 1].imshow(
            rgb, origin="lower", extent=extent, aspect="equal", interpolation="nearest"
        )
        # The paper's red/green encoding is lost on red-green colour-blind readers, so the
        # line where each class reaches P = 0.5 is drawn too, in line styles that need no colour.
        for class_index, channel in SIMULATION_CLASS_CHANNELS.items():
            probability = rgb[..., channel]
            if probability.min() < 0.5 < probability.max():
                axes[row, 1].contour(
                    horizontal,
                    vertical,
                    probability,
                    levels=[0.5],
                    colors=_BLACK,
                    linestyles=[_HALF_PROBABILITY_LINESTYLES[class_index]],
                    linewidths=1.4,
                )
        axes[row, 1].set_title(f"class probabilities, {description}")
        for ax in axes[row]:
            ax.set_xlabel(horizontal_name)
            ax.set_ylabel(vertical_name)
    key = [
        Patch(
            facecolor=np.eye(3)[channel],
            label=f"class {class_index} ({_CHANNEL_NAMES[channel]})",
        )
        for class_index, channel in SIMULATION_CLASS_CHANNELS.items()
    ]
    key += [
        Line2D(
            [],
            [],
            color=_BLACK,
            linestyle=_HALF_PROBABILITY_LINESTYLES[class_index],
            linewidth=1.4,
            label=f"$P({class_index}|x) = 0.5$",
        )
        for class_index in SIMULATION_CLASS_CHANNELS
    ]
    fig.legend(
        handles=key,
        loc="outside lower right",
        ncol=2,
        frameon=False,
        title="right column: share of red, green, blue = class probability $P(i|x)$",
    )
    _suptitle(fig, "Fig. 3: slices of the simulated feature space", source_label)
    # Six significant digits are far below what an image can show and keep the CSV of a
    # 201 x 201 grid to a few megabytes.
    save_figure(fig, table, pdf_path, png_path, csv_path, dpi=dpi, float_format="%.6g")
    return fig
