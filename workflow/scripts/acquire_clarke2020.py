"""Snakemake adapter: Clarke et al. (2020) catalogue from Zenodo -> clarke2020.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_clarke2020


def main(smk):
    acquire_clarke2020(
        smk.params.clarke2020,
        smk.output.table,
        network=network_settings(smk.config),
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
