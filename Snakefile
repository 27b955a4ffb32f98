# deweight: reproduce Lake & Tsai (2022), "An Exploration of How Training Set Composition
# Bias in Machine Learning Affects Identifying Rare Objects", end to end.
#
#   snakemake --cores 2                                  # everything, offline default
#   snakemake --cores 2 results/simulation/figures/fig6.pdf   # one figure
#   snakemake --cores 2 --config data='{source: archive}'     # the paper's exact data
#
# This file is a table of contents: the stages live in workflow/rules/*.smk and all
# the mathematics in the deweight library (src/deweight).

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/acquire.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


onstart:
    print(
        f"deweight: data source = {SOURCE!r}; results in {RESULTS}/simulation and {RESULTS}/{SOURCE}"
    )


onsuccess:
    print(finished_message())


onerror:
    print("deweight: a job failed; its log file is named above (logs/...).")


rule all:
    default_target: True
    input:
        all_outputs(),
