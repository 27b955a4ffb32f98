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
beyond the paper          :func:`plot_reliability` (probabilities against the truth, per class)
========================  ===================================================================

Every plotting function takes a table and the three outputs ``pdf_path``, ``png_path`` and
``csv_path`` (str or path-like; missing folders are made, each file is written atomically),
and the keywords ``source_label`` (the second title line: where the numbers come from) and
``dpi`` (the PNG's resolution, default 150). It returns the :class:`matplotlib.figure.Figure`
it drew and raises ValueError naming the bad column or setting when its input is wrong. Those
parts are written once, in :mod:`~deweight.figures.style`; each figure's own code only draws.

Where each part lives: :mod:`~deweight.figures.style` (palette, case styles, fonts, titles,
:func:`save_figure`), :mod:`~deweight.figures.illustrations` (Figs. 1-3),
:mod:`~deweight.figures.density` (Figs. 4-5), :mod:`~deweight.figures.sweeps` (Figs. 6-9 and
the recipe overlays, all four through one plotting core with a recipe dimension),
:mod:`~deweight.figures.reliability` (reliability curves).

Each case (base, weighted, dewatered/deweighted, biased, debiased, and the "ideal" zero line)
has one fixed colour, line style and marker in :data:`CASE_STYLES`, used by every figure; the
colours are from the Okabe & Ito colour-blind-safe palette and the line styles differ too, so
the cases stay apart in greyscale. Figures are built on :class:`matplotlib.figure.Figure`
directly, not through ``pyplot``, so no global figure state is touched and no backend needs
selecting.
"""

from deweight.figures.density import plot_colour_density
from deweight.figures.illustrations import plot_fig1, plot_fig2, plot_fig3
from deweight.figures.reliability import plot_reliability
from deweight.figures.style import (  # noqa: F401 - _class_style: read by the density scripts
    CASE_STYLES,
    ILLUSTRATION_CLASS_COLOURS,
    METRIC_LABELS,
    OKABE_ITO,
    SIMULATION_CLASS_CHANNELS,
    PathLike,
    _class_style,
    display_class_name,
    save_figure,
)
from deweight.figures.sweeps import (
    RECIPE_STYLES,
    plot_kl,
    plot_kl_recipes,
    plot_overshoot,
    plot_overshoot_recipes,
)

__all__ = [
    "CASE_STYLES",
    "ILLUSTRATION_CLASS_COLOURS",
    "METRIC_LABELS",
    "OKABE_ITO",
    "RECIPE_STYLES",
    "SIMULATION_CLASS_CHANNELS",
    "display_class_name",
    "plot_colour_density",
    "plot_fig1",
    "plot_fig2",
    "plot_fig3",
    "plot_kl",
    "plot_kl_recipes",
    "plot_overshoot",
    "plot_overshoot_recipes",
    "plot_reliability",
    "save_figure",
]
