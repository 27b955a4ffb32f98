# Figures: each rule reads the table of numbers it plots, so restyling a figure never
# retrains a model. Every figure is written as PDF, PNG (registered in the report) and CSV.


rule fig1:
    output:
        **figure_outputs(
            results_file("simulation/figures"), "fig1", "fig1", "1. Simulation"
        ),
    log:
        log_file("simulation/fig1.log"),
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 1: weighting shifts the probabilities of two Gaussians"
    script:
        "../scripts/plot_illustration.py"


rule fig2:
    output:
        **figure_outputs(
            results_file("simulation/figures"), "fig2", "fig2", "1. Simulation"
        ),
    log:
        log_file("simulation/fig2.log"),
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 2: the prediction-consistent prior illustrated"
    script:
        "../scripts/plot_illustration.py"


rule fig3:
    output:
        **figure_outputs(
            results_file("simulation/figures"), "fig3", "fig3", "1. Simulation"
        ),
    log:
        log_file("simulation/fig3.log"),
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 3: density and class-probability slices of the simulation"
    script:
        "../scripts/plot_illustration.py"


rule fig6:
    input:
        rules.evaluate_simulation.output.overshoot,
    output:
        **figure_outputs(
            results_file("simulation/figures"), "fig6", "fig6", "1. Simulation"
        ),
    log:
        log_file("simulation/fig6.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SIMULATION_LABEL,
        class_names=SIMULATION_CLASS_NAMES,
    message:
        "Fig. 6: overshoot of completeness, reliability and F1 vs training-set size (simulation)"
    script:
        "../scripts/plot_overshoot.py"


rule fig7:
    input:
        rules.evaluate_simulation.output.kl,
    output:
        **figure_outputs(
            results_file("simulation/figures"), "fig7", "fig7", "1. Simulation"
        ),
    log:
        log_file("simulation/fig7.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SIMULATION_LABEL,
        class_names=SIMULATION_CLASS_NAMES,
    message:
        "Fig. 7: mean KL divergence to the true posterior vs training-set size"
    script:
        "../scripts/plot_kl.py"


# Beyond the paper: each case's probabilities against the analytic posterior, per class, at
# the largest size on the large test set.


rule reliability_simulation:
    input:
        rules.evaluate_simulation.output.reliability,
    output:
        **figure_outputs(
            results_file("simulation/figures"),
            "reliability",
            "reliability_simulation",
            "1. Simulation",
        ),
    log:
        log_file("simulation/reliability.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SIMULATION_LABEL,
        class_names=SIMULATION_CLASS_NAMES,
        reference="analytic",
    message:
        "Reliability of the largest simulation models against the analytic posterior"
    script:
        "../scripts/plot_reliability.py"


# Figs. 6-7 recipe against recipe: their own targets, not part of `all` (the paper recipe
# takes minutes per model on CPU), e.g.
#   snakemake --cores 2 results/simulation/figures/fig7_recipes.pdf


rule fig6_recipes:
    input:
        rules.evaluate_simulation_recipes.output.overshoot,
    output:
        **figure_outputs(
            results_file("simulation/figures"),
            "fig6_recipes",
            "fig6_recipes",
            "1. Simulation",
        ),
    log:
        log_file("simulation/fig6_recipes.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SIMULATION_LABEL,
        class_names=SIMULATION_CLASS_NAMES,
        rare_class=2,
    message:
        "Fig. 6 (rare class) recipe against recipe: overshoot under the fast and paper recipes"
    script:
        "../scripts/plot_recipes.py"


rule fig7_recipes:
    input:
        rules.evaluate_simulation_recipes.output.kl,
    output:
        **figure_outputs(
            results_file("simulation/figures"),
            "fig7_recipes",
            "fig7_recipes",
            "1. Simulation",
        ),
    log:
        log_file("simulation/fig7_recipes.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SIMULATION_LABEL,
        class_names=SIMULATION_CLASS_NAMES,
    message:
        "Fig. 7 recipe against recipe: mean KL divergence under the fast and paper recipes"
    script:
        "../scripts/plot_recipes.py"


# The real-data figures of each task: its density figure (Figs. 4-5) and its overshoot figure
# (Figs. 8-9). Which task a figure shows, and every word about it, comes from deweight.registry
# (the figure's name is the {density_figure} or {overshoot_figure} wildcard), so a task added
# there has its figures here with no rule edited.


rule density_figure:
    input:
        task_output(rules.prepare_task.output.catalog, "density_figure"),
    output:
        **figure_outputs(
            results_file("{source}/figures"),
            "{density_figure}",
            "density",
            "2. Real data",
        ),
    log:
        log_file("{source}/{density_figure}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        **output_params("density_figure"),
        by_class=lambda wc: task_spec("density_figure")(wc).density_by_class,
    message:
        "{params.output_title}: colour-colour density of the {params.title} task ({wildcards.source} data)"
    script:
        "../scripts/plot_density.py"


rule overshoot_figure:
    input:
        task_output(rules.evaluate_real.output.overshoot, "overshoot_figure"),
    output:
        **figure_outputs(
            results_file("{source}/figures"),
            "{overshoot_figure}",
            "overshoot_real",
            "2. Real data",
        ),
    log:
        log_file("{source}/{overshoot_figure}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        **output_params("overshoot_figure"),
    message:
        "{params.output_title}: overshoot vs training-set size, {params.title} task ({wildcards.source} data)"
    script:
        "../scripts/plot_overshoot.py"


rule reliability_figure:
    input:
        task_output(rules.evaluate_real.output.reliability, "reliability_figure"),
    output:
        **figure_outputs(
            results_file("{source}/figures"),
            "{reliability_figure}",
            "reliability_real",
            "2. Real data",
        ),
    log:
        log_file("{source}/{reliability_figure}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        **output_params("reliability_figure"),
        reference="observed",
    message:
        "Reliability of the {params.title} models on the test split ({wildcards.source} data)"
    script:
        "../scripts/plot_reliability.py"
