# The simulation of Sect. 3.2 (Tables 1-2).


rule simulate_data:
    output:
        train=results_file("simulation/data/train.parquet"),
        biased=results_file("simulation/data/biased.parquet"),
        test=results_file("simulation/data/test.parquet"),
        table1=table_report(
            results_file("simulation/tables/table1.csv"), "table1", "1. Simulation"
        ),
        table2=table_report(
            results_file("simulation/tables/table2.csv"), "table2", "1. Simulation"
        ),
    log:
        log_file("simulation/simulate_data.log"),
    conda:
        "../../envs/deweight.yaml"
    params:
        seed=config["seed"],
        n_train=config["simulation"]["n_train"],
        n_biased=config["simulation"]["n_biased"],
        n_test=config["simulation"]["n_test"],
    message:
        "Drawing the simulated training, biased and test sets (Tables 1-2)"
    script:
        "../scripts/simulate_data.py"
