"""Sect. 4.4: prediction-consistent priors of the Clarke et al. (2020) catalogue."""

from deweight._workflow import run_logged
from deweight.experiments import clarke_pcp_table, write_csv_atomic


def main(smk):
    table = clarke_pcp_table(
        smk.input[0],
        training_prior=smk.params.training_prior,
        method=smk.params.pcp["method"],
        tol=smk.params.pcp["tol"],
        max_iter=smk.params.pcp["max_iter"],
        columns=smk.params.columns,
    )
    write_csv_atomic(table, smk.output[0])


run_logged(main, snakemake)  # noqa: F821
