"""Draw the simulated data sets of Sect. 3.2 and write Tables 1 and 2."""

import pandas as pd

from deweight import registry, simulate
from deweight._files import write_csv_atomic, write_parquet_atomic
from deweight._workflow import run_logged


def main(smk):
    p = smk.params
    datasets = simulate.draw_datasets(
        seed=p.seed, n_train=p.n_train, n_biased=p.n_biased, n_test=p.n_test
    )
    for name, (X, y) in datasets.items():
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        frame["label"] = y
        metadata = {
            "data_source": "simulation",
            "set": name,
            "seed": p.seed,
            "features": list(frame.columns[:-1]),
            "class_names": list(registry.SIMULATION_CLASS_NAMES),
        }
        write_parquet_atomic(frame, getattr(smk.output, name), metadata)
    write_csv_atomic(simulate.table1(), smk.output.table1)
    write_csv_atomic(simulate.table2(datasets), smk.output.table2)


run_logged(main, snakemake)  # noqa: F821
