"""Overshoot (Fig. 6), KL divergence (Fig. 7) and the Sect. 4.1 prior table."""

import itertools

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.sweeps import evaluate_simulation_sweep


def main(smk):
    keys = itertools.product(smk.params.variants, smk.params.sizes)
    paths = dict(zip(keys, smk.input.predictions, strict=True))
    pcp = smk.params.pcp
    overshoot, kl, priors = evaluate_simulation_sweep(
        paths,
        smk.input.test,
        seed=smk.params.seed,
        pcp_method=pcp["method"],
        tol=pcp["tol"],
        max_iter=pcp["max_iter"],
        model_paths=dict(zip(smk.params.variants, smk.input.models, strict=True)),
        n_test_large=smk.params.n_test_large,
    )
    write_csv_atomic(overshoot, smk.output.overshoot)
    write_csv_atomic(kl, smk.output.kl)
    write_csv_atomic(priors, smk.output.pcp)


run_logged(main, snakemake)  # noqa: F821
