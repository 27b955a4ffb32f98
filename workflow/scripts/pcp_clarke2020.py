"""Sect. 4.4: prediction-consistent priors of the Clarke et al. (2020) catalogue."""

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.verdict import clarke_pcp_table


def main(smk):
    table = clarke_pcp_table(
        smk.input[0],
        training_prior=smk.params.training_prior,
        columns=smk.params.columns,
        **smk.params.pcp,
    )
    write_csv_atomic(table, smk.output[0])


run_logged(main, snakemake)  # noqa: F821
