# Figures: each rule reads the table of numbers it plots, so restyling a figure never
# retrains a model. Every figure is written as PDF, PNG (registered in the report) and CSV.


rule fig1:
    output:
        **figure_outputs("results/simulation/figures", "fig1", "fig1", "1. Simulation"),
    log:
        "logs/simulation/fig1.log",
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 1: weighting shifts the probabilities of two Gaussians"
    script:
        "../scripts/plot_illustration.py"


rule fig2:
    output:
        **figure_outputs("results/simulation/figures", "fig2", "fig2", "1. Simulation"),
    log:
        "logs/simulation/fig2.log",
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 2: the prediction-consistent prior illustrated"
    script:
        "../scripts/plot_illustration.py"


rule fig3:
    output:
        **figure_outputs("results/simulation/figures", "fig3", "fig3", "1. Simulation"),
    log:
        "logs/simulation/fig3.log",
    conda:
        "../../envs/deweight.yaml"
    message:
        "Fig. 3: density and class-probability slices of the simulation"
    script:
        "../scripts/plot_illustration.py"


rule fig6:
    input:
        "results/simulation/tables/overshoot.csv",
    output:
        **figure_outputs("results/simulation/figures", "fig6", "fig6", "1. Simulation"),
    log:
        "logs/simulation/fig6.log",
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SOURCE_LABELS["simulation"],
        class_names=["class 0", "class 1", "class 2"],
    message:
        "Fig. 6: overshoot of completeness, reliability and F1 vs training-set size (simulation)"
    script:
        "../scripts/plot_overshoot.py"


rule fig7:
    input:
        "results/simulation/tables/kl.csv",
    output:
        **figure_outputs("results/simulation/figures", "fig7", "fig7", "1. Simulation"),
    log:
        "logs/simulation/fig7.log",
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=SOURCE_LABELS["simulation"],
        class_names=["class 0", "class 1", "class 2"],
    message:
        "Fig. 7: mean KL divergence to the true posterior vs training-set size"
    script:
        "../scripts/plot_kl.py"


rule fig4_fig5:
    input:
        lambda wc: "results/{source}/catalogs/{task}.parquet".format(
            source=wc.source, task={"fig4": "sga", "fig5": "blazar"}[wc.fig]
        ),
    output:
        pdf="results/{source}/figures/{fig}.pdf",
        png=report(
            "results/{source}/figures/{fig}.png",
            caption="../report/{fig}.rst",
            category="2. Real data",
        ),
        csv="results/{source}/figures/{fig}.csv",
    log:
        "logs/{source}/{fig}.log",
    wildcard_constraints:
        fig="fig4|fig5",
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source],
    message:
        "{wildcards.fig}: colour-colour densities per class ({wildcards.source} data)"
    script:
        "../scripts/plot_density.py"


rule fig8_fig9:
    input:
        lambda wc: "results/{source}/tables/overshoot_{task}.csv".format(
            source=wc.source, task={"fig8": "sga", "fig9": "blazar"}[wc.fig]
        ),
    output:
        pdf="results/{source}/figures/{fig}.pdf",
        png=report(
            "results/{source}/figures/{fig}.png",
            caption="../report/{fig}.rst",
            category="2. Real data",
        ),
        csv="results/{source}/figures/{fig}.csv",
    log:
        "logs/{source}/{fig}.log",
    wildcard_constraints:
        fig="fig8|fig9",
    conda:
        "../../envs/deweight.yaml"
    params:
        source_label=lambda wc: SOURCE_LABELS[wc.source],
        class_names=lambda wc: TASK_CLASSES[wc.source][
            {"fig8": "sga", "fig9": "blazar"}[wc.fig]
        ],
    message:
        "{wildcards.fig}: overshoot vs training-set size ({wildcards.source} data)"
    script:
        "../scripts/plot_overshoot.py"
