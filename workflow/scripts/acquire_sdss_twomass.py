"""Snakemake adapter: SDSS DR16 TwoMass (joined on bestObjID) -> sdss_twomass.parquet."""

from deweight.archive import acquire_sdss_table
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_sdss_table(
            "twomass",
            smk.params.common,
            smk.params.table,
            smk.output.table,
            network=network_settings(smk.config),
            specobj_table=smk.params.specobj_table,
            provenance_output=smk.output.provenance,
        )


main(snakemake)
