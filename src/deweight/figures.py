"""Every figure of Lake & Tsai (2022), drawn from a tidy table of the numbers it shows.

A plotting function here never trains or evaluates a model: it reads a table (from
:mod:`deweight.illustrations`, or a CSV written by the evaluation stage), draws the figure and
writes three files with :func:`save_figure` -- a PDF, a PNG and a CSV of exactly the numbers
plotted. A restyled figure therefore never needs a model to be retrained.

========================  ===================================================================
Paper figure              Function
========================  ===================================================================
Fig. 1                    :func:`plot_fig1` (two Gaussian classes, unweighted and weighted)
Fig. 2                    :func:`plot_fig2` (adds the weighted model on unweighted data)
Fig. 3                    :func:`plot_fig3` (slices of the simulated feature space)
Figs. 4 and 5             :func:`plot_colour_density` (colour-colour densities of a catalogue)
Figs. 6, 8 and 9          :func:`plot_overshoot` (observed minus predicted metrics vs size)
Fig. 7                    :func:`plot_kl` (mean Kullback-Leibler divergence vs size)
========================  ===================================================================

Each case (base, weighted, dewatered/deweighted, biased, debiased, and the "ideal" zero line)
has one fixed colour, line style and marker in :data:`CASE_STYLES`, used by every figure; the
colours are from the Okabe & Ito colour-blind-safe palette and the line styles differ too, so
the cases stay apart in greyscale. Figures are built on :class:`matplotlib.figure.Figure`
directly, not through ``pyplot``, so no global figure state is touched and no backend needs
selecting.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.integrate import trapezoid
from scipy.ndimage import gaussian_filter

from deweight._files import atomic_path
from deweight.registry import CLASSES

__all__ = [
    "CASE_STYLES",
    "OKABE_ITO",
    "display_class_name",
    "ILLUSTRATION_CLASS_COLOURS",
    "METRIC_LABELS",
    "RECIPE_STYLES",
    "SIMULATION_CLASS_CHANNELS",
    "plot_colour_density",
    "plot_fig1",
    "plot_fig2",
    "plot_fig3",
    "plot_kl",
    "plot_kl_recipes",
    "plot_overshoot",
    "plot_overshoot_recipes",
    "save_figure",
]

PathLike = str | os.PathLike

#: Okabe & Ito (2008) palette: distinguishable with every common form of colour blindness
#: (plus grey). :data:`deweight.registry.CLASSES` names the colour of each class from it.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "green": "#009E73",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}
_BLACK = OKABE_ITO["black"]
_ORANGE = OKABE_ITO["orange"]
_SKY_BLUE = OKABE_ITO["sky blue"]
_GREEN = OKABE_ITO["green"]
_BLUE = OKABE_ITO["blue"]
_VERMILLION = OKABE_ITO["vermillion"]
_PURPLE = OKABE_ITO["purple"]
_GREY = OKABE_ITO["grey"]

#: Colour, line style, marker and legend label of each case, shared by every figure.
#: "dewatered" (Fig. 6, 7) and "deweighted" (Figs. 8, 9) are the paper's two spellings of the
#: same correction (Eq. 12 applied to the weighted model), so they share a style.
CASE_STYLES: dict[str, dict] = {
    "base": {"color": _BLACK, "linestyle": "-", "marker": "o", "label": "base"},
    "weighted": {"color": _ORANGE, "linestyle": "--", "marker": "s", "label": "weighted"},
    "dewatered": {"color": _BLUE, "linestyle": "-.", "marker": "^", "label": "dewatered"},
    "deweighted": {"color": _BLUE, "linestyle": "-.", "marker": "^", "label": "deweighted"},
    "biased": {"color": _PURPLE, "linestyle": ":", "marker": "v", "label": "biased"},
    "debiased": {
        "color": _GREEN,
        "linestyle": (0, (6, 2, 1, 2, 1, 2)),
        "marker": "D",
        "label": "debiased",
    },
    # Beyond the paper: the weighted model recalibrated (BCTS) on dev, then given the
    # training composition by Eq. 12 (deweight.cases.corrected_cases).
    "calibrated": {
        "color": _VERMILLION,
        "linestyle": (0, (3, 1, 1, 1)),
        "marker": "P",
        "label": "calibrated",
    },
    "ideal": {"color": _GREY, "linestyle": "-", "marker": None, "label": "ideal (zero)"},
}

# Legend order when the caller does not choose one: the order the paper introduces the cases.
_CASE_ORDER = (
    "base",
    "weighted",
    "dewatered",
    "deweighted",
    "calibrated",
    "biased",
    "debiased",
)


def display_class_name(name: str) -> str:
    """The label a figure shows for a class name of a prepared catalogue (e.g. bll -> BL Lac).

    Read from :data:`deweight.registry.CLASSES`; a class missing there keeps its name.
    """
    style = CLASSES.get(str(name).strip().lower())
    return str(name) if style is None else style.display


_FALLBACK_CLASS_COLOURS = (_VERMILLION, _GREEN, _BLUE, _PURPLE, _ORANGE, _SKY_BLUE, _BLACK)
_FALLBACK_CLASS_LINESTYLES = ("--", "-.", "-", ":", (0, (6, 2, 1, 2, 1, 2)), "--", "-")

#: Colours of class 0 and class 1 in the Gaussian illustrations (Figs. 1 and 2); the caption
#: of Fig. 1 calls them orange and blue.
ILLUSTRATION_CLASS_COLOURS = (_ORANGE, _BLUE)
_ILLUSTRATION_HATCHES = ("////", "\\\\\\\\")

#: RGB channel (0 = red, 1 = green, 2 = blue) that shows each simulated class's probability in
#: Fig. 3: as in the paper, class 0 is green, class 1 blue and class 2 red.
SIMULATION_CLASS_CHANNELS = {0: 1, 1: 2, 2: 0}
_CHANNEL_NAMES = ("red", "green", "blue")
_HALF_PROBABILITY_LINESTYLES = {0: "-", 1: "--", 2: ":"}

#: Row label of each metric in the overshoot figures, in row order.
METRIC_LABELS = {"completeness": "completeness", "reliability": "reliability", "f1": "F1 score"}

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

_ILLUSTRATION_SOURCE = "Analytic illustration, no training (Lake & Tsai 2022 §2.1)"
_SIMULATION_SOURCE = "Simulation, analytic densities of Tables 1-2 (Lake & Tsai 2022 §3.2)"

# Fonts a little larger than matplotlib's defaults so that the PNG (150 dpi) stays legible
# when a 3 x 5 grid is shrunk to page width; Type 42 fonts keep the PDF text editable.
_RC_PARAMS = {
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "legend.fontsize": 9.5,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 12,
    "pdf.fonttype": 42,
    "axes.grid": False,
}


def _with_style(function: Callable) -> Callable:
    """Run a plotting function under this module's font sizes without changing global rcParams."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC_PARAMS):
            return function(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)`` then move the result onto ``path`` in one step.

    A reader (or Snakemake after a crash) sees the old file or the complete new one, never a
    half-written one (see :func:`deweight._files.atomic_path`).
    """
    with atomic_path(path, keep_suffix=True) as temporary:
        write(str(temporary))


def _log_size_axis(ax) -> None:
    """Log-scaled training-set-size axis labelled at whole decades only.

    Matplotlib labels minor ticks when a log axis spans less than a decade or so, and those
    labels ("3x10^2", "4x10^2", ...) collide; decades are all a reader needs.
    """
    from matplotlib.ticker import LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10) * 0.1))
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_figure(
    fig: Figure,
    data: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    dpi: int = 150,
    float_format: str | None = None,
) -> None:
    """Write a figure as PDF and PNG, and the numbers it plots as CSV, each atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure. It is saved at its own size (no tight bounding box), so the PNG is exactly
        ``figsize * dpi`` pixels.
    data : pandas.DataFrame
        The numbers plotted, written without the index. By default floats are written at full
        precision, so reading the CSV back gives the same values.
    pdf_path, png_path, csv_path : str or path-like
        Destinations; missing parent directories are created.
    dpi : int, default 150
        Resolution of the PNG.
    float_format : str, optional
        printf-style format for floats in the CSV (e.g. ``"%.6g"``), for images of tens of
        thousands of pixels whose full-precision digits would only bloat the file.

    Raises
    ------
    ValueError
        If ``dpi`` is not positive.
    """
    if dpi <= 0:
        raise ValueError(f"dpi must be positive, got {dpi!r}")
    # A fixed creation date keeps the PDF byte-identical when nothing changed, so a workflow
    # does not see a "new" figure after every rerun.
    _atomic_write(
        pdf_path,
        lambda path: fig.savefig(path, format="pdf", metadata={"CreationDate": None}),
    )
    _atomic_write(png_path, lambda path: fig.savefig(path, format="png", dpi=dpi))
    _atomic_write(csv_path, lambda path: data.to_csv(path, index=False, float_format=float_format))


# --------------------------------------------------------------------------------------------
# Input checks and small helpers
# --------------------------------------------------------------------------------------------


def _require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ValueError naming every column of ``columns`` that ``table`` lacks."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{name} is missing required column(s) {missing}; it has {list(table.columns)}"
        )
    if table.empty:
        raise ValueError(f"{name} has no rows, so there is nothing to plot")


def _check_cases(cases: Sequence[str], name: str = "case") -> None:
    """Raise ValueError if a case has no entry in :data:`CASE_STYLES`."""
    unknown = sorted({str(case) for case in cases} - set(CASE_STYLES))
    if unknown:
        raise ValueError(f"unknown {name}(s) {unknown}; known cases are {list(CASE_STYLES)}")


def _choose_cases(table: pd.DataFrame, cases: Sequence[str] | None) -> list[str]:
    """Return the cases to draw: ``cases`` as given, or those present in the paper's order."""
    present = list(pd.unique(table["case"]))
    _check_cases(present)
    if cases is None:
        return [case for case in _CASE_ORDER if case in present]
    cases = list(cases)
    _check_cases(cases)
    absent = [case for case in cases if case not in present]
    if absent:
        raise ValueError(f"case(s) {absent} have no rows; the table has {present}")
    return cases


