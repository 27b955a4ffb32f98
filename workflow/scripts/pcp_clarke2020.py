"""Sect. 4.4: prediction-consistent priors of the Clarke et al. (2020) catalogue."""

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.verdict import clarke_pcp_table


def main(smk):
    # The engine is read from the config, not the rule's params: it does not change the result.
    settings = smk.config["pcp"]
    table = clarke_pcp_table(
        smk.input[0],
        training_prior=smk.params.training_prior,
        columns=smk.params.columns,
        engine=settings["engine"],
        scheduler=settings["dask_scheduler"],
        workers=settings["dask_workers"],
        **smk.params.pcp,
    )
    write_csv_atomic(table, smk.output[0])


run_logged(main, snakemake)  # noqa: F821
