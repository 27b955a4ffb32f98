"""Fig. 7: mean KL divergence to the analytic posterior vs training-set size."""

import pandas as pd

from deweight import figures
from deweight._workflow import run_logged


def main(smk):
    out = smk.output
    figures.plot_kl(
        pd.read_csv(smk.input[0]),
        out.pdf,
        out.png,
        out.csv,
        source_label=smk.params.source_label,
        class_names=list(smk.params.class_names),
    )


run_logged(main, snakemake)  # noqa: F821