def _class_name_lookup(class_names: Mapping | Sequence[str]) -> Callable[[int], str]:
    """Turn a mapping or a sequence indexed by class number into a name lookup."""
    if isinstance(class_names, Mapping):
        names = {int(key): str(value) for key, value in class_names.items()}
    else:
        names = {index: str(name) for index, name in enumerate(class_names)}

    def lookup(class_index: int) -> str:
        if class_index not in names:
            raise ValueError(f"class_names has no name for class {class_index}")
        return names[class_index]

    return lookup


def _abundance_lookup(abundances: Mapping | Sequence[float] | None) -> Callable[[int], float]:
    """Turn class abundances (fractions, by class number) into a lookup returning NaN if absent."""
    if abundances is None:
        return lambda class_index: float("nan")
    if isinstance(abundances, Mapping):
        values = {int(key): float(value) for key, value in abundances.items()}
    else:
        values = {index: float(value) for index, value in enumerate(abundances)}
    return lambda class_index: values.get(class_index, float("nan"))


def _format_percent(fraction: float) -> str:
    """Format a fraction as a percentage with three significant figures at most."""
    return f"{100.0 * fraction:.3g}%"


def _choose_classes(table: pd.DataFrame, class_order: Sequence[int] | None) -> list[int]:
    """Return the class numbers to draw, in column order."""
    present = sorted(int(value) for value in pd.unique(table["class"]))
    if class_order is None:
        return present
    order = [int(value) for value in class_order]
    absent = [value for value in order if value not in present]
    if absent:
        raise ValueError(f"class_order names class(es) {absent} with no rows; present: {present}")
    return order


