# Evaluation: overshoot of completeness/reliability/F1 (Eqs. 9-11), KL divergence (Eq. 21),
# prediction-consistent priors (Eq. 14) and the bias verdict.


rule evaluate_simulation:
    # The largest models (model_<variant>) also predict a large test set for the Sect. 4.1
    # priors.
    input:
        **largest_simulation_models(),
        test=rules.simulate_data.output.test,
        predictions=expand(
            rules.train_simulation.output.predictions,
            variant=SIM_VARIANTS,
            size=SIM_SIZES,
        ),
    output:
        overshoot=results_file("simulation/tables/overshoot.csv"),
        kl=results_file("simulation/tables/kl.csv"),
        pcp=table_report(
            results_file("simulation/tables/pcp.csv"),
            "pcp_simulation",
            "1. Simulation",
        ),
        verdict=table_report(
            results_file("simulation/tables/bias_verdict.csv"),
            "bias_verdict_simulation",
            "1. Simulation",
        ),
        reliability=results_file("simulation/tables/reliability.csv"),
    log:
        log_file("simulation/evaluate.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        variants=SIM_VARIANTS,
        sizes=SIM_SIZES,
        seed=config["seed"],
        pcp=pcp_solver(),
        n_test_large=config["simulation"]["n_test_large"],
        z_threshold=config["verdict"]["z_threshold"],
    message:
        "Evaluating the simulation sweep: overshoot, KL divergence, the Sect. 4.1 priors, bias verdict and reliability"
    script:
        "../scripts/evaluate_simulation.py"


rule evaluate_simulation_recipes:
    input:
        test=rules.simulate_data.output.test,
        predictions=[
            recipe_predictions(recipe, variant, size)
            for recipe in RECIPES
            for variant in SIM_VARIANTS
            for size in config["simulation"]["recipe_comparison_sizes"]
        ],
    output:
        overshoot=results_file("simulation/tables/overshoot_recipes.csv"),
        kl=results_file("simulation/tables/kl_recipes.csv"),
    log:
        log_file("simulation/evaluate_recipes.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        recipes=RECIPES,
        variants=SIM_VARIANTS,
        sizes=config["simulation"]["recipe_comparison_sizes"],
        seed=config["seed"],
    message:
        "Figs. 6-7 recipe against recipe: overshoot and KL divergence of the fast and paper recipes"
    script:
        "../scripts/evaluate_simulation_recipes.py"


rule evaluate_real:
    input:
        predictions=lambda wc: expand(
            rules.train_real.output.predictions,
            source=wc.source,
            task=wc.task,
            variant=REAL_VARIANTS,
            size=real_sizes(wc.source, wc.task),
        ),
    output:
        overshoot=results_file("{source}/tables/overshoot_{task}.csv"),
        pcp=results_file("{source}/tables/pcp_{task}.csv"),
        verdict=results_file("{source}/tables/bias_verdict_{task}.csv"),
        reliability=results_file("{source}/tables/reliability_{task}.csv"),
    log:
        log_file("{source}/evaluate_{task}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        variants=REAL_VARIANTS,
        sizes=lambda wc: real_sizes(wc.source, wc.task),
        seed=config["seed"],
        pcp=pcp_solver(),
        z_threshold=config["verdict"]["z_threshold"],
    message:
        "Evaluating the {wildcards.task} sweep on {wildcards.source} data"
    script:
        "../scripts/evaluate_real.py"


rule pcp_clarke2020:
    input:
        clarke_catalog,
    output:
        table_report(
            results_file("archive/tables/pcp_clarke2020.csv"),
            "pcp_clarke2020",
            "2. Real data",
        ),
    log:
        log_file("archive/pcp_clarke2020.log"),
    conda:
        "../../envs/deweight.yaml"
    resources:
        mem_mb=4000,
    params:
        pcp=pcp_solver(),
        training_prior=config["pcp"]["clarke_training_prior"],
        columns=lookup(dpath="archive/clarke2020/probability_columns", within=config),
    message:
        "Sect. 4.4: prediction-consistent priors of the 111-million-row Clarke et al. (2020) catalogue"
    script:
        "../scripts/pcp_clarke2020.py"


rule combine_real_tables:
    input:
        unpack(clarke_pcp_input),
        pcp=lambda wc: expand(
            rules.evaluate_real.output.pcp, source=wc.source, task=TASKS[wc.source]
        ),
        verdict=lambda wc: expand(
            rules.evaluate_real.output.verdict, source=wc.source, task=TASKS[wc.source]
        ),
    output:
        pcp=table_report(
            results_file("{source}/tables/pcp.csv"), "pcp_real", "2. Real data"
        ),
        verdict=table_report(
            results_file("{source}/tables/bias_verdict.csv"),
            "bias_verdict",
            "2. Real data",
        ),
    log:
        log_file("{source}/combine_tables.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_labels=lambda wc: SOURCE_LABELS[wc.source],
    message:
        "Collecting the prediction-consistent priors (Sect. 4.4) and bias verdicts ({wildcards.source})"
    script:
        "../scripts/combine_real_tables.py"
