"""Collect the per-task PCP and verdict tables; in archive mode add the Clarke et al. PCPs."""

import pandas as pd

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged


def main(smk):
    pcp = pd.concat([pd.read_csv(path) for path in smk.input.pcp], ignore_index=True)
    pcp.insert(0, "probabilities", "test-set probabilities of this workflow's models")
    if "clarke" in smk.input.keys():
        pcp = pd.concat([pd.read_csv(smk.input.clarke), pcp], ignore_index=True)
    labels = dict(smk.params.source_labels, clarke2020="Clarke et al. (2020) catalogue (archive)")
    pcp.insert(0, "data_source", pcp["task"].map(labels))
    verdict = pd.concat([pd.read_csv(path) for path in smk.input.verdict], ignore_index=True)
    verdict.insert(0, "data_source", verdict["task"].map(labels))
    write_csv_atomic(pcp, smk.output.pcp)
    write_csv_atomic(verdict, smk.output.verdict)


run_logged(main, snakemake)  # noqa: F821
