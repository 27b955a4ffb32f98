"""Snakemake adapter: Clarke et al. (2020) catalogue from Zenodo -> clarke2020.parquet."""

from deweight.archive import acquire_clarke2020
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_clarke2020(
            smk.params.clarke2020,
            smk.output.table,
            network=network_settings(smk.config),
            provenance_output=smk.output.provenance,
        )


main(snakemake)
