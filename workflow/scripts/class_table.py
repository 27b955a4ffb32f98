"""Tables 3 and 4: class counts and fractions per split, totals computed from the rows."""

from deweight import catalog
from deweight._files import read_parquet_with_metadata, write_csv_atomic
from deweight._workflow import run_logged


def main(smk):
    frame, metadata = read_parquet_with_metadata(smk.input[0])
    table = catalog.class_split_table(frame["label"], frame["split"], metadata["class_names"])
    table.insert(0, "data_source", metadata.get("data_source", "unknown"))
    write_csv_atomic(table, smk.output[0])


run_logged(main, snakemake)  # noqa: F821