def _suptitle(fig: Figure, title: str, source_label: str) -> None:
    """Put the figure title and, on its own line, the data source label on top of ``fig``."""
    if not str(source_label).strip():
        raise ValueError("source_label must say where the data come from; got an empty label")
    fig.suptitle(f"{title}\n{source_label}")


def _class_style(name: str, position: int) -> dict:
    """Return the contour colour and line style of a source class (by name, else by position).

    ``name`` is a class name of :data:`deweight.registry.CLASSES` or its display name.
    """
    key = str(name).strip().lower()
    style = CLASSES.get(key) or next(
        (style for style in CLASSES.values() if style.display.lower() == key), None
    )
    if style is not None:
        return {"color": OKABE_ITO[style.colour], "linestyle": style.linestyle}
    return {
        "color": _FALLBACK_CLASS_COLOURS[position % len(_FALLBACK_CLASS_COLOURS)],
        "linestyle": _FALLBACK_CLASS_LINESTYLES[position % len(_FALLBACK_CLASS_LINESTYLES)],
    }


def _case_legend_handles(cases: Sequence[str], *, with_ideal: bool) -> list[Line2D]:
    """Return legend proxies for ``cases`` (and the ideal zero line) in their fixed styles."""
    handles = []
    for case in cases:
        style = CASE_STYLES[case]
        handles.append(
            Line2D(
                [],
                [],
                color=style["color"],
                linestyle=style["linestyle"],
                marker=style["marker"],
                markersize=4.5,
                linewidth=1.6,
                label=style["label"],
            )
        )
    if with_ideal:
        ideal = CASE_STYLES["ideal"]
        handles.append(
            Line2D(
                [],
                [],
                color=ideal["color"],
                linestyle=ideal["linestyle"],
                linewidth=1.0,
                label=ideal["label"],
            )
        )
    return handles


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


