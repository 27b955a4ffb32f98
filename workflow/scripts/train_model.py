"""Train one model of a size sweep and write its probabilities on the test set."""

from deweight._workflow import run_logged
from deweight.sweeps import train_sweep_member


def main(smk):
    folds = smk.params.get("calibration_folds")
    train_sweep_member(
        train_path=smk.input.train,
        test_path=smk.input.test,
        model_path=smk.output.model,
        predictions_path=smk.output.predictions,
        variant=smk.wildcards.variant,
        size=int(smk.wildcards.size),
        model_params=dict(smk.params.model, device=smk.config["device"]),
        seed=smk.params.seed,
        threads=smk.threads,
        # The real-data sweeps always stratify; the simulation's rule says how (config).
        subsets=smk.params.get("subsets", "stratified"),
        # Fold models of the cross-fitted calibrated case (realdata.calibration.folds); the
        # rule gives it to that variant only, so the other models never rerun when it changes.
        **({"calibration_folds": folds} if folds else {}),
    )


run_logged(main, snakemake)  # noqa: F821
