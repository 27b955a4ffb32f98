"""Figs. 4 and 5 (the density figure of each task): smoothed colour-colour densities with
per-class contours; panels, layout and smoothing are the task's (deweight.registry)."""

from deweight import figures, registry
from deweight._files import read_parquet_with_metadata
from deweight._workflow import run_logged


def main(smk):
    frame, metadata = read_parquet_with_metadata(smk.input[0])
    entry = registry.spec(smk.wildcards.source, metadata["task"])
    frame["class_name"] = frame["class_name"].map(figures.display_class_name)
    out = smk.output
    figures.plot_colour_density(
        frame,
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        panels=list(entry.density_panels),
        class_names=list(entry.display_names),
        by_class=entry.density_by_class,
        smoothing_mag=entry.density_smoothing_mag,
    )


run_logged(main, snakemake)  # noqa: F821
