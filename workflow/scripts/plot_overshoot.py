"""Figs. 6, 8 and 9: overshoot of completeness, reliability and F1 vs training-set size."""

import pandas as pd

from deweight import figures
from deweight._workflow import run_logged


def main(smk):
    table = pd.read_csv(smk.input[0])
    class_names = [figures.display_class_name(c) for c in smk.params.class_names]
    order, abundances = None, None
    if "training_fraction" in table.columns:
        # Real data: columns ordered by abundance in the training set, as in the paper's Fig. 9.
        fractions = table.groupby("class")["training_fraction"].first()
        abundances = [float(fractions.get(c, float("nan"))) for c in range(len(class_names))]
        order = sorted(range(len(class_names)), key=lambda c: -abundances[c])
    out = smk.output
    figures.plot_overshoot(
        table,
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        class_names=class_names,
        class_order=order,
        abundances=abundances,
    )


run_logged(main, snakemake)  # noqa: F821
