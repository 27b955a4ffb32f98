"""Overshoot (Figs. 8-9), PCPs and bias verdict of one real-data task."""

import itertools

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.sweeps import evaluate_real_sweep


def main(smk):
    keys = itertools.product(smk.params.variants, smk.params.sizes)
    paths = dict(zip(keys, smk.input.predictions, strict=True))
    pcp = smk.params.pcp
    overshoot, priors, verdict = evaluate_real_sweep(
        paths,
        task=smk.wildcards.task,
        seed=smk.params.seed,
        z_threshold=smk.params.z_threshold,
        pcp_method=pcp["method"],
        tol=pcp["tol"],
        max_iter=pcp["max_iter"],
    )
    write_csv_atomic(overshoot, smk.output.overshoot)
    write_csv_atomic(priors, smk.output.pcp)
    write_csv_atomic(verdict, smk.output.verdict)


run_logged(main, snakemake)  # noqa: F821
