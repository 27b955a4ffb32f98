# Training sweeps over training-set size: one job per (variant, size), so sweeps run in
# parallel, resume after an interruption, and one figure can be rebuilt alone.


rule train_simulation:
    input:
        train=simulation_training_set,
        test="results/simulation/data/test.parquet",
    output:
        model="results/simulation/models/{variant}/n{size}.pt",
        predictions="results/simulation/predictions/{variant}/n{size}.parquet",
    log:
        "logs/simulation/train/{variant}_n{size}.log",
    conda:
        "../../envs/deweight.yaml"
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=model_params("simulation"),
        seed=config["seed"],
    message:
        "Training the {wildcards.variant} simulation model on {wildcards.size} rows"
    script:
        "../scripts/train_model.py"


rule train_real:
    input:
        train="results/{source}/catalogs/{task}.parquet",
        test="results/{source}/catalogs/{task}.parquet",
    output:
        model="results/{source}/models/{task}/{variant}/n{size}.pt",
        predictions="results/{source}/predictions/{task}/{variant}/n{size}.parquet",
    log:
        "logs/{source}/train/{task}_{variant}_n{size}.log",
    # "calibrated" (beyond the paper) is a real-data variant only: trained on train, BCTS on dev.
    wildcard_constraints:
        variant="base|weighted|calibrated",
    conda:
        "../../envs/deweight.yaml"
    threads: config["realdata"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        model=lambda wc: model_params("realdata", wc.task),
        seed=config["seed"],
    message:
        "Training the {wildcards.variant} {wildcards.task} model on {wildcards.size} rows ({wildcards.source} data)"
    script:
        "../scripts/train_model.py"
