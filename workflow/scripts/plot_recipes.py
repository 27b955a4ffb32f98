"""Figs. 6 (rare class) and 7 recipe against recipe: fast and paper recipes overlaid."""

import pandas as pd

from deweight import figures
from deweight._workflow import run_logged


def main(smk):
    out = smk.output
    table = pd.read_csv(smk.input[0])
    common = dict(source_label=smk.params.source_label, class_names=list(smk.params.class_names))
    if "rare_class" in smk.params.keys():
        figures.plot_overshoot_recipes(
            table, out.pdf, out.png, out.csv, class_index=smk.params.rare_class, **common
        )
    else:
        figures.plot_kl_recipes(table, out.pdf, out.png, out.csv, **common)


run_logged(main, snakemake)  # noqa: F821
