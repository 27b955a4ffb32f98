# Catalogue preparation (Sects. 3.3-3.4): blazar catalogue, quality cuts, features, labels,
# train/dev/test splits, Tables 3-4 and the cut-flow of each task.


rule blazar_catalog:
    input:
        unpack(blazar_catalog_inputs),
    output:
        results_file("{source}/catalogs/blazars.parquet"),
    log:
        log_file("{source}/blazar_catalog.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        prepare=lambda wc: {
            key: config["prepare"][key]
            for key in (
                "blazar_merge_radius_arcsec",
                "drop_4lac",
                "lac_release",
                "lac_low_latitude",
            )
        },
    message:
        "Merging Roma-BZCAT 5 and 4LAC into one blazar catalogue ({wildcards.source} data)"
    script:
        "../scripts/blazar_catalog.py"


rule prepare_task:
    input:
        unpack(task_inputs),
    output:
        catalog=results_file("{source}/catalogs/{task}.parquet"),
        cutflow=table_report(
            results_file("{source}/tables/cutflow_{task}.csv"),
            "cutflow",
            "2. Real data",
        ),
    log:
        log_file("{source}/prepare_{task}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        prepare=config["prepare"],
        seed=config["seed"],
    message:
        "Cutting, labelling and splitting the {wildcards.task} task ({wildcards.source} data)"
    script:
        "../scripts/prepare_task.py"


# The class-count table of each task (Tables 3-4); the task is looked up in deweight.registry
# from the table's name (the {split_table} wildcard).


rule class_table:
    input:
        task_output(rules.prepare_task.output.catalog, "split_table"),
    output:
        table_report(
            results_file("{source}/tables/{split_table}.csv"),
            "class_table",
            "2. Real data",
        ),
    log:
        log_file("{source}/{split_table}.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        **output_params("split_table"),
    message:
        "{params.output_title}: class counts per split of the {params.title} task ({wildcards.source} data)"
    script:
        "../scripts/class_table.py"
