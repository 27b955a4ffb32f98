"""Snakemake adapter: SDSS DR16 PhotoObj (joined on bestObjID) -> sdss_photoobj.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_sdss_table


def main(smk):
    acquire_sdss_table(
        "photoobj",
        smk.params.common,
        smk.params.table,
        smk.output.table,
        network=network_settings(smk.config),
        specobj_table=smk.params.specobj_table,
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
