"""Reliability figures: each case's probability against the analytic posterior or the labels."""

import pandas as pd

from deweight import figures
from deweight._workflow import run_logged
from deweight.figures import plot_reliability


def main(smk):
    out = smk.output
    plot_reliability(
        pd.read_csv(smk.input[0]),
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        class_names=[figures.display_class_name(c) for c in smk.params.class_names],
        reference=smk.params.reference,
    )


run_logged(main, snakemake)  # noqa: F821
