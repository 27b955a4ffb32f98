"""Collect the per-task PCP and verdict tables; in archive mode add the Clarke et al. PCP."""

import pandas as pd

from deweight.experiments import clarke_pcp_table, run_logged, write_csv_atomic


def main(smk):
    pcp = pd.concat([pd.read_csv(path) for path in smk.input.pcp], ignore_index=True)
    pcp.insert(0, "probabilities", "test-set probabilities of this workflow's models")
    if "clarke" in smk.input.keys():
        clarke = clarke_pcp_table(
            smk.input.clarke,
            training_prior=smk.params.pcp["clarke_training_prior"],
            method=smk.params.pcp["method"],
            tol=smk.params.pcp["tol"],
            max_iter=smk.params.pcp["max_iter"],
            columns=smk.params.clarke_columns,
        )
        pcp = pd.concat([clarke, pcp], ignore_index=True)
    labels = dict(smk.params.source_labels, clarke2020="Clarke et al. (2020) catalogue (archive)")
    pcp.insert(0, "data_source", pcp["task"].map(labels))
    verdict = pd.concat([pd.read_csv(path) for path in smk.input.verdict], ignore_index=True)
    verdict.insert(0, "data_source", verdict["task"].map(labels))
    write_csv_atomic(pcp, smk.output.pcp)
    write_csv_atomic(verdict, smk.output.verdict)


run_logged(main, snakemake)  # noqa: F821
