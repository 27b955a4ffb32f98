"""Snakemake adapter: nearest AllWISE match of each SDSS spectrum -> allwise.parquet."""

from deweight.archive import acquire_allwise
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_allwise(
            smk.input.positions,
            smk.params.allwise,
            smk.output.table,
            network=network_settings(smk.config),
            provenance_output=smk.output.provenance,
        )


main(snakemake)
