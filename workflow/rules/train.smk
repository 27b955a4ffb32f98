# Training sweeps over training-set size: one job per (variant, size), so sweeps run in
# parallel, resume after an interruption, and one figure can be rebuilt alone.


rule train_simulation:
    input:
        train=simulation_training_set,
        test=rules.simulate_data.output.test,
    output:
        model=results_file("simulation/models/{variant}/n{size}.pt"),
        predictions=results_file("simulation/predictions/{variant}/n{size}.parquet"),
    log:
        log_file("simulation/train/{variant}_n{size}.log"),
    conda:
        "../../envs/deweight.yaml"
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=model_params("simulation"),
        seed=config["seed"],
        subsets=config["simulation"]["subsets"],
    message:
        "Training the {wildcards.variant} simulation model on {wildcards.size} rows"
    script:
        "../scripts/train_model.py"


# Figs. 6-7 recipe against recipe: the same sweep trained with the other recipe, at the
# sizes of simulation.recipe_comparison_sizes. The configured recipe's models are the main
# sweep's (recipe_predictions in common.smk), so only the other recipe is trained here.


rule train_simulation_recipe:
    input:
        train=simulation_training_set,
        test=rules.simulate_data.output.test,
    output:
        model=results_file("simulation/recipes/{recipe}/models/{variant}/n{size}.pt"),
        predictions=results_file(
            "simulation/recipes/{recipe}/predictions/{variant}/n{size}.parquet"
        ),
    log:
        log_file("simulation/train/{recipe}_recipe/{variant}_n{size}.log"),
    wildcard_constraints:
        recipe="|".join(RECIPES),
    conda:
        "../../envs/deweight.yaml"
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda wc: model_params("simulation") | {"recipe": wc.recipe},
        seed=config["seed"],
        subsets=config["simulation"]["subsets"],
    message:
        "Training the {wildcards.variant} simulation model on {wildcards.size} rows with the {wildcards.recipe} recipe"
    script:
        "../scripts/train_model.py"


rule train_real:
    input:
        train=rules.prepare_task.output.catalog,
        test=rules.prepare_task.output.catalog,
    output:
        model=results_file("{source}/models/{task}/{variant}/n{size}.pt"),
        predictions=results_file(
            "{source}/predictions/{task}/{variant}/n{size}.parquet"
        ),
    log:
        log_file("{source}/train/{task}_{variant}_n{size}.log"),
    # "calibrated" (beyond the paper) is a real-data variant only: the weighted model with BCTS
    # fitted on out-of-fold probabilities (realdata.calibration.folds fold models, same job).
    wildcard_constraints:
        variant="|".join(REAL_VARIANT_CHOICES),
    conda:
        "../../envs/deweight.yaml"
    threads: config["realdata"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda wc: model_params("realdata", wc.task),
        seed=config["seed"],
        calibration_folds=lambda wc: (
            config["realdata"]["calibration"]["folds"]
            if wc.variant == "calibrated"
            else None
        ),
    message:
        "Training the {wildcards.variant} {wildcards.task} model on {wildcards.size} rows ({wildcards.source} data)"
    script:
        "../scripts/train_model.py"
