"""Snakemake adapter: SDSS DR16 SpecObj -> resources/archive/sdss_specobj.parquet."""

from deweight._workflow import network_settings, run_logged
from deweight.archive import acquire_sdss_table


def main(smk):
    acquire_sdss_table(
        "specobj",
        smk.params.common,
        smk.params.table,
        smk.output.table,
        network=network_settings(smk.config),
        provenance_output=smk.output.provenance,
    )


run_logged(main, snakemake)  # noqa: F821
