"""Snakemake adapter: SDSS DR16 PhotoObj (joined on bestObjID) -> sdss_photoobj.parquet."""

from deweight.archive import acquire_sdss_table
from deweight.archive.workflow import logged_to, network_settings


def main(smk):
    with logged_to(smk.log[0]):
        acquire_sdss_table(
            "photoobj",
            smk.params.common,
            smk.params.table,
            smk.output.table,
            network=network_settings(smk.config),
            specobj_table=smk.params.specobj_table,
            provenance_output=smk.output.provenance,
        )


main(snakemake)
