"""Figs. 4 and 5 of Lake & Tsai (2022): smoothed colour-colour densities of a catalogue.

:func:`plot_colour_density` draws both. Each panel is a 2-D histogram of two feature columns,
smoothed with a Gaussian kernel (:func:`scipy.ndimage.gaussian_filter`) and shown as log10
counts per mag^2 over a fixed number of decades.

* Fig. 4 (``by_class=False``): one panel per colour pair showing all classes together, with
  one contour per class (its own smoothed density) at a given level or, by default, at the
  level that encloses a given share (80%) of that class's sources -- a level that means the
  same for a class of 2,000 sources as for one of 600,000, unlike the paper's fixed 5e4
  counts per dex^2.
* Fig. 5 (``by_class=True``): one row per class and one column per colour pair, each the
  class's own smoothed density; the colour scale is shared along a row.

The CSV is long: ``panel`` ("y_col vs x_col"), ``class`` (a class name, or "all" for the
combined density of Fig. 4), ``x_center``, ``y_center`` (bin centres, mag), ``log10_density``
(log10 counts per mag^2) and ``contour_log10_level`` (log10 of the contour level drawn for
that class and panel; empty for "all" and in Fig. 5). Floats have six significant digits,
and cells more than ``dynamic_range_dex`` decades below their grid's peak (drawn blank) are
left out, which keeps the file small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.ndimage import gaussian_filter

from deweight.figures.style import (
    _class_style,
    _Drawn,
    _figure_function,
    _format_percent,
    _require_columns,
)


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


@dataclass(frozen=True)
class _Look:
    """How a density figure is drawn: layout, colour-scale depth, contours, axis labels."""

    by_class: bool
    dynamic_range_dex: float
    contour_level: float | None
    enclosed_fraction: float
    axis_labels: Mapping[str, str] | None


@_figure_function()
def plot_colour_density(
    df: pd.DataFrame,
    *,
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
) -> _Drawn:
    """Draw smoothed colour-colour densities of a labelled catalogue (Figs. 4 and 5).

    Each panel is a 2-D histogram of two feature columns, smoothed with a Gaussian kernel of
    ``smoothing_mag`` magnitudes in each direction and shown as log10 counts per mag^2 over
    ``dynamic_range_dex`` decades. The two layouts (Fig. 4: all classes with one contour
    each; Fig. 5: a row per class) and the CSV's columns are described in
    :mod:`deweight.figures.density`.

    Parameters
    ----------
    df : pandas.DataFrame
        The prepared catalogue: the feature columns named in ``panels`` and ``class_column``.
        Rows with a missing feature are left out of the panels that use it.
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

    Raises
    ------
    ValueError
        If a required column is missing (the message names it), ``panels`` is empty, or a
        numeric argument is out of range.
    """
    panels = _check_panels(df, panels, class_column)
    names = list(class_names.values()) if isinstance(class_names, Mapping) else list(class_names)
    smoothing = np.broadcast_to(np.asarray(smoothing_mag, dtype=float), (len(panels),))
    _check_settings(names, smoothing_mag, bins, enclosed_fraction, contour_level, limits, panels)
    # Compute every grid first: Fig. 5 shares one colour scale along each row.
    grids = _panel_grids(df[class_column].astype(str), df, names, panels, limits, bins, smoothing)
    look = _Look(by_class, dynamic_range_dex, contour_level, enclosed_fraction, axis_labels)
    title = title or _default_title(by_class, smoothing)
    return _draw_density(grids, names, look, title)


def _check_panels(df: pd.DataFrame, panels, class_column: str) -> list[tuple[str, str]]:
    """The panels as (x, y) pairs, once the catalogue is known to have their columns."""
    if not panels:
        raise ValueError("panels must name at least one (x_column, y_column) pair")
    panels = [tuple(pair) for pair in panels]
    if any(len(pair) != 2 for pair in panels):
        raise ValueError(f"each panel must be an (x_column, y_column) pair, got {panels}")
    feature_columns = list(dict.fromkeys(column for pair in panels for column in pair))
    _require_columns(df, [*feature_columns, class_column], "df")
    return panels


def _check_settings(names, smoothing_mag, bins, enclosed_fraction, contour_level, limits, panels):
    """Refuse settings out of range, naming the setting."""
    if not names:
        raise ValueError("class_names must list at least one class")
    smoothing = np.asarray(smoothing_mag, dtype=float)
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


def _panel_grids(classes, df, names, panels, limits, bins, smoothing) -> list[dict]:
    """Every panel's grid (:func:`_panel_grid`), with its own limits and kernel width."""
    return [
        _panel_grid(
            df, classes, names, pair, None if limits is None else limits[index], int(bins), width
        )
        for index, (pair, width) in enumerate(zip(panels, smoothing, strict=True))
    ]


def _default_title(by_class: bool, smoothing: np.ndarray) -> str:
    """The first title line when none is given: the layout and the kernel width(s)."""
    layout = "Colour-colour densities by class" if by_class else "Colour-colour density"
    return f"{layout}, smoothed with {_smoothing_text(smoothing)}"