# --------------------------------------------------------------------------------------------
# Figures 4 and 5: smoothed colour-colour densities
# --------------------------------------------------------------------------------------------


def _axis_label(column: str, axis_labels: Mapping[str, str] | None) -> str:
    """Return the axis label of a feature column: a given label, else the name with a minus."""
    if axis_labels and column in axis_labels:
        return axis_labels[column]
    return f"{column.replace('-', '−')} (mag)"


def _panel_limits(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """Return plotting ranges covering the central 99% of the points, padded by 5%.

    Percentiles rather than the extremes, because a few catastrophic photometry outliers would
    otherwise squeeze the populations into a corner.
    """
    limits = []
    for values in (x, y):
        low, high = np.percentile(values, [0.5, 99.5])
        if high <= low:
            low, high = low - 0.5, high + 0.5
        pad = 0.05 * (high - low)
        limits.append((float(low - pad), float(high + pad)))
    return limits[0], limits[1]


def _smoothed_density(
    x: np.ndarray,
    y: np.ndarray,
    x_edges: np.ndarray,
    y_edges: np.ndarray,
    smoothing_mag: float,
) -> np.ndarray:
    """Histogram points and smooth with a Gaussian kernel; return counts per mag^2, shape (nx, ny).

    ``mode="constant"`` lets smoothed counts fall off the edge instead of reflecting them back,
    so a population cut by the plot range is not piled up along the border.
    """
    counts, _, _ = np.histogram2d(x, y, bins=(x_edges, y_edges))
    x_step = x_edges[1] - x_edges[0]
    y_step = y_edges[1] - y_edges[0]
    sigma_bins = (smoothing_mag / x_step, smoothing_mag / y_step)
    smoothed = gaussian_filter(counts, sigma=sigma_bins, mode="constant")
    return smoothed / (x_step * y_step)


def _enclosing_level(density: np.ndarray, fraction: float) -> float:
    """Return the density above which the densest cells hold ``fraction`` of the total.

    This is the highest-density-region threshold: the contour at this level encloses the
    smallest area holding that fraction of the class's (smoothed) sources.
    """
    values = np.sort(density[density > 0].ravel())[::-1]
    if values.size == 0:
        return float("nan")
    cumulative = np.cumsum(values) / values.sum()
    index = int(np.searchsorted(cumulative, fraction))
    return float(values[min(index, values.size - 1)])


def _long_grid(
    panel: str,
    class_label: str,
    x_centres: np.ndarray,
    y_centres: np.ndarray,
    density: np.ndarray,
    contour_level: float,
    dynamic_range_dex: float,
) -> pd.DataFrame:
    """Flatten a density grid into rows, leaving out cells that the figure draws blank.

    A cell is kept if its density is within ``dynamic_range_dex`` decades of the grid's peak,
    or within a decade of the contour level: everything fainter is below the colour scale's
    floor, and dropping it keeps a 120 x 120 grid per class and panel compact.
    """
    x_grid, y_grid = np.meshgrid(x_centres, y_centres, indexing="ij")
    floor = density.max() * 10.0**-dynamic_range_dex
    if np.isfinite(contour_level) and contour_level > 0:
        floor = min(floor, contour_level / 10.0)
    keep = (density > 0) & (density >= floor)
    return pd.DataFrame(
        {
            "panel": panel,
            "class": class_label,
            "x_center": x_grid[keep],
            "y_center": y_grid[keep],
            "log10_density": np.log10(density[keep]),
            "contour_log10_level": np.log10(contour_level) if contour_level > 0 else np.nan,
        }
    )


@_with_style
def plot_colour_density(
    df: pd.DataFrame,
    pdf_path: PathLike,
    png_path: PathLike,
    csv_path: PathLike,
    *,
    source_label: str,
    panels: Sequence[tuple[str, str]],
    class_names: Sequence[str] | Mapping[int, str],
    smoothing_mag: float | Sequence[float] = 0.01,
    contour_level: float | None = None,
    by_class: bool = False,
    class_column: str = "class_name",
    enclosed_fraction: float = 0.8,
    bins: int = 120,
    limits: Sequence[tuple[tuple[float, float], tuple[float, float]] | None] | None = None,
    axis_labels: Mapping[str, str] | None = None,
    dynamic_range_dex: float = 4.0,
    title: str | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw smoothed colour-colour densities of a labelled catalogue (Figs. 4 and 5).

    Each panel is a 2-D histogram of two feature columns, smoothed with a Gaussian kernel of
    ``smoothing_mag`` magnitudes in each direction (:func:`scipy.ndimage.gaussian_filter`) and
    shown as log10 counts per mag^2 over ``dynamic_range_dex`` decades.

    * ``by_class=False`` (Fig. 4): one panel per colour pair showing all classes together, with
      one contour per class (its own smoothed density) at ``contour_level`` or, by default, at
      the level that encloses ``enclosed_fraction`` (80%) of that class's sources -- a level
      that means the same for a class of 2,000 sources as for one of 600,000, unlike the
      paper's fixed 5e4 counts per dex^2.
    * ``by_class=True`` (Fig. 5): one row per class and one column per colour pair, each the
      class's own smoothed density; the colour scale is shared along a row.

    Parameters
    ----------
    df : pandas.DataFrame
        The prepared catalogue: the feature columns named in ``panels`` and ``class_column``.
        Rows with a missing feature are left out of the panels that use it.
    pdf_path, png_path, csv_path : str or path-like
        Outputs. The CSV is long: ``panel`` ("y_col vs x_col"), ``class`` (a class name, or
        "all" for the combined density of Fig. 4), ``x_center``, ``y_center`` (bin centres,
        mag), ``log10_density`` (log10 counts per mag^2) and ``contour_log10_level`` (log10 of
        the contour level drawn for that class and panel; empty for "all" and in Fig. 5).
        Floats have six significant digits, and cells more than ``dynamic_range_dex`` decades
        below their grid's peak (drawn blank) are left out, which keeps the file small.
    source_label : str
        Second title line saying where the data come from, e.g. "SDSS DR14 optical sample
        (bundled stand-in, not the paper's WISE data)".
    panels : sequence of (str, str)
        ``(x_column, y_column)`` of each colour pair, e.g. ``[("W1-W2", "J-W1")]``.
    class_names : sequence of str or mapping
        Values of ``class_column`` to show, in order (a mapping's values are used).
    smoothing_mag : float or sequence of float, default 0.01
        Gaussian kernel standard deviation in magnitudes; one value or one per panel (the
        paper's Fig. 5 uses 0.015, 0.025 and 0.015).
    contour_level : float, optional
        Contour level in counts per mag^2 for every class (Fig. 4 only).
    by_class : bool, default False
        Fig. 5 layout (a row per class) instead of the Fig. 4 layout.
    class_column : str, default "class_name"
        Column holding each source's class name.
    enclosed_fraction : float, default 0.8
        Share of a class's sources inside its default contour.
    bins : int, default 120
        Histogram bins along each axis.
    limits : sequence, optional
        Per panel ``((x_min, x_max), (y_min, y_max))`` or None; default: the central 99% of the
        points, padded by 5%.
    axis_labels : mapping, optional
        Axis label for a feature column; default the column name with a minus sign and "(mag)".
    dynamic_range_dex : float, default 4.0
        Decades of density shown below the maximum.
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
        If a required column is missing (the message names it), ``panels`` is empty, or a
        numeric argument is out of range.
    """
    if not panels:
        raise ValueError("panels must name at least one (x_column, y_column) pair")
    panels = [tuple(pair) for pair in panels]
    if any(len(pair) != 2 for pair in panels):
        raise ValueError(f"each panel must be an (x_column, y_column) pair, got {panels}")
    feature_columns = list(dict.fromkeys(column for pair in panels for column in pair))
    _require_columns(df, [*feature_columns, class_column], "df")
    names = list(class_names.values()) if isinstance(class_names, Mapping) else list(class_names)
    if not names:
        raise ValueError("class_names must list at least one class")
    smoothing = np.broadcast_to(np.asarray(smoothing_mag, dtype=float), (len(panels),))
    if np.any(~np.isfinite(smoothing)) or np.any(smoothing < 0):
        raise ValueError(f"smoothing_mag must be finite and >= 0, got {smoothing_mag!r}")
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    if not 0 < enclosed_fraction < 1:
        raise ValueError(f"enclosed_fraction must be in (0, 1), got {enclosed_fraction!r}")
    if contour_level is not None and not contour_level > 0:
        raise ValueError(f"contour_level must be positive, got {contour_level!r}")
    if limits is not None and len(limits) != len(panels):
        raise ValueError(f"limits has {len(limits)} entries but there are {len(panels)} panels")
    classes = df[class_column].astype(str)

    # Compute every grid first: Fig. 5 shares one colour scale along each row.
    grids = []
    for index, (x_column, y_column) in enumerate(panels):
        values = df[[x_column, y_column]].to_numpy(dtype=float)
        finite = np.all(np.isfinite(values), axis=1)
        in_classes = classes.isin(names).to_numpy()
        chosen = finite & in_classes
        if not chosen.any():
            raise ValueError(f"no source of classes {names} has finite {x_column} and {y_column}")
        panel_limits = (
            limits[index]
            if limits is not None and limits[index] is not None
            else _panel_limits(values[chosen, 0], values[chosen, 1])
        )
        x_edges = np.linspace(*panel_limits[0], int(bins) + 1)
        y_edges = np.linspace(*panel_limits[1], int(bins) + 1)
        per_class = {}
        for name in names:
            mask = chosen & (classes == name).to_numpy()
            per_class[name] = (
                int(mask.sum()),
                _smoothed_density(
                    values[mask, 0], values[mask, 1], x_edges, y_edges, float(smoothing[index])
                ),
            )
        grids.append(
            {
                "name": f"{y_column} vs {x_column}",
                "x_column": x_column,
                "y_column": y_column,
                "x_edges": x_edges,
                "y_edges": y_edges,
                "x_centres": 0.5 * (x_edges[1:] + x_edges[:-1]),
                "y_centres": 0.5 * (y_edges[1:] + y_edges[:-1]),
                "per_class": per_class,
                "all": sum(density for _, density in per_class.values()),
            }
        )

    long_tables = []
    n_columns = len(panels)
    if by_class:
        fig = Figure(figsize=(3.6 * n_columns + 1.2, 2.6 * len(names) + 1.0), layout="constrained")
        axes = fig.subplots(len(names), n_columns, squeeze=False)
    else:
        fig = Figure(figsize=(5.0 * n_columns + 0.4, 5.6), layout="constrained")
        axes = fig.subplots(1, n_columns, squeeze=False)

    def show(ax, grid, density, vmax):
        with np.errstate(divide="ignore"):
            log_density = np.log10(density)
        extent = (grid["x_edges"][0], grid["x_edges"][-1], grid["y_edges"][0], grid["y_edges"][-1])
        return ax.imshow(
            log_density.T,
            origin="lower",
            extent=extent,
            aspect="auto",
            # Cells below the scale's floor, and empty ones, are left blank (white) rather
            # than painted in the floor's colour, which would outline the kernel's cut-off.
            cmap=matplotlib.colormaps["viridis" if by_class else "Greys"].with_extremes(
                under="white", bad="white"
            ),
            vmin=vmax - dynamic_range_dex,
            vmax=vmax,
            interpolation="nearest",
        )

    if by_class:
        for row, name in enumerate(names):
            row_max = max(
                (
                    np.log10(grid["per_class"][name][1].max())
                    for grid in grids
                    if grid["per_class"][name][1].max() > 0
                ),
                default=0.0,
            )
            image = None
            for column, grid in enumerate(grids):
                ax = axes[row, column]
                count, density = grid["per_class"][name]
                ax.set_title(f"{name} (N = {count:,})", fontsize=9.5)
                if count == 0:
                    ax.text(
                        0.5, 0.5, "no sources", ha="center", va="center", transform=ax.transAxes
                    )
                else:
                    image = show(ax, grid, density, row_max)
                ax.set_xlim(grid["x_edges"][0], grid["x_edges"][-1])
                ax.set_ylim(grid["y_edges"][0], grid["y_edges"][-1])
                ax.set_xlabel(_axis_label(grid["x_column"], axis_labels))
                ax.set_ylabel(_axis_label(grid["y_column"], axis_labels))
                long_tables.append(
                    _long_grid(
                        grid["name"],
                        name,
                        grid["x_centres"],
                        grid["y_centres"],
                        density,
                        float("nan"),
                        dynamic_range_dex,
                    )
                )
            if image is not None:
                fig.colorbar(
                    image, ax=list(axes[row]), label="log$_{10}$ counts mag$^{-2}$", shrink=0.9
                )
    else:
        handles = []
        for column, grid in enumerate(grids):
            ax = axes[0, column]
            all_density = grid["all"]
            vmax = np.log10(all_density.max()) if all_density.max() > 0 else 0.0
            image = show(ax, grid, all_density, vmax)
            fig.colorbar(
                image, ax=ax, label="log$_{10}$ counts mag$^{-2}$ (all classes)", shrink=0.9
            )
            long_tables.append(
                _long_grid(
                    grid["name"],
                    "all",
                    grid["x_centres"],
                    grid["y_centres"],
                    all_density,
                    float("nan"),
                    dynamic_range_dex,
                )
            )
            for position, name in enumerate(names):
                count, density = grid["per_class"][name]
                level = (
                    contour_level
                    if contour_level is not None
                    else _enclosing_level(density, enclosed_fraction)
                )
                style = _class_style(name, position)
                if count > 0 and np.isfinite(level) and density.min() < level < density.max():
                    ax.contour(
                        grid["x_centres"],
                        grid["y_centres"],
                        density.T,
                        levels=[level],
                        colors=[style["color"]],
                        linestyles=[style["linestyle"]],
                        linewidths=1.8,
                    )
                long_tables.append(
                    _long_grid(
                        grid["name"],
                        name,
                        grid["x_centres"],
                        grid["y_centres"],
                        density,
                        level,
                        dynamic_range_dex,
                    )
                )
                if column == 0:
                    handles.append(
                        Line2D(
                            [],
                            [],
                            color=style["color"],
                            linestyle=style["linestyle"],
                            linewidth=1.8,
                            label=f"{name} (N = {count:,})",
                        )
                    )
            ax.set_xlabel(_axis_label(grid["x_column"], axis_labels))
            ax.set_ylabel(_axis_label(grid["y_column"], axis_labels))
        contour_text = (
            f"contours at {contour_level:.3g} counts mag$^{{-2}}$"
            if contour_level is not None
            else f"contours enclose {_format_percent(enclosed_fraction)} of each class"
        )
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncol=min(len(handles), 5),
            frameon=False,
            title=contour_text,
        )
    if np.all(smoothing == smoothing[0]):
        smoothing_text = f"a σ = {1000 * smoothing[0]:g} mmag Gaussian kernel"
    else:
        smoothing_text = (
            "Gaussian kernels of σ = "
            + ", ".join(f"{1000 * value:g}" for value in smoothing)
            + " mmag (left to right)"
        )
    default_title = (
        "Colour-colour densities by class" if by_class else "Colour-colour density"
    ) + f", smoothed with {smoothing_text}"
    _suptitle(fig, title or default_title, source_label)
    data = pd.concat(long_tables, ignore_index=True)
    # Six significant digits are far below what an image can show and keep the file small.
    save_figure(fig, data, pdf_path, png_path, csv_path, dpi=dpi, float_format="%.6g")
    return fig
