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
        class_names=["class 0", "class 1", "class 2"],
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
        class_names=["class 0", "class 1", "class 2"],
    message:
        "Fig. 7: mean KL divergence to the true posterior vs training-set size"
    script:
        "../scripts/plot_kl.py"


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
        class_names=["class 0", "class 1", "class 2"],
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
        class_names=["class 0", "class 1", "class 2"],
    message:
        "Fig. 7 recipe against recipe: mean KL divergence under the fast and paper recipes"
    script:
        "../scripts/plot_recipes.py"


rule fig4:
    input:
        expand(rules.prepare_task.output.catalog, task="sga", allow_missing=True),
    output:
        pdf=results_file("{source}/figures/fig4.pdf"),
        png=report(
            results_file("{source}/figures/fig4.png"),
            caption="../report/fig4.rst",
            category="2. Real data",
        ),
        csv=results_file("{source}/figures/fig4.csv"),
    log:
        log_file("{source}/fig4.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source]["sga"],
    message:
        "Fig. 4: colour-colour density of the star/galaxy/AGN task ({wildcards.source} data)"
    script:
        "../scripts/plot_density.py"


rule fig5:
    input:
        expand(rules.prepare_task.output.catalog, task="blazar", allow_missing=True),
    output:
        pdf=results_file("{source}/figures/fig5.pdf"),
        png=report(
            results_file("{source}/figures/fig5.png"),
            caption="../report/fig5.rst",
            category="2. Real data",
        ),
        csv=results_file("{source}/figures/fig5.csv"),
    log:
        log_file("{source}/fig5.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source]["blazar"],
    message:
        "Fig. 5: colour-colour densities per class of the blazar task ({wildcards.source} data)"
    script:
        "../scripts/plot_density.py"


rule fig8:
    input:
        expand(rules.evaluate_real.output.overshoot, task="sga", allow_missing=True),
    output:
        pdf=results_file("{source}/figures/fig8.pdf"),
        png=report(
            results_file("{source}/figures/fig8.png"),
            caption="../report/fig8.rst",
            category="2. Real data",
        ),
        csv=results_file("{source}/figures/fig8.csv"),
    log:
        log_file("{source}/fig8.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source]["sga"],
        class_names=lambda wc: TASK_CLASSES[wc.source]["sga"],
    message:
        "Fig. 8: overshoot vs training-set size, star/galaxy/AGN task ({wildcards.source} data)"
    script:
        "../scripts/plot_overshoot.py"


rule fig9:
    input:
        expand(rules.evaluate_real.output.overshoot, task="blazar", allow_missing=True),
    output:
        pdf=results_file("{source}/figures/fig9.pdf"),
        png=report(
            results_file("{source}/figures/fig9.png"),
            caption="../report/fig9.rst",
            category="2. Real data",
        ),
        csv=results_file("{source}/figures/fig9.csv"),
    log:
        log_file("{source}/fig9.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source]["blazar"],
        class_names=lambda wc: TASK_CLASSES[wc.source]["blazar"],
    message:
        "Fig. 9: overshoot vs training-set size, blazar task ({wildcards.source} data)"
    script:
        "../scripts/plot_overshoot.py"