def _panel_grid(df, classes, names, pair, limits, bins: int, smoothing) -> dict:
    """One panel's smoothed density per class (and summed), on a grid over its limits."""
    x_column, y_column = pair
    values = df[[x_column, y_column]].to_numpy(dtype=float)
    finite = np.all(np.isfinite(values), axis=1)
    chosen = finite & classes.isin(names).to_numpy()
    if not chosen.any():
        raise ValueError(f"no source of classes {names} has finite {x_column} and {y_column}")
    if limits is None:
        limits = _panel_limits(values[chosen, 0], values[chosen, 1])
    x_edges = np.linspace(*limits[0], bins + 1)
    y_edges = np.linspace(*limits[1], bins + 1)
    per_class = {}
    for name in names:
        mask = chosen & (classes == name).to_numpy()
        density = _smoothed_density(
            values[mask, 0], values[mask, 1], x_edges, y_edges, float(smoothing)
        )
        per_class[name] = (int(mask.sum()), density)
    return {
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


def _smoothing_text(smoothing: np.ndarray) -> str:
    """The kernel widths for the title: one, or one per panel from left to right."""
    if np.all(smoothing == smoothing[0]):
        return f"a σ = {1000 * smoothing[0]:g} mmag Gaussian kernel"
    widths = ", ".join(f"{1000 * value:g}" for value in smoothing)
    return f"Gaussian kernels of σ = {widths} mmag (left to right)"


def _show(ax, grid: dict, density: np.ndarray, vmax: float, look: _Look):
    """Draw a density grid as log10 counts over ``look.dynamic_range_dex`` decades."""
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
        cmap=matplotlib.colormaps["viridis" if look.by_class else "Greys"].with_extremes(
            under="white", bad="white"
        ),
        vmin=vmax - look.dynamic_range_dex,
        vmax=vmax,
        interpolation="nearest",
    )


def _label_axes(ax, grid: dict, look: _Look) -> None:
    """Name a panel's axes after its two feature columns."""
    ax.set_xlabel(_axis_label(grid["x_column"], look.axis_labels))
    ax.set_ylabel(_axis_label(grid["y_column"], look.axis_labels))


def _long(grid: dict, class_label: str, density, level: float, look: _Look) -> pd.DataFrame:
    """A grid's rows for the CSV (see :func:`_long_grid`)."""
    return _long_grid(
        grid["name"],
        class_label,
        grid["x_centres"],
        grid["y_centres"],
        density,
        level,
        look.dynamic_range_dex,
    )


def _draw_class_row(fig, axes_row, grids, name: str, look: _Look) -> list[pd.DataFrame]:
    """One row of Fig. 5: a class's own density in every panel, on one colour scale."""
    peaks = [grid["per_class"][name][1].max() for grid in grids]
    row_max = max((np.log10(peak) for peak in peaks if peak > 0), default=0.0)
    image, long_tables = None, []
    for ax, grid in zip(axes_row, grids, strict=True):
        count, density = grid["per_class"][name]
        ax.set_title(f"{name} (N = {count:,})", fontsize=9.5)
        if count == 0:
            ax.text(0.5, 0.5, "no sources", ha="center", va="center", transform=ax.transAxes)
        else:
            image = _show(ax, grid, density, row_max, look)
        ax.set_xlim(grid["x_edges"][0], grid["x_edges"][-1])
        ax.set_ylim(grid["y_edges"][0], grid["y_edges"][-1])
        _label_axes(ax, grid, look)
        long_tables.append(_long(grid, name, density, float("nan"), look))
    if image is not None:
        label = "log$_{10}$ counts mag$^{-2}$"
        fig.colorbar(image, ax=list(axes_row), label=label, shrink=0.9)
    return long_tables


def _draw_contours(ax, grid: dict, names, look: _Look, handles) -> list[pd.DataFrame]:
    """Each class's contour in one Fig. 4 panel (and its legend entry, into ``handles``)."""
    long_tables = []
    for position, name in enumerate(names):
        count, density = grid["per_class"][name]
        level = look.contour_level
        if level is None:
            level = _enclosing_level(density, look.enclosed_fraction)
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
        long_tables.append(_long(grid, name, density, level, look))
        if handles is not None:
            label = f"{name} (N = {count:,})"
            handles.append(Line2D([], [], linewidth=1.8, label=label, **style))
    return long_tables


def _draw_all_classes(fig, axes_row, grids, names, look: _Look) -> list[pd.DataFrame]:
    """Fig. 4: every panel's summed density in grey, one contour per class on top."""
    handles: list = []
    long_tables = []
    for column, (ax, grid) in enumerate(zip(axes_row, grids, strict=True)):
        all_density = grid["all"]
        vmax = np.log10(all_density.max()) if all_density.max() > 0 else 0.0
        image = _show(ax, grid, all_density, vmax, look)
        label = "log$_{10}$ counts mag$^{-2}$ (all classes)"
        fig.colorbar(image, ax=ax, label=label, shrink=0.9)
        long_tables.append(_long(grid, "all", all_density, float("nan"), look))
        long_tables += _draw_contours(ax, grid, names, look, handles if column == 0 else None)
        _label_axes(ax, grid, look)
    contour_text = (
        f"contours at {look.contour_level:.3g} counts mag$^{{-2}}$"
        if look.contour_level is not None
        else f"contours enclose {_format_percent(look.enclosed_fraction)} of each class"
    )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 5),
        frameon=False,
        title=contour_text,
    )
    return long_tables


def _draw_density(grids, names, look: _Look, title: str) -> _Drawn:
    """Figs. 4-5 of computed grids: the layout, the panels and the numbers plotted."""
    n_columns = len(grids)
    if look.by_class:
        size = (3.6 * n_columns + 1.2, 2.6 * len(names) + 1.0)
        fig = Figure(figsize=size, layout="constrained")
        axes = fig.subplots(len(names), n_columns, squeeze=False)
        long_tables = []
        for row, name in enumerate(names):
            long_tables += _draw_class_row(fig, axes[row], grids, name, look)
    else:
        fig = Figure(figsize=(5.0 * n_columns + 0.4, 5.6), layout="constrained")
        axes = fig.subplots(1, n_columns, squeeze=False)
        long_tables = _draw_all_classes(fig, axes[0], grids, names, look)
    data = pd.concat(long_tables, ignore_index=True)
    # Six significant digits are far below what an image can show and keep the file small.
    return _Drawn(fig, title, data, float_format="%.6g")
