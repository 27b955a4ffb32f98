"""Overshoot (Figs. 8-9), PCPs, bias verdict and reliability curves of one real-data task."""

import itertools

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.predictions import index_predictions
from deweight.sweeps import evaluate_real_sweep


def main(smk):
    # Each file is keyed by the variant and size its own metadata records.
    paths = index_predictions(
        smk.input.predictions,
        ("variant", "size_requested"),
        expected=itertools.product(smk.params.variants, smk.params.sizes),
    )
    overshoot, priors, verdict, reliability = evaluate_real_sweep(
        paths,
        task=smk.wildcards.task,
        seed=smk.params.seed,
        z_threshold=smk.params.z_threshold,
        **smk.params.pcp,
    )
    write_csv_atomic(overshoot, smk.output.overshoot)
    write_csv_atomic(priors, smk.output.pcp)
    write_csv_atomic(verdict, smk.output.verdict)
    write_csv_atomic(reliability, smk.output.reliability)


run_logged(main, snakemake)  # noqa: F821
