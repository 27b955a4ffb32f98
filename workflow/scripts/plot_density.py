"""Figs. 4 and 5: smoothed colour-colour densities with per-class contours."""

from deweight import figures
from deweight._workflow import run_logged
from deweight.experiments import read_parquet_with_metadata

# Colour pairs (x, y) shown in each figure, by the features a task has. The paper's Fig. 4
# plots J-W1 against W1-W2; Fig. 5 the "bubble plot", r-i vs r-W1 and r-i vs g-r.
PANELS = {
    ("fig4", "archive"): [("W1-W2", "J-W1")],
    ("fig5", "archive"): [("W2-W3", "W1-W2"), ("r-W1", "r-i"), ("g-r", "r-i")],
    ("fig4", "bundled"): [("g-r", "u-g"), ("r-i", "g-r")],
    ("fig5", "bundled"): [("u-g", "g-r"), ("g-r", "r-i"), ("r-i", "i-z")],
}


def main(smk):
    frame, metadata = read_parquet_with_metadata(smk.input[0])
    frame["class_name"] = frame["class_name"].map(figures.display_class_name)
    fig, source = smk.rule, smk.wildcards.source
    out = smk.output
    figures.plot_colour_density(
        frame,
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        panels=PANELS[(fig, source)],
        class_names=[figures.display_class_name(c) for c in metadata["class_names"]],
        by_class=fig == "fig5",
        # The bundled sample has 10^4 sources, not 10^6: it needs a wider kernel.
        smoothing_mag=0.05 if source == "bundled" else 0.015,
    )


run_logged(main, snakemake)  # noqa: F821
