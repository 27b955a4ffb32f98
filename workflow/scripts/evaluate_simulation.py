"""Overshoot (Fig. 6), KL divergence (Fig. 7), the Sect. 4.1 priors, verdict and reliability."""

import itertools

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.predictions import index_predictions
from deweight.sweeps import evaluate_simulation_sweep


def main(smk):
    # Each file is keyed by the variant and size its own metadata records, each model of the
    # largest size by the name of its input (model_<variant>).
    paths = index_predictions(
        smk.input.predictions,
        ("variant", "size_requested"),
        expected=itertools.product(smk.params.variants, smk.params.sizes),
    )
    tables = evaluate_simulation_sweep(
        paths,
        smk.input.test,
        seed=smk.params.seed,
        **smk.params.pcp,
        model_paths={variant: smk.input[f"model_{variant}"] for variant in smk.params.variants},
        n_test_large=smk.params.n_test_large,
        z_threshold=smk.params.z_threshold,
    )
    for name in ("overshoot", "kl", "pcp", "verdict", "reliability"):
        write_csv_atomic(getattr(tables, name), smk.output[name])


run_logged(main, snakemake)  # noqa: F821
