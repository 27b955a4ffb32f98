# Catalogue preparation (Sects. 3.3-3.4): blazar catalogue, quality cuts, features, labels,
# train/dev/test splits, Tables 3-4 and the cut-flow of each task.


rule blazar_catalog:
    input:
        unpack(blazar_catalog_inputs),
    output:
        "results/{source}/catalogs/blazars.parquet",
    params:
        prepare=config["prepare"],
    log:
        "logs/{source}/blazar_catalog.log",
    message:
        "Merging Roma-BZCAT 5 and 4LAC into one blazar catalogue ({wildcards.source} data)"
    conda:
        "../../envs/deweight.yaml"
    script:
        "../scripts/blazar_catalog.py"


rule prepare_task:
    input:
        unpack(task_inputs),
    output:
        catalog="results/{source}/catalogs/{task}.parquet",
        cutflow="results/{source}/tables/cutflow_{task}.csv",
    params:
        prepare=config["prepare"],
        seed=config["seed"],
    log:
        "logs/{source}/prepare_{task}.log",
    message:
        "Cutting, labelling and splitting the {wildcards.task} task ({wildcards.source} data)"
    conda:
        "../../envs/deweight.yaml"
    script:
        "../scripts/prepare_task.py"


rule class_table:
    input:
        lambda wc: "results/{source}/catalogs/{task}.parquet".format(
            source=wc.source, task={"table3": "sga", "table4": "blazar"}[wc.table]
        ),
    output:
        "results/{source}/tables/{table}.csv",
    wildcard_constraints:
        table="table3|table4",
    log:
        "logs/{source}/{table}.log",
    message:
        "Counting classes per split: {wildcards.table} ({wildcards.source} data)"
    conda:
        "../../envs/deweight.yaml"
    script:
        "../scripts/class_table.py"
