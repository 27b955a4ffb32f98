"""Cut, label and split one real-data task (Sects. 3.3-3.4) for the configured data source."""

from pathlib import Path

from deweight import catalog, registry
from deweight._files import write_csv_atomic, write_parquet_atomic
from deweight._workflow import run_logged


def main(smk):
    source, task = smk.wildcards.source, smk.wildcards.task
    entry = registry.spec(source, task)
    config = dict(smk.params.prepare, split_seed=smk.params.seed)
    paths = {role: smk.input[role] for role in entry.inputs}
    if source == "bundled":
        # A truncated or edited copy of the bundled survey files stops the run here.
        catalog.verify_bundled(Path(paths["sdss"]).parent)
    table, cutflow = catalog.prepare(entry, paths, config)
    metadata = {
        "task": task,
        "data_source": source,
        "features": list(entry.features),
        "class_names": list(entry.class_names),
    }
    write_parquet_atomic(table, smk.output.catalog, metadata)
    write_csv_atomic(cutflow.to_frame(), smk.output.cutflow)


run_logged(main, snakemake)  # noqa: F821
