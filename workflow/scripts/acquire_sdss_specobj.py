"""Snakemake adapter: SDSS DR16 SpecObj -> resources/archive/sdss_specobj.parquet."""

from deweight.archive import acquire_sdss_table
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_sdss_table(
            "specobj",
            smk.params.common,
            smk.params.table,
            smk.output.table,
            network=network_settings(smk.config),
            provenance_output=smk.output.provenance,
        )


main(snakemake)
