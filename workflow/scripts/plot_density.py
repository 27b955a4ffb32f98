"""Figs. 4 and 5: smoothed colour-colour densities with per-class contours."""

from deweight import figures
from deweight.experiments import read_parquet_with_metadata, run_logged


def main(smk):
    frame, metadata = read_parquet_with_metadata(smk.input[0])
    panels = figures.default_density_panels(metadata["features"])
    out = smk.output
    figures.plot_colour_density(
        frame,
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        panels=panels,
        class_names=list(metadata["class_names"]),
        per_class_rows=smk.wildcards.fig == "fig5",
    )


run_logged(main, snakemake)  # noqa: F821
