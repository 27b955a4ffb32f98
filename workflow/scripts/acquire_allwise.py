"""Snakemake adapter: nearest AllWISE match of each SDSS spectrum -> allwise.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_allwise


def main(smk):
    acquire_allwise(
        smk.input.positions,
        smk.params.allwise,
        smk.output.table,
        network=network_settings(smk.config),
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
