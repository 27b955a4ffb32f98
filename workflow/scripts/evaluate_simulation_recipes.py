"""Figs. 6-7 recipe against recipe: the overshoot and KL tables of both training recipes."""

import itertools

from deweight._files import write_csv_atomic
from deweight._workflow import run_logged
from deweight.predictions import index_predictions
from deweight.sweeps import evaluate_recipe_comparison


def main(smk):
    # Each file is keyed by the recipe, variant and size its own metadata records.
    paths = index_predictions(
        smk.input.predictions,
        ("fit_report.recipe", "variant", "size_requested"),
        expected=itertools.product(smk.params.recipes, smk.params.variants, smk.params.sizes),
    )
    overshoot, kl = evaluate_recipe_comparison(paths, smk.input.test, seed=smk.params.seed)
    write_csv_atomic(overshoot, smk.output.overshoot)
    write_csv_atomic(kl, smk.output.kl)


run_logged(main, snakemake)  # noqa: F821
