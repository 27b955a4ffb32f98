"""Figs. 4-5 of Lake & Tsai (2022): smoothed colour-colour densities of a catalogue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.ndimage import gaussian_filter

from deweight.figures.style import (
    PathLike,
    _class_style,
    _format_percent,
    _require_columns,
    _suptitle,
    _with_style,
    save_figure,
)

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
