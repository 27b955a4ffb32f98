"""Cut, label and split one real-data task (Sects. 3.3-3.4) for the configured data source."""

from pathlib import Path

import pandas as pd

from deweight import catalog
from deweight._workflow import run_logged
from deweight.experiments import write_csv_atomic, write_parquet_atomic

# Which library function prepares which task from which source.
PREPARERS = {
    ("bundled", "sga"): "sdss_optical_sgq",
    ("bundled", "blazar"): "sdss_optical_blazar",
    ("archive", "sga"): "star_galaxy_agn",
    ("archive", "blazar"): "blazar",
}


def main(smk):
    source, task = smk.wildcards.source, smk.wildcards.task
    config = dict(smk.params.prepare, split_seed=smk.params.seed)
    inputs = smk.input
    if source == "bundled":
        # A truncated or edited copy of the bundled survey files stops the run here.
        catalog.verify_bundled(Path(inputs.sdss).parent)
    if source == "bundled" and task == "sga":
        table, cutflow = catalog.prepare_bundled_star_galaxy_qso(inputs.sdss, config=config)
    elif source == "bundled":
        blazars = pd.read_parquet(inputs.blazars)
        table, cutflow = catalog.prepare_bundled_blazar_task(
            inputs.sdss, inputs.bzcat, blazars, config=config
        )
    elif task == "sga":
        table, cutflow = catalog.prepare_star_galaxy_agn(
            pd.read_parquet(inputs.spec),
            pd.read_parquet(inputs.wise),
            pd.read_parquet(inputs.twomass),
            config=config,
        )
    else:
        table, cutflow = catalog.prepare_blazar_task(
            pd.read_parquet(inputs.spec),
            pd.read_parquet(inputs.wise),
            pd.read_parquet(inputs.photo),
            pd.read_parquet(inputs.blazars),
            config=config,
        )
    description = catalog.TASKS[PREPARERS[(source, task)]]
    metadata = {
        "task": task,
        "data_source": source,
        "features": list(description["features"]),
        "class_names": list(description["class_names"]),
    }
    write_parquet_atomic(table, smk.output.catalog, metadata)
    write_csv_atomic(cutflow.to_frame(), smk.output.cutflow)


run_logged(main, snakemake)  # noqa: F821
