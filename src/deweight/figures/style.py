"""The figures' shared style and writing: palette, case styles, fonts, titles and ``save_figure``.

Every figure of :mod:`deweight.figures` draws each case (base, weighted, dewatered/deweighted,
biased, debiased, calibrated, and the "ideal" zero line) in one fixed colour, line style and
marker (:data:`CASE_STYLES`, Okabe-Ito colours that stay apart for colour-blind readers), under
one set of font sizes (:data:`_RC_PARAMS`), and writes PDF, PNG and the plotted numbers as CSV,
each atomically (:func:`save_figure`); :func:`_figure_function` gives every figure its outputs,
source label and style in one place.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from deweight._files import atomic_path
from deweight.registry import CLASSES

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
    # Beyond the paper: the weighted model recalibrated with BCTS fitted on out-of-fold
    # predictions of train+dev, then given the training composition by Eq. 12
    # (deweight.cases.corrected_cases).
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


@dataclass(frozen=True)
class _Drawn:
    """A figure drawn but not yet titled or written: what every figure's drawing returns.

    ``data`` holds exactly the numbers plotted, for the CSV; ``float_format`` is passed to
    :func:`save_figure`.
    """

    figure: Figure
    title: str
    data: pd.DataFrame
    float_format: str | None = None


_OUTPUTS = ("pdf_path", "png_path", "csv_path")


_OUTPUTS_NOTE = (
    "The outputs, ``source_label`` and ``dpi`` are as for every figure (:mod:`deweight.figures`)."
)


def _figure_signature(drawing: inspect.Signature, source_label: str | None) -> inspect.Signature:
    """The drawing's tables, the three outputs, ``source_label``, its settings, ``dpi``."""
    parameters = list(drawing.parameters.values())
    tables = [p for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    settings = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    if len(tables) + len(settings) != len(parameters):
        raise TypeError("a figure's drawing takes tables by position and settings by keyword")
    outputs = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="PathLike")
        for name in _OUTPUTS
    ]
    keyword = inspect.Parameter.KEYWORD_ONLY
    label = inspect.Parameter(
        "source_label",
        keyword,
        default=inspect.Parameter.empty if source_label is None else source_label,
        annotation="str",
    )
    dpi = inspect.Parameter("dpi", keyword, default=150, annotation="int")
    return drawing.replace(
        parameters=[*tables, *outputs, label, *settings, dpi], return_annotation="Figure"
    )


def _with_outputs_note(doc: str | None) -> str | None:
    """The drawing's docstring with :data:`_OUTPUTS_NOTE` as the paragraph before Raises.

    None (docstrings stripped by ``python -OO``) stays None.
    """
    marker = "\n\n    Raises\n    ------\n"
    if doc is None:
        return None
    if marker not in doc:
        raise TypeError("a figure's docstring needs a Raises section to put the outputs before")
    return doc.replace(marker, f"\n\n    {_OUTPUTS_NOTE}{marker}", 1)


def _figure_function(source_label: str | None = None) -> Callable[[Callable], Callable]:
    """Make a drawing into a public figure function: outputs, source label, style, writing.

    Every figure is written the same way, so that part is here once. The drawing takes the
    figure's tables by position and its own settings by keyword, draws, and returns a
    :class:`_Drawn`. The figure function takes the same tables, then ``pdf_path``,
    ``png_path`` and ``csv_path``, and the keywords ``source_label`` (this decorator's
    ``source_label`` by default; required where that is None), the drawing's settings and
    ``dpi`` (default 150). It draws under the figures' font sizes (:data:`_RC_PARAMS`, global rcParams left
    alone), puts the title and source label on top (:func:`_suptitle`), writes the three
    files (:func:`save_figure`) and returns the :class:`~matplotlib.figure.Figure`. Its
    signature and docstring say so, for :func:`help` and :func:`inspect.signature`.
    """

    def decorate(drawing: Callable) -> Callable:
        signature = _figure_signature(inspect.signature(drawing), source_label)

        @functools.wraps(drawing)
        def figure_function(*args, **kwargs) -> Figure:
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            settings = dict(arguments.arguments)
            paths = [settings.pop(name) for name in _OUTPUTS]
            label, dpi = settings.pop("source_label"), settings.pop("dpi")
            with matplotlib.rc_context(_RC_PARAMS):
                drawn = drawing(**settings)
                _suptitle(drawn.figure, drawn.title, label)
                save_figure(
                    drawn.figure, drawn.data, *paths, dpi=dpi, float_format=drawn.float_format
                )
            return drawn.figure

        figure_function.__signature__ = signature
        figure_function.__doc__ = _with_outputs_note(drawing.__doc__)
        return figure_function

    return decorate


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
